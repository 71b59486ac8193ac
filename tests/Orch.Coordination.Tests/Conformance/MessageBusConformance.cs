using System.Collections.Concurrent;

namespace Orch.Coordination.Tests.Conformance;

/// <summary>A message type for bus tests; adapters that serialise must round-trip it.</summary>
public sealed record Ping(int Number, string Text);

/// <summary>
/// What every <see cref="IMessageBus"/> adapter must do. Topic names are unique per test, so
/// adapters backed by a shared broker need no cleanup between tests.
/// </summary>
public abstract class MessageBusConformance : IAsyncLifetime
{
    private IMessageBus? _bus;
    private readonly List<IAsyncDisposable> _subscriptions = [];
    private readonly string _scope = "conformance." + Guid.NewGuid().ToString("N")[..12];

    /// <summary>Makes the bus under test.</summary>
    protected abstract IMessageBus CreateBus();

    protected IMessageBus Bus => _bus ?? throw new InvalidOperationException("used before InitializeAsync");

    public virtual ValueTask InitializeAsync()
    {
        _bus = CreateBus(); // made up front: tests touch it from many threads at once
        return ValueTask.CompletedTask;
    }

    public virtual async ValueTask DisposeAsync()
    {
        foreach (var subscription in _subscriptions) await subscription.DisposeAsync();
        switch (_bus)
        {
            case IAsyncDisposable a: await a.DisposeAsync(); break;
            case IDisposable d: d.Dispose(); break;
        }
        GC.SuppressFinalize(this);
    }

    protected string Topic(string name) => $"{_scope}.{name}";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<IMessageSubscription<Ping>> Subscribe(string topic, string group)
    {
        var subscription = await Bus.SubscribeAsync<Ping>(topic, group, Ct);
        _subscriptions.Add(subscription);
        return subscription;
    }

    private async Task Publish(string topic, IEnumerable<int> numbers)
    {
        foreach (var n in numbers) await Bus.PublishAsync(topic, new Ping(n, $"message {n}"), Ct);
    }

    /// <summary>Reads exactly <paramref name="count"/> deliveries, acknowledging each.</summary>
    private static async Task<List<Ping>> Take(IMessageSubscription<Ping> subscription, int count)
    {
        var got = new List<Ping>();
        for (var i = 0; i < count; i++)
        {
            var delivery = await subscription.ReadAsync(Ct).Within();
            got.Add(delivery.Message);
            await delivery.AckAsync();
        }
        return got;
    }

    /// <summary>Asserts nothing more arrives within a short quiet period.</summary>
    private static Task AssertNoMore(IMessageSubscription<Ping> subscription) => AssertNothingWithin(subscription, Async.Quiet);

    [Fact]
    public async Task Publish_OneSubscriber_ReceivesEveryMessageIntact()
    {
        var topic = Topic("single");
        var subscription = await Subscribe(topic, "g");
        await Publish(topic, Enumerable.Range(1, 20));

        var got = await Take(subscription, 20);

        Assert.Equal(Enumerable.Range(1, 20).Select(n => new Ping(n, $"message {n}")), got.OrderBy(p => p.Number));
        await AssertNoMore(subscription);
    }

