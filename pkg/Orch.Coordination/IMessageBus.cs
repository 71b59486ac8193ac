namespace Orch.Coordination;

/// <summary>
/// Publish/subscribe with consumer groups. Within a group each message goes to one consumer
/// (a work queue); every group gets every message (a broadcast). Delivery is at-least-once:
/// a message that is not acknowledged may be delivered again, so handlers must be idempotent.
/// </summary>
public interface IMessageBus
{
    /// <summary>Publishes a message; when this completes the message is stored and will be delivered.</summary>
    ValueTask PublishAsync<T>(string topic, T message, CancellationToken cancellationToken) where T : class;

    /// <summary>
    /// Publishes several messages to one topic, in order; when this completes all of them are stored.
    /// Adapters that can store them in one round trip do; the default publishes them one by one.
    /// </summary>
    async ValueTask PublishBatchAsync<T>(string topic, IReadOnlyList<T> messages, CancellationToken cancellationToken) where T : class
    {
        ArgumentNullException.ThrowIfNull(messages);
        foreach (var message in messages) await PublishAsync(topic, message, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Joins <paramref name="group"/> on <paramref name="topic"/>. Only messages published after the group was first created are seen.</summary>
    ValueTask<IMessageSubscription<T>> SubscribeAsync<T>(string topic, string group, CancellationToken cancellationToken) where T : class;
}

/// <summary>A consumer's view of one topic and group.</summary>
public interface IMessageSubscription<T> : IAsyncDisposable where T : class
{
    /// <summary>Waits for the next delivery.</summary>
    ValueTask<Delivery<T>> ReadAsync(CancellationToken cancellationToken);

    /// <summary>Takes a delivery if one is ready, without waiting.</summary>
    bool TryRead(out Delivery<T> delivery);

    /// <summary>
    /// Waits for the next delivery, then takes up to <paramref name="max"/> - 1 more that are
    /// ready, without waiting for them. Every delivery of the batch is this consumer's until it
    /// is acknowledged (one by one, or all at once with <see cref="DeliveryBatch{T}.AckAsync"/>),
    /// so take only as many as will be handled soon. Adapters that can read several messages in
    /// one round trip do; the default reads them one by one.
    /// </summary>
    async ValueTask<DeliveryBatch<T>> ReadBatchAsync(int max, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        var first = await ReadAsync(cancellationToken).ConfigureAwait(false);
        if (max == 1) return new DeliveryBatch<T>([first]);
        var deliveries = new List<Delivery<T>> { first };
        while (deliveries.Count < max && TryRead(out var next)) deliveries.Add(next);
        return new DeliveryBatch<T>(deliveries);
    }
}

/// <summary>A delivered message. Call <see cref="AckAsync"/> once it has been handled.</summary>
public readonly record struct Delivery<T>(T Message, Func<ValueTask>? Ack) where T : class
{
    public ValueTask AckAsync() => Ack?.Invoke() ?? ValueTask.CompletedTask;
}

/// <summary>
/// Deliveries read together. Each may be acknowledged on its own, or all of them with
/// <see cref="AckAsync"/>, which adapters do in one round trip where they can.
/// </summary>
public sealed class DeliveryBatch<T> where T : class
{
    private readonly Func<ValueTask>? _ackAll;

    /// <param name="deliveries">The deliveries, in the order they were read.</param>
    /// <param name="ackAll">Acknowledges all of them at once; null to acknowledge them one by one.</param>
    public DeliveryBatch(IReadOnlyList<Delivery<T>> deliveries, Func<ValueTask>? ackAll = null)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        Deliveries = deliveries;
        _ackAll = ackAll;
    }

    public IReadOnlyList<Delivery<T>> Deliveries { get; }

    public int Count => Deliveries.Count;

    /// <summary>Acknowledges every delivery of the batch.</summary>
    public async ValueTask AckAsync()
    {
        if (_ackAll is not null)
        {
            await _ackAll().ConfigureAwait(false);
            return;
        }
        foreach (var delivery in Deliveries) await delivery.AckAsync().ConfigureAwait(false);
    }
}
