using Orch.Coordination.Redis;
using Orch.Coordination.Tests.Redis;

namespace Orch.Coordination.Tests.Artifacts;

/// <summary>The artifact kit against a real Redis server.</summary>
public sealed class RedisArtifactStoreTests : ArtifactStoreConformance
{
    private RedisTestConnection? _redis;

    private RedisTestConnection Redis => _redis ?? throw new InvalidOperationException("used before InitializeAsync");

    protected override IStateStore CreateState() => new RedisStateStore(Redis.Database, Redis.Prefix);

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
}
