using Orch.Protocol;

namespace Orch.Coordination.Resilience;

/// <summary>The backend stayed unreachable longer than the caller agreed to wait.</summary>
public sealed class BackendLostException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// Wraps a backend so that an outage (Redis restarting, a network partition) makes every
/// operation wait and try again instead of failing: consistency over availability. While the
/// backend is unreachable nothing is read or written, so agents take no work and a coordinator
/// marks nothing done; the first failure and the recovery are reported through
/// <paramref name="report"/>. After <see cref="Limit"/> of continuous outage the waiting
/// operations throw <see cref="BackendLostException"/>.
/// </summary>
/// <remarks>
/// A write whose reply was lost may be applied twice: a message published twice is one more
/// at-least-once delivery, and a compare-and-set that succeeded before its reply was lost reads
/// as failed on the retry, which callers that care check by reading the key back.
/// </remarks>
public sealed class PatientBackend : ICoordinationBackend
{
    private readonly ICoordinationBackend _inner;
    private readonly Action<string> _report;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private DateTimeOffset? _unreachableSince;
    private bool _down; // _unreachableSince is not null; readable without the lock on the hot path
    private DateTimeOffset _nextReminder;

    /// <param name="limit">How long one outage may last before operations give up; <see cref="Timeout.InfiniteTimeSpan"/> to wait for ever.</param>
    public PatientBackend(ICoordinationBackend inner, TimeSpan limit, Action<string> report, TimeProvider? time = null)
    {
        _inner = inner;
        _report = report;
        _time = time ?? TimeProvider.System;
        Limit = limit;
        Bus = new PatientBus(this);
        State = new PatientState(this);
        Locks = new PatientLocks(this);
        Agents = new PatientAgents(this);
    }

    public TimeSpan Limit { get; }

    /// <summary>When the last outage ended; heartbeats missed during it say nothing about the agents.</summary>
    public DateTimeOffset? LastRecoveredAt { get; private set; }

    public string Name => _inner.Name;
    public IMessageBus Bus { get; }
    public IStateStore State { get; }
    public IResourceLocks Locks { get; }
    public IAgentRegistry Agents { get; }

    public bool IsTransient(Exception error) => _inner.IsTransient(error);

    public ValueTask DisposeAsync() => _inner.DisposeAsync();

