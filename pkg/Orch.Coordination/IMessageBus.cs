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
}

/// <summary>A delivered message. Call <see cref="AckAsync"/> once it has been handled.</summary>
public readonly record struct Delivery<T>(T Message, Func<ValueTask>? Ack) where T : class
{
    public ValueTask AckAsync() => Ack?.Invoke() ?? ValueTask.CompletedTask;
}
