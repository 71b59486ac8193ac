using Orch.Coordination.Embedded;
using Orch.Coordination.Redis;
using Orch.Coordination.Signing;
using Orch.Coordination.Tests.Conformance;
using Orch.Coordination.Tests.Redis;

namespace Orch.Coordination.Tests.Signing;

/// <summary>What the signing decorator refuses to deliver, and what it does with it.</summary>
public sealed class SignedMessageBusTests
{
    private static readonly ClusterKey Key = ClusterKey.Generate();
    private static readonly ClusterKey OtherKey = ClusterKey.Generate();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class Setup
    {
        public AckCountingBus Inner { get; } = new(new EmbeddedMessageBus());
        public ListLogger Log { get; } = new();
        public SignedMessageBus Bus { get; }

        public Setup() => Bus = new SignedMessageBus(Inner, Key, Log);
    }

    private static async Task AssertNothingDelivered(IMessageSubscription<Ping> subscription)
    {
        using var quiet = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        quiet.CancelAfter(Async.Quiet);
        try
        {
            var extra = await subscription.ReadAsync(quiet.Token);
            Assert.Fail($"delivered {extra.Message}");
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
        }
    }

    [Fact]
    public async Task Publish_SameKey_DeliversTheMessage()
    {
        var s = new Setup();
        await using var subscription = await s.Bus.SubscribeAsync<Ping>("t", "g", Ct);

        await s.Bus.PublishAsync("t", new Ping(1, "hello"), Ct);

        Assert.Equal(new Ping(1, "hello"), (await subscription.ReadAsync(Ct).Within()).Message);
        Assert.Equal(0, s.Bus.Rejected);
        Assert.Empty(s.Log.Entries);
    }

    [Fact]
    public async Task Publish_PutsOnlyAnEnvelopeOnTheInnerBus()
    {
        var s = new Setup();
        await using var raw = await s.Inner.SubscribeAsync<SignedEnvelope>("t", "raw", Ct);

        await s.Bus.PublishAsync("t", new Ping(1, "hello"), Ct);

        var envelope = (await raw.ReadAsync(Ct).Within()).Message;
        Assert.Equal(SignedEnvelope.CurrentVersion, envelope.Version);
        Assert.Equal(Key.Id, envelope.KeyId);
        Assert.Contains("hello", envelope.Payload, StringComparison.Ordinal);
        Assert.Equal(32, Convert.FromBase64String(envelope.Mac!).Length);
    }

