using Orch.Coordination.Redis;
using Orch.Coordination.Tests.Conformance;

namespace Orch.Coordination.Tests.Redis;

/// <summary>The agent registry kit against a real Redis server; expiry follows the clock the kit hands over.</summary>
public sealed class RedisAgentRegistryTests : AgentRegistryConformance
{
    private RedisTestConnection? _redis;

    private RedisTestConnection Redis => _redis ?? throw new InvalidOperationException("used before InitializeAsync");

    protected override IAgentRegistry CreateRegistry(TimeProvider time, TimeSpan expiry) => new RedisAgentRegistry(Redis.Database, Redis.Prefix, time, expiry);

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
    public async Task List_RemovesExpiredAgentsFromRedis()
    {
        var agent = new AgentInfo(new Orch.Protocol.AgentId("gone-" + Redis.Prefix), "h", [], 1, "1", 0, Time.GetUtcNow());
        await Registry.HeartbeatAsync(agent, Ct);
        await AdvanceAsync(Expiry + TimeSpan.FromSeconds(1));

        Assert.DoesNotContain(await Registry.ListAsync(Ct), a => a.Id == agent.Id);
        Assert.False(await Redis.Database.HashExistsAsync(Redis.Prefix + ":agents", agent.Id.Value));
    }
}
