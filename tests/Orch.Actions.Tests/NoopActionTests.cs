using Orch.Actions;

namespace Orch.Actions.Tests;

public class NoopActionTests
{
    [Fact]
    public async Task DefaultRegistry_HasNoop_WhichSucceedsWithoutOutputs()
    {
        var registry = ActionRegistry.CreateDefault();
        Assert.True(registry.TryGet("noop", out var noop));
        var result = await noop.ExecuteAsync(new ActionContext { With = new Dictionary<string, object?>(), WorkingDirectory = "/", ArtifactDirectory = "/" }, TestContext.Current.CancellationToken);
        Assert.Empty(result.Outputs);
    }
}
