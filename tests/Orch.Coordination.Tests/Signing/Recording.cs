using Microsoft.Extensions.Logging;

namespace Orch.Coordination.Tests.Signing;

/// <summary>Keeps every log line, formatted, for assertions.</summary>
internal sealed class ListLogger : ILogger
{
    private readonly List<(LogLevel Level, string Text)> _entries = [];

    public IReadOnlyList<(LogLevel Level, string Text)> Entries
    {
        get { lock (_entries) return _entries.ToList(); }
    }

    public string Text => string.Join('\n', Entries.Select(e => e.Text));

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_entries) _entries.Add((logLevel, formatter(state, exception)));
    }
}

/// <summary>Passes everything to an inner bus and counts the acknowledgements its subscribers make.</summary>
internal sealed class AckCountingBus(IMessageBus inner) : IMessageBus
{
    private int _acks;

    public int Acks => Volatile.Read(ref _acks);

    public ValueTask PublishAsync<T>(string topic, T message, CancellationToken cancellationToken) where T : class =>
        inner.PublishAsync(topic, message, cancellationToken);

    public async ValueTask<IMessageSubscription<T>> SubscribeAsync<T>(string topic, string group, CancellationToken cancellationToken) where T : class =>
        new Subscription<T>(this, await inner.SubscribeAsync<T>(topic, group, cancellationToken));

    private sealed class Subscription<T>(AckCountingBus bus, IMessageSubscription<T> inner) : IMessageSubscription<T> where T : class
    {
        public async ValueTask<Delivery<T>> ReadAsync(CancellationToken cancellationToken) => Counted(await inner.ReadAsync(cancellationToken));

        public bool TryRead(out Delivery<T> delivery)
        {
            var read = inner.TryRead(out delivery);
            if (read) delivery = Counted(delivery);
            return read;
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();

        private Delivery<T> Counted(Delivery<T> delivery) => delivery with
        {
            Ack = async () =>
            {
                Interlocked.Increment(ref bus._acks);
                await delivery.AckAsync();
            },
        };
    }
}