    private async ValueTask<T> Do<T>(Func<CancellationToken, ValueTask<T>> operation, CancellationToken cancellationToken)
    {
        var pause = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                var result = await operation(cancellationToken).ConfigureAwait(false);
                Recovered();
                return result;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && _inner.IsTransient(ex))
            {
                Failed(ex);
                await Task.Delay(pause, _time, cancellationToken).ConfigureAwait(false);
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
            }
        }
    }

    private ValueTask Do(Func<CancellationToken, ValueTask> operation, CancellationToken cancellationToken) =>
        new(Do<bool>(async token => { await operation(token).ConfigureAwait(false); return true; }, cancellationToken).AsTask());

    private void Failed(Exception error)
    {
        var now = _time.GetUtcNow();
        string? message = null;
        lock (_gate)
        {
            if (_unreachableSince is null)
            {
                _unreachableSince = now;
                Volatile.Write(ref _down, true);
                _nextReminder = now + TimeSpan.FromSeconds(30);
                var wait = Limit == Timeout.InfiniteTimeSpan ? "until it is back" : $"up to {Describe(Limit)}";
                message = $"the {_inner.Name} backend is unreachable ({FirstLine(error.Message)}); waiting {wait}, taking and finishing no work meanwhile";
            }
            else if (Limit != Timeout.InfiniteTimeSpan && now - _unreachableSince.Value >= Limit)
            {
                throw new BackendLostException($"the {_inner.Name} backend was unreachable for {Describe(now - _unreachableSince.Value)} (limit {Describe(Limit)}): {FirstLine(error.Message)}", error);
            }
            else if (now >= _nextReminder)
            {
                _nextReminder = now + TimeSpan.FromSeconds(30);
                message = $"the {_inner.Name} backend is still unreachable after {Describe(now - _unreachableSince.Value)}";
            }
        }
        if (message is not null) _report(message);
    }

    private void Recovered()
    {
        if (!Volatile.Read(ref _down)) return;
        string? message = null;
        lock (_gate)
        {
            if (_unreachableSince is { } since)
            {
                var now = _time.GetUtcNow();
                LastRecoveredAt = now;
                _unreachableSince = null;
                Volatile.Write(ref _down, false);
                message = $"the {_inner.Name} backend is reachable again after {Describe(now - since)}";
            }
        }
        if (message is not null) _report(message);
    }

    /// <summary>The first line of an error, cut short: client libraries append pages of connection state.</summary>
    private static string FirstLine(string text)
    {
        var line = text.Split('\n', 2)[0].Trim();
        return line.Length <= 160 ? line : line[..160] + "...";
    }

    private static string Describe(TimeSpan span) =>
        span.TotalSeconds < 60 ? $"{span.TotalSeconds:0.#}s" : $"{(int)span.TotalMinutes}m{span.Seconds:00}s";

    private sealed class PatientBus(PatientBackend outer) : IMessageBus
    {
        public ValueTask PublishAsync<T>(string topic, T message, CancellationToken cancellationToken) where T : class =>
            outer.Do(token => outer._inner.Bus.PublishAsync(topic, message, token), cancellationToken);

        // Retried whole: messages stored before a lost reply are stored again, one more at-least-once delivery.
        public ValueTask PublishBatchAsync<T>(string topic, IReadOnlyList<T> messages, CancellationToken cancellationToken) where T : class =>
            outer.Do(token => outer._inner.Bus.PublishBatchAsync(topic, messages, token), cancellationToken);

        public async ValueTask<IMessageSubscription<T>> SubscribeAsync<T>(string topic, string group, CancellationToken cancellationToken) where T : class =>
            new PatientSubscription<T>(outer, await outer.Do(token => outer._inner.Bus.SubscribeAsync<T>(topic, group, token), cancellationToken).ConfigureAwait(false));
    }

    private sealed class PatientSubscription<T>(PatientBackend outer, IMessageSubscription<T> inner) : IMessageSubscription<T> where T : class
    {
        public async ValueTask<Delivery<T>> ReadAsync(CancellationToken cancellationToken)
        {
            var delivery = await outer.Do(inner.ReadAsync, cancellationToken).ConfigureAwait(false);
            return delivery.Ack is null ? delivery : new Delivery<T>(delivery.Message, () => outer.Do(_ => delivery.AckAsync(), CancellationToken.None));
        }

        public async ValueTask<DeliveryBatch<T>> ReadBatchAsync(int max, CancellationToken cancellationToken)
        {
            var batch = await outer.Do(token => inner.ReadBatchAsync(max, token), cancellationToken).ConfigureAwait(false);
            var deliveries = new Delivery<T>[batch.Count];
            for (var i = 0; i < deliveries.Length; i++)
            {
                var delivery = batch.Deliveries[i];
                deliveries[i] = delivery.Ack is null ? delivery : new Delivery<T>(delivery.Message, () => outer.Do(_ => delivery.AckAsync(), CancellationToken.None));
            }
            return new DeliveryBatch<T>(deliveries, () => outer.Do(_ => batch.AckAsync(), CancellationToken.None));
        }

        public bool TryRead(out Delivery<T> delivery)
        {
            try
            {
                if (!inner.TryRead(out var read))
                {
                    delivery = default;
                    return false;
                }
                delivery = read.Ack is null ? read : new Delivery<T>(read.Message, () => outer.Do(_ => read.AckAsync(), CancellationToken.None));
                return true;
            }
            catch (Exception ex) when (outer._inner.IsTransient(ex))
            {
                // Nothing ready as far as anyone can tell; the next ReadAsync waits out the outage.
                outer.Failed(ex);
                delivery = default;
                return false;
            }
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    private sealed class PatientState(PatientBackend outer) : IStateStore
    {
        public ValueTask<VersionedValue?> GetAsync(string key, CancellationToken cancellationToken) =>
            outer.Do(token => outer._inner.State.GetAsync(key, token), cancellationToken);

        public ValueTask<long?> TrySetAsync(string key, ReadOnlyMemory<byte> value, long? expectedVersion, CancellationToken cancellationToken) =>
            outer.Do(token => outer._inner.State.TrySetAsync(key, value, expectedVersion, token), cancellationToken);

        public ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken) =>
            outer.Do(token => outer._inner.State.DeleteAsync(key, token), cancellationToken);

        public ValueTask DeleteManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken) =>
            outer.Do(token => outer._inner.State.DeleteManyAsync(keys, token), cancellationToken);

        public ValueTask<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken) =>
            outer.Do(token => outer._inner.State.ListKeysAsync(prefix, token), cancellationToken);
    }

    private sealed class PatientLocks(PatientBackend outer) : IResourceLocks
    {
        public ValueTask<LockLease> AcquireAsync(IReadOnlyList<LockRequest> requests, string holder, TimeSpan leaseTime, CancellationToken cancellationToken) =>
            outer.Do(token => outer._inner.Locks.AcquireAsync(requests, holder, leaseTime, token), cancellationToken);

        public ValueTask<bool> RenewAsync(string leaseId, TimeSpan leaseTime, CancellationToken cancellationToken) =>
            outer.Do(token => outer._inner.Locks.RenewAsync(leaseId, leaseTime, token), cancellationToken);

        public ValueTask ReleaseAsync(string leaseId, CancellationToken cancellationToken) =>
            outer.Do(token => outer._inner.Locks.ReleaseAsync(leaseId, token), cancellationToken);

        public ValueTask<IReadOnlyList<LockStatus>> ListAsync(CancellationToken cancellationToken) =>
            outer.Do(outer._inner.Locks.ListAsync, cancellationToken);
    }

    private sealed class PatientAgents(PatientBackend outer) : IAgentRegistry
    {
        public ValueTask HeartbeatAsync(AgentInfo agent, CancellationToken cancellationToken) =>
            outer.Do(token => outer._inner.Agents.HeartbeatAsync(agent, token), cancellationToken);

        public ValueTask UnregisterAsync(AgentId agent, CancellationToken cancellationToken) =>
            outer.Do(token => outer._inner.Agents.UnregisterAsync(agent, token), cancellationToken);

        public ValueTask<IReadOnlyList<AgentInfo>> ListAsync(CancellationToken cancellationToken) =>
            outer.Do(outer._inner.Agents.ListAsync, cancellationToken);
    }
}
