using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Orch.Coordination.Embedded;

/// <summary>
/// In-process bus: one unbounded channel per topic and group. Messages are passed by reference,
/// never serialised, which is what makes the embedded default fast. Nothing survives the process,
/// so acknowledgement has nothing to do.
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
        return ValueTask.FromResult<IMessageSubscription<T>>(new Subscription<T>(channel.Reader));
    }

    private sealed class Topic
    {
        public ConcurrentDictionary<string, Channel<object>> Groups { get; } = new(StringComparer.Ordinal);
    }

    private sealed class Subscription<T>(ChannelReader<object> reader) : IMessageSubscription<T> where T : class
    {
        public async ValueTask<Delivery<T>> ReadAsync(CancellationToken cancellationToken)
        {
            var message = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            return new Delivery<T>((T)message, null);
        }

        public bool TryRead(out Delivery<T> delivery)
        {
            if (reader.TryRead(out var message))
            {
                delivery = new Delivery<T>((T)message, null);
                return true;
            }
            delivery = default;
            return false;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