    [Fact]
    public async Task Subscribe_CompetingConsumersInOneGroup_EachMessageDeliveredOnce()
    {
        const int messages = 300, consumers = 4;
        var topic = Topic("work-queue");
        var subscriptions = new List<IMessageSubscription<Ping>>();
        for (var i = 0; i < consumers; i++) subscriptions.Add(await Subscribe(topic, "workers"));

        var received = new ConcurrentBag<(int Consumer, int Number)>();
        var remaining = messages;
        using var done = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var readers = subscriptions.Select((subscription, consumer) => Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    var delivery = await subscription.ReadAsync(done.Token);
                    received.Add((consumer, delivery.Message.Number));
                    await delivery.AckAsync();
                    if (Interlocked.Decrement(ref remaining) == 0) await done.CancelAsync();
                }
            }
            catch (OperationCanceledException) when (done.IsCancellationRequested)
            {
            }
        }, Ct)).ToList();

        await Publish(topic, Enumerable.Range(0, messages));
        await Task.WhenAll(readers).Within();

        Assert.Equal(Enumerable.Range(0, messages), received.Select(r => r.Number).Order());
        foreach (var subscription in subscriptions) Assert.False(subscription.TryRead(out _), "a message was delivered twice");
    }

    [Fact]
    public async Task Subscribe_IdleConsumerInGroup_DoesNotHoldBackMessagesFromABusyOne()
    {
        var topic = Topic("idle-consumer");
        _ = await Subscribe(topic, "workers"); // joins the group but never reads
        var active = await Subscribe(topic, "workers");
        await Publish(topic, Enumerable.Range(0, 10));

        var got = await Take(active, 10);

        Assert.Equal(Enumerable.Range(0, 10), got.Select(p => p.Number).Order());
    }

    [Fact]
    public async Task Subscribe_SeveralGroups_EveryGroupGetsEveryMessage()
    {
        var topic = Topic("broadcast");
        var groups = new[] { "coordinator", "audit", "agent.1" };
        var subscriptions = new List<IMessageSubscription<Ping>>();
        foreach (var group in groups) subscriptions.Add(await Subscribe(topic, group));

        await Publish(topic, Enumerable.Range(0, 50));

        foreach (var subscription in subscriptions)
        {
            var got = await Take(subscription, 50);
            Assert.Equal(Enumerable.Range(0, 50), got.Select(p => p.Number).Order());
            await AssertNoMore(subscription);
        }
    }

    [Fact]
    public async Task Subscribe_GroupCreatedAfterPublish_DoesNotSeeEarlierMessages()
    {
        var topic = Topic("late-group");
        var early = await Subscribe(topic, "early");
        await Publish(topic, [1]);
        var late = await Subscribe(topic, "late");
        await Publish(topic, [2]);

        Assert.Equal([2], (await Take(late, 1)).Select(p => p.Number));
        await AssertNoMore(late);
        Assert.Equal([1, 2], (await Take(early, 2)).Select(p => p.Number).Order());
    }

    [Fact]
    public async Task Subscribe_GroupOutlivesItsSubscription_NewSubscriberGetsMessagesPublishedMeanwhile()
    {
        var topic = Topic("rejoin");
        var first = await Bus.SubscribeAsync<Ping>(topic, "g", Ct);
        await first.DisposeAsync();
        await Publish(topic, [7]);

        var second = await Subscribe(topic, "g");

        Assert.Equal([7], (await Take(second, 1)).Select(p => p.Number));
    }

    [Fact]
    public async Task Publish_TopicsAreIsolated()
    {
        var a = await Subscribe(Topic("a"), "g");
        var b = await Subscribe(Topic("b"), "g");
        await Publish(Topic("a"), [1]);

        Assert.Equal([1], (await Take(a, 1)).Select(p => p.Number));
        await AssertNoMore(b);
    }

    [Fact]
    public async Task Ack_AcknowledgedMessage_IsNotDeliveredAgain()
    {
        var topic = Topic("ack");
        var subscription = await Subscribe(topic, "g");
        await Publish(topic, [1, 2]);

        var got = await Take(subscription, 2);

        Assert.Equal([1, 2], got.Select(p => p.Number).Order());
        await AssertNoMore(subscription);
        Assert.False(subscription.TryRead(out _));
    }

    [Fact]
    public async Task TryRead_ReturnsFalseWhenEmptyAndTheMessageWhenOneIsReady()
    {
        var topic = Topic("try-read");
        var subscription = await Subscribe(topic, "g");
        Assert.False(subscription.TryRead(out _));

        await Publish(topic, [42]);
        Delivery<Ping> delivery = default;
        var deadline = DateTime.UtcNow + Async.Patience;
        while (!subscription.TryRead(out delivery))
        {
            Assert.True(DateTime.UtcNow < deadline, "a published message never became readable");
            await Task.Delay(5, Ct);
        }
        Assert.Equal(new Ping(42, "message 42"), delivery.Message);
        await delivery.AckAsync();
        Assert.False(subscription.TryRead(out _));
    }

    [Fact]
    public async Task Read_WaitingReaderWakesOnPublish()
    {
        var topic = Topic("wake");
        var subscription = await Subscribe(topic, "g");
        var read = subscription.ReadAsync(Ct).AsTask();
        await Async.AssertStillWaiting(read, "a read with nothing published completed");

        await Publish(topic, [5]);

        Assert.Equal(5, (await read.Within()).Message.Number);
    }

    [Fact]
    public async Task PublishBatch_EveryMessageArrivesOnceInEveryGroup()
    {
        var topic = Topic("publish-batch");
        var first = await Subscribe(topic, "one");
        var second = await Subscribe(topic, "two");

        await Bus.PublishBatchAsync(topic, Enumerable.Range(0, 300).Select(n => new Ping(n, $"message {n}")).ToList(), Ct);
        await Bus.PublishBatchAsync<Ping>(topic, [], Ct);

        foreach (var subscription in new[] { first, second })
        {
            var got = await Take(subscription, 300);
            Assert.Equal(Enumerable.Range(0, 300), got.Select(p => p.Number).Order());
            await AssertNoMore(subscription);
        }
    }

    [Fact]
    public async Task ReadBatch_TakesWhatIsReadyUpToTheLimit_AndBatchAckAcknowledgesAll()
    {
        var topic = Topic("read-batch");
        var subscription = await Subscribe(topic, "g");
        await Publish(topic, Enumerable.Range(0, 10));

        var got = new List<int>();
        var deadline = DateTime.UtcNow + Async.Patience;
        while (got.Count < 10)
        {
            Assert.True(DateTime.UtcNow < deadline, "published messages never all arrived");
            var batch = await subscription.ReadBatchAsync(4, Ct).AsTask().Within();
            Assert.InRange(batch.Count, 1, 4);
            got.AddRange(batch.Deliveries.Select(d => d.Message.Number));
            await batch.AckAsync();
        }

        Assert.Equal(Enumerable.Range(0, 10), got.Order());
        await AssertNoMore(subscription);
        Assert.False(subscription.TryRead(out _));
    }

    [Fact]
    public async Task ReadBatch_WaitsForTheFirstMessage_AndDeliveriesCanBeAcknowledgedOneByOne()
    {
        var topic = Topic("read-batch-wait");
        var subscription = await Subscribe(topic, "g");
        var read = subscription.ReadBatchAsync(8, Ct).AsTask();
        await Async.AssertStillWaiting(read, "a batch read with nothing published completed");

        await Publish(topic, [3]);

        var batch = await read.Within();
        Assert.Equal([3], batch.Deliveries.Select(d => d.Message.Number));
        foreach (var delivery in batch.Deliveries) await delivery.AckAsync();
        await AssertNoMore(subscription);
    }

    [Fact]
    public async Task Read_Cancelled_ThrowsOperationCanceled()
    {
        var subscription = await Subscribe(Topic("cancel"), "g");
        using var cts = new CancellationTokenSource();
        var read = subscription.ReadAsync(cts.Token).AsTask();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.Within());
    }

    [Fact]
    public async Task Read_CancelledWhileWaiting_AMessagePublishedLaterGoesToTheNextRead()
    {
        var topic = Topic("cancel-then-read");
        var subscription = await Subscribe(topic, "g");
        await GiveUpAWaitingRead(subscription);

        await Publish(topic, [7]);

        // Promptly: not left with the abandoned read until some redelivery timeout.
        Assert.Equal(7, (await subscription.ReadAsync(Ct).Within(TimeSpan.FromSeconds(2))).Message.Number);
    }

    [Fact]
    public async Task ReadBatch_CancelledWhileWaiting_LaterMessagesAllReachSingleReadsOnce()
    {
        var topic = Topic("cancel-batch-then-read");
        var subscription = await Subscribe(topic, "g");
        using (var cts = new CancellationTokenSource())
        {
            var waiting = subscription.ReadBatchAsync(10, cts.Token).AsTask();
            await Async.AssertStillWaiting(waiting, "a batch read with nothing published completed");
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.Within());
        }

        await Bus.PublishBatchAsync(topic, [new Ping(1, "a"), new Ping(2, "b"), new Ping(3, "c")], Ct);

        var got = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            // Promptly: none left pending with the abandoned read until some redelivery timeout.
            var delivery = await subscription.ReadAsync(Ct).Within(TimeSpan.FromSeconds(2));
            got.Add(delivery.Message.Number);
            await delivery.AckAsync();
        }
        Assert.Equal([1, 2, 3], got.Order());
        await AssertNoMore(subscription);
    }

    [Fact]
    public async Task Dispose_WhileAReadWaits_AMessagePublishedLaterGoesToAnotherConsumerOfTheGroup()
    {
        var topic = Topic("leave-while-waiting");
        var leaving = await Bus.SubscribeAsync<Ping>(topic, "g", Ct);
        var staying = await Subscribe(topic, "g");
        await GiveUpAWaitingRead(leaving);
        await leaving.DisposeAsync();

        await Publish(topic, [8]);

        Assert.Equal(8, (await staying.ReadAsync(Ct).Within(TimeSpan.FromSeconds(2))).Message.Number);
    }

    // A consumer that goes away without acknowledging (a crash, a stopped agent) is played by
    // disposing its subscription: what it read and did not acknowledge must reach another consumer
    // of its group, after whatever redelivery delay the adapter has, and nothing it acknowledged may.

    /// <summary>Longer than any adapter's redelivery delay as the tests configure it.</summary>
    private static readonly TimeSpan RedeliveryQuiet = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task Crash_DeliveryReadButNotAcknowledged_GoesToAnotherConsumerOfTheGroup()
    {
        var topic = Topic("crash");
        var crashed = await Bus.SubscribeAsync<Ping>(topic, "workers", Ct);
        var survivor = await Subscribe(topic, "workers");
        await Publish(topic, [1]);

        Assert.Equal(1, (await crashed.ReadAsync(Ct).Within()).Message.Number);
        await crashed.DisposeAsync(); // gone without acknowledging

        var redelivery = await survivor.ReadAsync(Ct).Within();
        Assert.Equal(new Ping(1, "message 1"), redelivery.Message);
        await redelivery.AckAsync();
        await AssertNothingWithin(survivor, RedeliveryQuiet);
    }

    [Fact]
    public async Task Crash_ConsumerWithReadAcknowledgedAndUnreadMessages_NoMessageLostAndNoneAcknowledgedRedelivered()
    {
        const int messages = 60;
        var topic = Topic("crash-midway");
        var crashed = await Bus.SubscribeAsync<Ping>(topic, "workers", Ct);
        await Publish(topic, Enumerable.Range(0, messages));

        // The crashing consumer handles 10, reads 15 more in a batch, and dies before acknowledging those.
        var handled = await Take(crashed, 10);
        var inHand = new List<int>();
        while (inHand.Count < 15)
        {
            var batch = await crashed.ReadBatchAsync(15 - inHand.Count, Ct).Within();
            inHand.AddRange(batch.Deliveries.Select(d => d.Message.Number));
        }
        await crashed.DisposeAsync();

        var survivor = await Subscribe(topic, "workers");
        var rest = await Take(survivor, messages - 10);

        Assert.Equal(Enumerable.Range(0, messages), handled.Select(p => p.Number).Concat(rest.Select(p => p.Number)).Order());
        Assert.Subset(rest.Select(p => p.Number).ToHashSet(), inHand.ToHashSet());
        await AssertNothingWithin(survivor, RedeliveryQuiet);
    }

    [Fact]
    public async Task Crash_OneOfSeveralConsumers_TheOthersHandleEveryMessageExactlyOnceBetweenThem()
    {
        const int messages = 200;
        var topic = Topic("crash-among-many");
        var crashed = await Bus.SubscribeAsync<Ping>(topic, "workers", Ct);
        var survivors = new[] { await Subscribe(topic, "workers"), await Subscribe(topic, "workers") };
        await Publish(topic, Enumerable.Range(0, messages));

        var handled = new ConcurrentBag<int>();
        var taken = 0;
        while (taken < 5)
        {
            var delivery = await crashed.ReadAsync(Ct).Within(); // read, never acknowledged
            taken++;
            Assert.InRange(delivery.Message.Number, 0, messages - 1);
        }
        await crashed.DisposeAsync();

        using var done = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var readers = survivors.Select(subscription => Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    var delivery = await subscription.ReadAsync(done.Token);
                    handled.Add(delivery.Message.Number);
                    await delivery.AckAsync();
                    if (handled.Count == messages) await done.CancelAsync();
                }
            }
            catch (OperationCanceledException) when (done.IsCancellationRequested)
            {
            }
        }, Ct)).ToList();
        await Task.WhenAll(readers).Within();

        Assert.Equal(Enumerable.Range(0, messages), handled.Order());
        foreach (var survivor in survivors) await AssertNothingWithin(survivor, RedeliveryQuiet / 2);
    }

    /// <summary>Asserts nothing more arrives within <paramref name="quiet"/>.</summary>
    private static async Task AssertNothingWithin(IMessageSubscription<Ping> subscription, TimeSpan quiet)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(quiet);
        try
        {
            var extra = await subscription.ReadAsync(cts.Token);
            Assert.Fail($"unexpected extra delivery {extra.Message}");
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>Starts a read on an empty topic, sees it wait, then cancels it.</summary>
    private static async Task GiveUpAWaitingRead(IMessageSubscription<Ping> subscription)
    {
        using var cts = new CancellationTokenSource();
        var waiting = subscription.ReadAsync(cts.Token).AsTask();
        await Async.AssertStillWaiting(waiting, "a read with nothing published completed");
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.Within());
    }
}
