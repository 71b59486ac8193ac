using Orch.Cli.Tests.Infrastructure;

namespace Orch.Cli.Tests;

/// <summary>orch-agent's command line: its help, and settings it refuses instead of ignoring.</summary>
public sealed class AgentHostTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static async Task<(int Exit, string Output)> RunAgentAsync(params string[] args)
    {
        await using var agent = AgentProcess.Start(args);
        var exit = await agent.WaitForExitAsync(TimeSpan.FromSeconds(30));
        return (exit, agent.Output);
    }

    [Fact]
    public async Task Help_ListsEverySettingAndExits0()
    {
        var (exit, output) = await RunAgentAsync("--help");

        Assert.True(exit == 0, output);
        foreach (var setting in typeof(Orch.AgentHost.AgentHostOptions).GetProperties().Where(p => p.CanWrite))
            Assert.Contains($"Agent:{setting.Name}", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoBackend_Exits2SayingWhatToGive()
    {
        var (exit, output) = await RunAgentAsync();

        Assert.True(exit == 2, output);
        Assert.Contains("Agent:Backend is not set", output, StringComparison.Ordinal);
        Assert.Contains("--Agent:Backend=redis://", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MisspelledSettingAndStrayArgument_Exit2WithASuggestion_AndEveryOtherProblemToo()
    {
        var keyFile = _dir["cluster.key"];
        ClusterKeyFiles.Write(keyFile);

        var (exit, output) = await RunAgentAsync("--Agent:Backend=redis://127.0.0.1:1", $"--Agent:ClusterKeyFile={keyFile}", "--Agent:Slot=4", "--slots", "3", "--Agent:HeartbeatInterval=00:10:00");

        Assert.True(exit == 2, output);
        Assert.Contains("Agent:Slot is not a setting; did you mean Agent:Slots?", output, StringComparison.Ordinal);
        Assert.Contains("unknown argument '--slots'", output, StringComparison.Ordinal);
        Assert.Contains("Agent:HeartbeatInterval is 00:10:00", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }
}
