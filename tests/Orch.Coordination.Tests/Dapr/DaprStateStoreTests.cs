using System.Text;
using System.Text.Json;
using Dapr.Client.Autogen.Grpc.v1;
using Google.Protobuf;
using Grpc.Core;
using Orch.Coordination.Dapr;
using Orch.Coordination.Tests.Conformance;

namespace Orch.Coordination.Tests.Dapr;

/// <summary>The state store kit against a Dapr sidecar, plus what the etag mapping must get right.</summary>
public abstract class DaprStateStoreTests : StateStoreConformance
{
    private DaprSidecar? _sidecar;

    protected DaprSidecar Sidecar => _sidecar ?? throw new InvalidOperationException("used before InitializeAsync");

    protected abstract Task<DaprSidecar> StartSidecarAsync();

    protected override IStateStore CreateStore() => NewStore();

    protected DaprStateStore NewStore(int shards = DaprStateStore.DefaultIndexShards) =>
        new(Sidecar.Client, DaprSidecar.StateStoreName, Sidecar.Prefix, shards);

    public override async ValueTask InitializeAsync()
    {
        _sidecar = await StartSidecarAsync();
        await base.InitializeAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (_sidecar is not null) await _sidecar.DisposeAsync();
    }

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sidecar_SaveWithAStaleEtag_AnswersAborted()
    {
        var key = Sidecar.Prefix + "/raw";
        var dapr = Sidecar.Client;
        await dapr.SaveStateAsync(Save(key, "one", null), cancellationToken: Ct);
        var first = (await dapr.GetStateAsync(new GetStateRequest { StoreName = DaprSidecar.StateStoreName, Key = key }, cancellationToken: Ct)).Etag;
        await dapr.SaveStateAsync(Save(key, "two", first), cancellationToken: Ct);

        var error = await Assert.ThrowsAsync<RpcException>(() => dapr.SaveStateAsync(Save(key, "stale", first), cancellationToken: Ct).ResponseAsync);

        Assert.Equal(StatusCode.Aborted, error.StatusCode);
        Assert.Equal("two", (await dapr.GetStateAsync(new GetStateRequest { StoreName = DaprSidecar.StateStoreName, Key = key }, cancellationToken: Ct)).Data.ToStringUtf8());
    }

    [Fact]
    public async Task TwoStoreInstances_ShareValuesVersionsAndListings()
    {
        var other = NewStore();
        Assert.Equal(1, await Store.TrySetAsync(Key("shared"), "a"u8.ToArray(), 0, Ct));
        Assert.Equal(2, await other.TrySetAsync(Key("shared"), "b"u8.ToArray(), 1, Ct));
        Assert.Null(await Store.TrySetAsync(Key("shared"), "stale"u8.ToArray(), 1, Ct));

        var value = await Store.GetAsync(Key("shared"), Ct);
        Assert.Equal("b", Encoding.UTF8.GetString(value!.Value));
        Assert.Equal(2, value.Version);
        Assert.Equal([Key("shared")], await other.ListKeysAsync(Key(""), Ct));
    }

    [Fact]
    public async Task ListKeys_WithASingleIndexEntry_StillListsEveryKeyInOrder()
    {
        var single = NewStore(shards: 1);
        foreach (var name in new[] { "c", "a", "b" }) await single.TrySetAsync(Key("one-shard/" + name), "x"u8.ToArray(), 0, Ct);
        await single.DeleteAsync(Key("one-shard/b"), Ct);

        Assert.Equal([Key("one-shard/a"), Key("one-shard/c")], await single.ListKeysAsync(Key("one-shard/"), Ct));
    }

    [Fact]
    public async Task TrySet_ConcurrentCreatesOfDifferentKeys_AllListed()
    {
        var names = Enumerable.Range(0, 40).Select(i => $"many/{i:D2}").ToList();
        await Task.WhenAll(names.Select(n => Task.Run(async () => await Store.TrySetAsync(Key(n), "x"u8.ToArray(), 0, Ct), Ct))).Within();

        Assert.Equal(names.Select(Key), await Store.ListKeysAsync(Key("many/"), Ct));
    }

    private static SaveStateRequest Save(string key, string value, string? etag)
    {
        var item = new StateItem
        {
            Key = key,
            Value = ByteString.CopyFromUtf8(value),
            Options = new StateOptions { Concurrency = StateOptions.Types.StateConcurrency.ConcurrencyFirstWrite },
        };
        if (etag is not null) item.Etag = new Etag { Value = etag };
        var request = new SaveStateRequest { StoreName = DaprSidecar.StateStoreName };
        request.States.Add(item);
        return request;
    }

    /// <summary>The envelope the store keeps, as another writer of the same key would write it.</summary>
    protected static byte[] Envelope(long version, string value) =>
        JsonSerializer.SerializeToUtf8Bytes(new { v = version, d = Encoding.UTF8.GetBytes(value) });
}

