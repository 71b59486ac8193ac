using System.Text;
using Orch.Coordination.Redis;
using Orch.Coordination.Tests.Conformance;
using StackExchange.Redis;

namespace Orch.Coordination.Tests.Redis;

/// <summary>The state store kit against a real Redis server, plus what only a shared server can show.</summary>
public sealed class RedisStateStoreTests : StateStoreConformance
{
    private RedisTestConnection? _redis;

    private RedisTestConnection Redis => _redis ?? throw new InvalidOperationException("used before InitializeAsync");

    protected override IStateStore CreateStore() => new RedisStateStore(Redis.Database, Redis.Prefix);

    public override async ValueTask InitializeAsync()
    {
        _redis = await RedisTestConnection.StartAsync();
        await base.InitializeAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (_redis is not null) await _redis.DisposeAsync();
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TrySet_EightClientsOnSeparateConnectionsWithSameExpectedVersion_ExactlyOneWins()
    {
        const int writers = 8;
        var key = Key("cross-client-race");
        var start = await Store.TrySetAsync(key, "start"u8.ToArray(), 0, Ct);
        var connections = new List<ConnectionMultiplexer>();
        try
        {
            for (var i = 0; i < writers; i++) connections.Add(await RedisTestConnection.ConnectAsync(Redis.Server));
            using var go = new Barrier(writers);
            var attempts = connections.Select((connection, i) => Task.Run(async () =>
            {
                var store = new RedisStateStore(connection.GetDatabase(), Redis.Prefix);
                go.SignalAndWait(Ct);
                return (Writer: i, Version: await store.TrySetAsync(key, Encoding.UTF8.GetBytes($"writer-{i}"), start, Ct));
            }, Ct)).ToList();
            var results = await Task.WhenAll(attempts).Within();

            var winner = Assert.Single(results, r => r.Version is not null);
            Assert.Equal(start + 1, winner.Version);
            var value = await Store.GetAsync(key, Ct);
            Assert.Equal($"writer-{winner.Writer}", Encoding.UTF8.GetString(value!.Value));
            Assert.Equal(start + 1, value.Version);
        }
        finally
        {
            foreach (var connection in connections) await connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task Stores_WithDifferentPrefixes_DoNotSeeEachOther()
    {
        var other = new RedisStateStore(Redis.Database, Redis.Prefix + "-other");
        await Store.TrySetAsync(Key("shared-name"), "mine"u8.ToArray(), null, Ct);

        Assert.Null(await other.GetAsync(Key("shared-name"), Ct));
        Assert.Empty(await other.ListKeysAsync(Key(""), Ct));
        Assert.Equal(1, await other.TrySetAsync(Key("shared-name"), "theirs"u8.ToArray(), 0, Ct));
        Assert.Equal("mine", Encoding.UTF8.GetString((await Store.GetAsync(Key("shared-name"), Ct))!.Value));
    }

    [Fact]
    public async Task ListKeys_NonAsciiKeys_InOrdinalOrder()
    {
        foreach (var name in new[] { "é", "z", "日本", "a" })
            await Store.TrySetAsync(Key("u/" + name), new byte[] { 1 }, null, Ct);

        Assert.Equal(new[] { "a", "z", "é", "日本" }.Select(n => Key("u/" + n)), await Store.ListKeysAsync(Key("u/"), Ct));
    }
}
