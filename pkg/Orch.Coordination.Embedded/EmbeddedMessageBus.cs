using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Orch.Coordination.Embedded;

/// <summary>
/// In-process bus: one unbounded channel per topic and group. Messages are passed by reference,
/// never serialised, which is what makes the embedded default fast. Nothing survives the process,
/// but a consumer can still go away inside it (an agent loop stopped mid-task): what it read and
/// did not acknowledge goes back to its group when its subscription is disposed, as on a broker.
/// </summary>
public sealed class EmbeddedMessageBus : IMessageBus
{
    private readonly ConcurrentDictionary<string, Topic> _topics = new(StringComparer.Ordinal);

    public ValueTask PublishAsync<T>(string topic, T message, CancellationToken cancellationToken) where T : class
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_topics.TryGetValue(topic, out var t))
        {
            foreach (var channel in t.Groups.Values) channel.Writer.TryWrite(message);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask<IMessageSubscription<T>> SubscribeAsync<T>(string topic, string group, CancellationToken cancellationToken) where T : class
    {
        var t = _topics.GetOrAdd(topic, _ => new Topic());
        var channel = t.Groups.GetOrAdd(group, _ => Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = false }));
        return ValueTask.FromResult<IMessageSubscription<T>>(new Subscription<T>(channel));
    }

    private sealed class Topic
    {
        public ConcurrentDictionary<string, Channel<object>> Groups { get; } = new(StringComparer.Ordinal);
    }

    private sealed class Subscription<T>(Channel<object> group) : IMessageSubscription<T> where T : class
    {
        // Read and not yet acknowledged; handed back to the group on dispose. Guarded by itself.
        private readonly HashSet<Unacknowledged> _unacknowledged = new(ReferenceEqualityComparer.Instance);
        private bool _disposed;

        public async ValueTask<Delivery<T>> ReadAsync(CancellationToken cancellationToken)
        {
            var message = await group.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            return Track(message);
        }

        public bool TryRead(out Delivery<T> delivery)
        {
            if (group.Reader.TryRead(out var message))
            {
                delivery = Track(message);
                return true;
            }
            delivery = default;
            return false;
        }

        private Delivery<T> Track(object message)
        {
            var entry = new Unacknowledged(this, message);
            lock (_unacknowledged)
            {
                if (_disposed)
                {
                    // A read that completed as the subscription went away: the message stays with the group.
                    group.Writer.TryWrite(message);
                    throw new ObjectDisposedException(nameof(EmbeddedMessageBus), "the subscription was disposed");
                }
                _unacknowledged.Add(entry);
            }
            return new Delivery<T>((T)message, entry.Ack);
        }

        public ValueTask DisposeAsync()
        {
            lock (_unacknowledged)
            {
                if (_disposed) return ValueTask.CompletedTask;
                _disposed = true;
                foreach (var entry in _unacknowledged) group.Writer.TryWrite(entry.Message);
                _unacknowledged.Clear();
            }
            return ValueTask.CompletedTask;
        }

        private sealed class Unacknowledged(Subscription<T> owner, object message)
        {
            public object Message => message;

            public ValueTask Ack()
            {
                lock (owner._unacknowledged) owner._unacknowledged.Remove(this);
                return ValueTask.CompletedTask;
            }
        }
    }
}
