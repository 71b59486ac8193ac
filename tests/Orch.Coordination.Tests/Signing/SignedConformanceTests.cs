using Orch.Coordination.Embedded;
using Orch.Coordination.Redis;
using Orch.Coordination.Signing;
using Orch.Coordination.Tests.Conformance;
using Orch.Coordination.Tests.Redis;

namespace Orch.Coordination.Tests.Signing;

/// <summary>The message bus kit through the signing decorator over the in-process bus.</summary>
public sealed class SignedEmbeddedMessageBusTests : MessageBusConformance
{
    protected override IMessageBus CreateBus() => new SignedMessageBus(new EmbeddedMessageBus(), ClusterKey.Generate());
}

/// <summary>The message bus kit through the signing decorator over Redis Streams.</summary>
public sealed class SignedRedisMessageBusTests : MessageBusConformance
{
    private RedisTestConnection? _redis;

    protected override IMessageBus CreateBus() =>
        new SignedMessageBus(new RedisMessageBus(_redis!.Database, _redis.Prefix), ClusterKey.Generate());

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