/// <summary>Against the stand-in, which can also change a key between the store's read and its save.</summary>
public sealed class StandInDaprStateStoreTests : DaprStateStoreTests
{
    protected override Task<DaprSidecar> StartSidecarAsync() => StandInDaprSidecar.StartAsync();

    private Orch.Dapr.StandIn.StandInSidecar StandIn => Sidecar.StandIn!;

    private string StateKey(string name) => $"{Sidecar.Prefix}/data/{Key(name)}";

    /// <summary>Has another writer store version 2 right before the first save of <paramref name="name"/>.</summary>
    private void InterveneOnce(string name)
    {
        var done = 0;
        StandIn.BeforeSave = key =>
        {
            if (key == StateKey(name) && Interlocked.Exchange(ref done, 1) == 0) StandIn.Overwrite(key, Envelope(2, "theirs"));
        };
    }

    [Fact]
    public async Task TrySet_EtagMismatchAtSave_IsAFailedCompareAndSetNotAnException()
    {
        Assert.Equal(1, await Store.TrySetAsync(Key("raced"), "first"u8.ToArray(), 0, Ct));
        InterveneOnce("raced");

        Assert.Null(await Store.TrySetAsync(Key("raced"), "mine"u8.ToArray(), 1, Ct));

        var value = await Store.GetAsync(Key("raced"), Ct);
        Assert.Equal("theirs", Encoding.UTF8.GetString(value!.Value));
        Assert.Equal(2, value.Version);
    }

    [Fact]
    public async Task TrySet_UnconditionalWriteThatLosesARace_TriesAgainOnTheNewVersion()
    {
        await Store.TrySetAsync(Key("raced"), "first"u8.ToArray(), 0, Ct);
        InterveneOnce("raced");

        Assert.Equal(3, await Store.TrySetAsync(Key("raced"), "mine"u8.ToArray(), null, Ct));
        Assert.Equal("mine", Encoding.UTF8.GetString((await Store.GetAsync(Key("raced"), Ct))!.Value));
    }

    [Fact]
    public async Task CreateAndDelete_KeepTheIndexEntryInStep()
    {
        await Store.TrySetAsync(Key("indexed"), "x"u8.ToArray(), 0, Ct);
        var index = Assert.Single(StandIn.StateKeys(), k => k.StartsWith(Sidecar.Prefix + "/index/", StringComparison.Ordinal));
        Assert.Contains(Key("indexed"), JsonSerializer.Deserialize<List<string>>(StandIn.Text(index)!)!);

        await Store.DeleteAsync(Key("indexed"), Ct);

        Assert.Null(StandIn.Text(StateKey("indexed")));
        Assert.DoesNotContain(Key("indexed"), JsonSerializer.Deserialize<List<string>>(StandIn.Text(index)!)!);
    }

    [Fact]
    public async Task ListKeys_IndexNamingAKeyThatIsGone_LeavesItOut()
    {
        await Store.TrySetAsync(Key("half-deleted"), "x"u8.ToArray(), 0, Ct);
        await Store.TrySetAsync(Key("kept"), "x"u8.ToArray(), 0, Ct);
        // As a delete that stopped before it reached the index leaves things.
        StandIn.Remove(StateKey("half-deleted"));

        Assert.Equal([Key("kept")], await Store.ListKeysAsync(Key(""), Ct));
        Assert.Equal(1, await Store.TrySetAsync(Key("half-deleted"), "again"u8.ToArray(), 0, Ct));
        Assert.Equal([Key("half-deleted"), Key("kept")], await Store.ListKeysAsync(Key(""), Ct));
    }

    [Fact]
    public async Task Sidecar_TransactionWithOneStaleEtag_ChangesNothing()
    {
        var dapr = Sidecar.Client;
        var a = Sidecar.Prefix + "/tx-a";
        var b = Sidecar.Prefix + "/tx-b";
        StandIn.Overwrite(a, "a1"u8.ToArray());
        StandIn.Overwrite(b, "b1"u8.ToArray());
        var request = new ExecuteStateTransactionRequest { StoreName = DaprSidecar.StateStoreName };
        request.Operations.Add(new TransactionalStateOperation { OperationType = "upsert", Request = new StateItem { Key = a, Value = ByteString.CopyFromUtf8("a2"), Etag = new Etag { Value = "1" } } });
        request.Operations.Add(new TransactionalStateOperation { OperationType = "delete", Request = new StateItem { Key = b, Etag = new Etag { Value = "7" } } });

        await Assert.ThrowsAsync<RpcException>(() => dapr.ExecuteStateTransactionAsync(request, cancellationToken: Ct).ResponseAsync);

        Assert.Equal("a1", StandIn.Text(a));
        Assert.Equal("b1", StandIn.Text(b));
    }
}

/// <summary>Against a real daprd with a Redis state store; skipped when daprd is not on PATH.</summary>
public sealed class DaprdStateStoreTests : DaprStateStoreTests
{
    protected override Task<DaprSidecar> StartSidecarAsync() => RealDaprSidecar.StartAsync();
}
