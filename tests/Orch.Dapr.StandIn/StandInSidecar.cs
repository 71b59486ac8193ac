using System.Globalization;
using Google.Protobuf;

namespace Orch.Dapr.StandIn;

/// <summary>
/// The memory behind the stand-in: one state store and one pub/sub component.
/// <list type="bullet">
/// <item><b>State</b> follows the state API's contract as the Redis state store implements it: an
/// etag is a decimal counter that grows with every write; a write or delete whose etag does not
/// match fails; a first-write save without an etag only creates a key that does not exist. Two
/// places are stricter than the Redis component, as the API's contract reads: an etag for a key
/// that does not exist fails, and a transaction checks every etag before it applies anything
/// (the Redis component does neither, which is why the adapter never relies on them).</item>
/// <item><b>Pub/sub</b> behaves like Redis Streams seen by one app id (one consumer group): each
/// topic is a stream whose entries go to one of the subscribing streams; an entry sent out stays
/// pending until its stream answers SUCCESS or DROP; RETRY, or the stream closing, puts it back
/// for redelivery. Entries published while nobody subscribes wait in the stream.</item>
/// </list>
/// </summary>
public sealed class StandInSidecar
{
    private readonly object _stateGate = new();
    private readonly Dictionary<string, (ByteString Data, long Etag)> _state = new(StringComparer.Ordinal);
    private readonly object _topicGate = new();
    private readonly Dictionary<string, Topic> _topics = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _shutdown = new();
    private long _nextEventId;

    public StandInSidecar(string stateStoreName, string pubSubName)
    {
        StateStoreName = stateStoreName;
        PubSubName = pubSubName;
    }

    public string StateStoreName { get; }
    public string PubSubName { get; }

    internal CancellationToken ShuttingDown => _shutdown.Token;

    internal void Shutdown() => _shutdown.Cancel();

    /// <summary>Every stored key, for tests that look at what the adapter wrote.</summary>
    public IReadOnlyList<string> StateKeys()
    {
        lock (_stateGate) return _state.Keys.Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Entries stored or pending on <paramref name="topic"/> (not yet acknowledged).</summary>
    public int Unacknowledged(string topic)
    {
        lock (_topicGate) return _topics.TryGetValue(topic, out var t) ? t.Ready.Count + t.Pending : 0;
    }

    /// <summary>Runs before each item of a SaveState call is applied, with its key: lets a test write in between a client's read and its save.</summary>
    public Action<string>? BeforeSave { get; set; }

    /// <summary>A key's stored value as text, or null when it does not exist.</summary>
    public string? Text(string key)
    {
        var (data, etag) = Get(key);
        return etag is null ? null : data.ToStringUtf8();
    }

    /// <summary>Writes a key unconditionally, as another client of the same store would.</summary>
    public void Overwrite(string key, byte[] data) => Apply([new Change(key, false, ByteString.CopyFrom(data), null, false)]);

    /// <summary>Deletes a key unconditionally, as another client of the same store would.</summary>
    public void Remove(string key) => Apply([new Change(key, true, ByteString.Empty, null, false)]);

    internal (ByteString Data, string? Etag) Get(string key)
    {
        lock (_stateGate)
        {
            return _state.TryGetValue(key, out var item) ? (item.Data, item.Etag.ToString(CultureInfo.InvariantCulture)) : (ByteString.Empty, null);
        }
    }

    /// <summary>A write or delete to check and apply. <paramref name="FirstWrite"/> is the save's concurrency option.</summary>
    internal sealed record Change(string Key, bool Delete, ByteString Data, string? Etag, bool FirstWrite);

    /// <summary>Applies all changes or none; returns why not, as (kind, message), or null when applied.</summary>
    internal (StateFailure Kind, string Message)? Apply(IReadOnlyList<Change> changes)
    {
        lock (_stateGate)
        {
            foreach (var change in changes)
            {
                var exists = _state.TryGetValue(change.Key, out var current);
                if (change.Etag is { Length: > 0 } etag)
                {
                    if (!long.TryParse(etag, NumberStyles.None, CultureInfo.InvariantCulture, out var expected))
                        return (StateFailure.InvalidEtag, $"invalid etag value: {etag}");
                    if (!exists || current.Etag != expected)
                        return (StateFailure.EtagMismatch, $"possible etag mismatch. error from state store: failed to set key {change.Key}");
                }
                else if (!change.Delete && change.FirstWrite && exists)
                {
                    return (StateFailure.Other, $"failed to set key {change.Key}: the key exists and first-write was asked without an etag");
                }
            }
            foreach (var change in changes)
            {
                if (change.Delete)
                {
                    _state.Remove(change.Key);
                }
                else
                {
                    var next = _state.TryGetValue(change.Key, out var current) ? current.Etag + 1 : 1;
                    _state[change.Key] = (change.Data, next);
                }
            }
            return null;
        }
    }

    internal void Publish(string topic, ByteString data, string contentType)
    {
        lock (_topicGate)
        {
            var t = TopicLocked(topic);
            t.Ready.AddLast(new Event(Interlocked.Increment(ref _nextEventId).ToString(CultureInfo.InvariantCulture), topic, data, contentType));
            t.Signal();
        }
    }

    /// <summary>Waits for the next entry of <paramref name="topic"/> and marks it pending.</summary>
    internal async Task<Event> TakeAsync(string topic, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task signal;
            lock (_topicGate)
            {
                var t = TopicLocked(topic);
                if (t.Ready.First is { } first)
                {
                    t.Ready.RemoveFirst();
                    t.Pending++;
                    return first.Value;
                }
                signal = t.Changed.Task;
            }
            await signal.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Settles a pending entry: gone for good, or back at the front for redelivery.</summary>
    internal void Settle(Event e, bool redeliver)
    {
        lock (_topicGate)
        {
            var t = TopicLocked(e.Topic);
            t.Pending--;
            if (!redeliver) return;
            t.Ready.AddFirst(e);
            t.Signal();
        }
    }

    /// <summary>daprd allows one streaming subscription per pub/sub and topic on a sidecar.</summary>
    internal bool TryClaimStream(string topic)
    {
        lock (_topicGate)
        {
            var t = TopicLocked(topic);
            if (t.Streamed) return false;
            t.Streamed = true;
            return true;
        }
    }

    internal void ReleaseStream(string topic)
    {
        lock (_topicGate) TopicLocked(topic).Streamed = false;
    }

    private Topic TopicLocked(string topic)
    {
        if (!_topics.TryGetValue(topic, out var t)) _topics[topic] = t = new Topic();
        return t;
    }

    internal sealed record Event(string Id, string Topic, ByteString Data, string ContentType);

    private sealed class Topic
    {
        public LinkedList<Event> Ready { get; } = new();
        public int Pending { get; set; }
        public bool Streamed { get; set; }
        public TaskCompletionSource Changed { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Signal()
        {
            var old = Changed;
            Changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
            old.TrySetResult();
        }
    }
}

internal enum StateFailure
{
    EtagMismatch,
    InvalidEtag,
    Other,
}