    [Fact]
    public async Task Read_EnvelopeWithoutSignature_IsDroppedAcknowledgedCountedAndLogged()
    {
        var s = new Setup();
        await using var subscription = await s.Bus.SubscribeAsync<Ping>("orch.tasks", "agents", Ct);

        await s.Inner.PublishAsync("orch.tasks", new SignedEnvelope(1, """{"Number":1,"Text":"forged"}""", null, null), Ct);

        await AssertNothingDelivered(subscription);
        Assert.Equal(1, s.Bus.Rejected);
        Assert.Equal(1, s.Inner.Acks);
        var (level, text) = Assert.Single(s.Log.Entries);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, level);
        Assert.Contains("orch.tasks", text, StringComparison.Ordinal);
        Assert.Contains("not a signed message", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Read_SignedWithAnotherKey_IsDroppedAndTheLogNamesTheKeyIdsButNoSecret()
    {
        var s = new Setup();
        var stranger = new SignedMessageBus(s.Inner, OtherKey);
        await using var subscription = await s.Bus.SubscribeAsync<Ping>("t", "g", Ct);

        await stranger.PublishAsync("t", new Ping(1, "from elsewhere"), Ct);

        await AssertNothingDelivered(subscription);
        Assert.Equal(1, s.Bus.Rejected);
        Assert.Equal(1, s.Inner.Acks);
        Assert.Contains("another cluster key", s.Log.Text, StringComparison.Ordinal);
        Assert.Contains(OtherKey.Id, s.Log.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("from elsewhere", s.Log.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Read_TamperedPayload_IsDropped()
    {
        var s = new Setup();
        await using var subscription = await s.Bus.SubscribeAsync<Ping>("t", "g", Ct);
        var sealedEnvelope = s.Bus.Seal("t", new Ping(1, "echo hi"));
        var tampered = sealedEnvelope with { Payload = sealedEnvelope.Payload!.Replace("echo hi", "rm -rf", StringComparison.Ordinal) };
        Assert.NotEqual(sealedEnvelope.Payload, tampered.Payload);

        await s.Inner.PublishAsync("t", tampered, Ct);

        await AssertNothingDelivered(subscription);
        Assert.Equal(1, s.Bus.Rejected);
        Assert.Equal(1, s.Inner.Acks);
        Assert.Contains("signature does not match", s.Log.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Read_TamperedSignature_IsDropped()
    {
        var s = new Setup();
        await using var subscription = await s.Bus.SubscribeAsync<Ping>("t", "g", Ct);
        var sealedEnvelope = s.Bus.Seal("t", new Ping(1, "x"));
        var mac = Convert.FromBase64String(sealedEnvelope.Mac!);
        mac[0] ^= 1;

        await s.Inner.PublishAsync("t", sealedEnvelope with { Mac = Convert.ToBase64String(mac) }, Ct);
        await s.Inner.PublishAsync("t", sealedEnvelope with { Mac = "not base64!" }, Ct);

        await AssertNothingDelivered(subscription);
        Assert.Equal(2, s.Bus.Rejected);
        Assert.Equal(2, s.Inner.Acks);
    }

    [Fact]
    public async Task Read_MessageSignedForAnotherTopic_IsDropped()
    {
        var s = new Setup();
        await using var results = await s.Bus.SubscribeAsync<Ping>("results", "g", Ct);

        await s.Inner.PublishAsync("results", s.Bus.Seal("tasks", new Ping(1, "moved")), Ct);

        await AssertNothingDelivered(results);
        Assert.Equal(1, s.Bus.Rejected);
        Assert.Contains("results", s.Log.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Read_SignedPayloadOfAnotherShape_IsDropped()
    {
        var s = new Setup();
        await using var subscription = await s.Bus.SubscribeAsync<Ping>("t", "g", Ct);

        await s.Bus.PublishAsync("t", new[] { 1, 2, 3 }, Ct);

        await AssertNothingDelivered(subscription);
        Assert.Equal(1, s.Bus.Rejected);
        Assert.Contains("not a Ping", s.Log.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadAsync_AfterRejectedMessages_GoesOnToTheNextGoodOne()
    {
        var s = new Setup();
        await using var subscription = await s.Bus.SubscribeAsync<Ping>("t", "g", Ct);
        var read = subscription.ReadAsync(Ct).AsTask();

        await s.Inner.PublishAsync("t", new SignedEnvelope(1, "{}", null, null), Ct);
        await s.Inner.PublishAsync("t", s.Bus.Seal("other", new Ping(1, "wrong topic")), Ct);
        await Async.AssertStillWaiting(read, "a rejected message ended the read");
        await s.Bus.PublishAsync("t", new Ping(2, "good"), Ct);

        Assert.Equal(new Ping(2, "good"), (await read.Within()).Message);
        Assert.Equal(2, s.Bus.Rejected);
        Assert.Equal(2, s.Inner.Acks);
    }

    [Fact]
    public async Task TryRead_SkipsRejectedMessagesAndReturnsFalseWhenOnlyThoseWereReady()
    {
        var s = new Setup();
        await using var subscription = await s.Bus.SubscribeAsync<Ping>("t", "g", Ct);

        await s.Inner.PublishAsync("t", new SignedEnvelope(1, "{}", null, null), Ct);
        Assert.False(subscription.TryRead(out _));
        Assert.Equal(1, s.Inner.Acks);

        await s.Inner.PublishAsync("t", new SignedEnvelope(1, "{}", null, null), Ct);
        await s.Bus.PublishAsync("t", new Ping(3, "good"), Ct);
        Assert.True(subscription.TryRead(out var delivery));
        Assert.Equal(new Ping(3, "good"), delivery.Message);
        Assert.Equal(2, s.Bus.Rejected);
        Assert.Equal(2, s.Inner.Acks);
        Assert.False(subscription.TryRead(out _));
    }

    [Fact]
    public async Task WithSigning_SignsTheBusScopesTheAgentsToTheKeyAndKeepsTheOtherPorts()
    {
        await using var inner = new EmbeddedBackend(null);

        var signed = inner.WithSigning(Key);

        Assert.Same(inner.Bus, signed.Bus.Inner);
        Assert.Same(inner.State, signed.State);
        Assert.Same(inner.Locks, signed.Locks);
        Assert.Equal(Key.Id, signed.Agents.KeyId);
        Assert.Equal(inner.Name, signed.Name);
        await using var subscription = await ((ICoordinationBackend)signed).Bus.SubscribeAsync<Ping>("t", "g", Ct);
        await inner.Bus.PublishAsync("t", new SignedEnvelope(1, "{}", null, null), Ct);
        await AssertNothingDelivered(subscription);
        Assert.Equal(1, signed.Bus.Rejected);
    }

    [Fact]
    public async Task Redis_UnsignedMessagesWrittenStraightToTheStream_AreDroppedAndAcknowledged()
    {
        await using var redis = await RedisTestConnection.StartAsync();
        var inner = new RedisMessageBus(redis.Database, redis.Prefix);
        var log = new ListLogger();
        var bus = new SignedMessageBus(inner, Key, log);
        await using var subscription = await bus.SubscribeAsync<Ping>("orch.tasks", "agents", Ct);

        await inner.PublishAsync("orch.tasks", new Ping(1, "unsigned"), Ct);
        await inner.PublishAsync("orch.tasks", "just a string", Ct);
        await new SignedMessageBus(inner, OtherKey).PublishAsync("orch.tasks", new Ping(2, "other key"), Ct);
        await bus.PublishAsync("orch.tasks", new Ping(3, "good"), Ct);

        var delivery = await subscription.ReadAsync(Ct).Within();
        Assert.Equal(new Ping(3, "good"), delivery.Message);
        await delivery.AckAsync();
        await AssertNothingDelivered(subscription);
        Assert.Equal(3, bus.Rejected);
        var pending = await redis.Database.StreamPendingAsync($"{redis.Prefix}:bus:orch.tasks", "agents");
        Assert.Equal(0, pending.PendingMessageCount);
        Assert.Equal(3, log.Entries.Count(e => e.Text.Contains("orch.tasks", StringComparison.Ordinal)));
    }
}
