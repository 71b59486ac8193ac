using Dapr.Client.Autogen.Grpc.v1;
using Google.Protobuf;
using Orch.Coordination.Dapr;
using Orch.Coordination.Tests.Conformance;

namespace Orch.Coordination.Tests.Dapr;

/// <summary>The message bus kit against a Dapr sidecar.</summary>
public abstract class DaprMessageBusTests : MessageBusConformance
{
    private DaprSidecar? _sidecar;

    protected DaprSidecar Sidecar => _sidecar ?? throw new InvalidOperationException("used before InitializeAsync");

    protected abstract Task<DaprSidecar> StartSidecarAsync();

    protected override IMessageBus CreateBus() =>
        new DaprMessageBus(Sidecar.Client, DaprSidecar.PubSubName, new DaprStateStore(Sidecar.Client, DaprSidecar.StateStoreName, Sidecar.Prefix + "-bus"));

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
}

/// <summary>Against the stand-in, which also shows what the sidecar still holds.</summary>
public sealed class StandInDaprMessageBusTests : DaprMessageBusTests
{
    protected override Task<DaprSidecar> StartSidecarAsync() => StandInDaprSidecar.StartAsync();

    [Fact]
    public async Task Read_UnreadableEvent_IsDroppedAndTheNextOneDelivered()
    {
        var topic = Topic("garbage");
        await using var subscription = await Bus.SubscribeAsync<Ping>(topic, "g", Ct);
        await Sidecar.Client.PublishEventAsync(new PublishEventRequest
        {
            PubsubName = DaprSidecar.PubSubName,
            Topic = DaprMessageBus.GroupTopic(topic, "g"),
            Data = ByteString.CopyFromUtf8("not json"),
            DataContentType = "application/json",
        }, cancellationToken: Ct);
        await Bus.PublishAsync(topic, new Ping(2, "fine"), Ct);

        var delivery = await subscription.ReadAsync(Ct).Within();
        Assert.Equal(new Ping(2, "fine"), delivery.Message);
        await delivery.AckAsync();

        var deadline = DateTime.UtcNow + Async.Patience;
        while (Sidecar.StandIn!.Unacknowledged(DaprMessageBus.GroupTopic(topic, "g")) != 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the sidecar still holds events that were answered");
            await Task.Delay(5, Ct);
        }
    }

    [Fact]
    public async Task Publish_GoesOnceToEachRecordedGroupsDaprTopic()
    {
        var topic = Topic("fan-out");
        await using var a = await Bus.SubscribeAsync<Ping>(topic, "a", Ct);
        await using var b = await Bus.SubscribeAsync<Ping>(topic, "b", Ct);
        await Bus.PublishAsync(topic, new Ping(1, "x"), Ct);

        await (await a.ReadAsync(Ct).Within()).AckAsync();
        Assert.Equal(1, Sidecar.StandIn!.Unacknowledged(DaprMessageBus.GroupTopic(topic, "b")));
        Assert.Equal(0, Sidecar.StandIn.Unacknowledged(topic));
        await (await b.ReadAsync(Ct).Within()).AckAsync();
    }
}

/// <summary>Against a real daprd with Redis Streams pub/sub; skipped when daprd is not on PATH.</summary>
public sealed class DaprdMessageBusTests : DaprMessageBusTests
{
    protected override Task<DaprSidecar> StartSidecarAsync() => RealDaprSidecar.StartAsync();
}
