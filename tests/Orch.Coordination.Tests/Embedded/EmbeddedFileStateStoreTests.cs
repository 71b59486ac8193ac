using System.Text;
using Orch.Coordination.Embedded;
using Orch.Coordination.Tests.Conformance;

namespace Orch.Coordination.Tests.Embedded;

/// <summary>The embedded store written through to a directory: the whole kit, plus reading back from disk.</summary>
public sealed class EmbeddedFileStateStoreTests : StateStoreConformance
{
    private readonly string _directory = Directory.CreateTempSubdirectory("orch-state-").FullName;

    protected override IStateStore CreateStore() => new EmbeddedStateStore(_directory);

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Reopen_SameDirectory_SeesValuesAndKeysWrittenBefore()
    {
        await Store.TrySetAsync(Key("runs/r1/state.json"), Encoding.UTF8.GetBytes("{}"), null, Ct);

        var reopened = new EmbeddedStateStore(_directory);

        var value = await reopened.GetAsync(Key("runs/r1/state.json"), Ct);
        Assert.Equal("{}", Encoding.UTF8.GetString(value!.Value));
        Assert.Equal([Key("runs/r1/state.json")], await reopened.ListKeysAsync(Key("runs/"), Ct));
        Assert.Null(await reopened.TrySetAsync(Key("runs/r1/state.json"), new byte[] { 1 }, 0, Ct));
    }

    [Fact]
    public async Task Delete_RemovesTheFileToo()
    {
        await Store.TrySetAsync(Key("gone"), new byte[] { 1, 2, 3 }, null, Ct);
        await Store.DeleteAsync(Key("gone"), Ct);

        Assert.Null(await new EmbeddedStateStore(_directory).GetAsync(Key("gone"), Ct));
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("/absolute")]
    public async Task TrySet_KeyOutsideTheDirectory_IsRejected(string key)
    {
        await Assert.ThrowsAsync<ArgumentException>(() => Store.TrySetAsync(key, new byte[] { 1 }, null, Ct).AsTask());
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(_directory)!, "escape"));
    }
}
