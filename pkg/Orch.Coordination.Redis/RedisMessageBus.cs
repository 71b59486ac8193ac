using System.Diagnostics;
using System.Text.Json;
using Orch.Protocol;
using StackExchange.Redis;

namespace Orch.Coordination.Redis;

/// <summary>
/// Publish/subscribe on Redis Streams. A topic is the stream <c>{prefix}:bus:{topic}</c>, a group
/// is a Redis consumer group on it, and every subscription is a consumer of its own (a unique
/// name), so within a group each entry goes to one subscription and every group sees every entry.
/// Messages are stored as System.Text.Json (<see cref="MessageJson.Options"/>), so a message type
/// must round-trip through JSON. An entry that does not read as the subscription's type (written
/// by something else) is acknowledged and skipped rather than failing the read.
/// </summary>
/// <remarks>
/// Delivery is at-least-once. An entry read but not acknowledged stays pending in its group; once
/// it has been pending for <c>claimIdleTime</c> (a consumer that crashed, or one that is still
/// busy with it) any subscription of the group may claim it and deliver it again, so handlers
/// must be idempotent and should acknowledge well within that time. Acknowledging does not delete
/// the entry, since other groups may not have read it yet; readers trim the stream from time to
/// time (when they look for entries to claim, and when they leave) to the entries some group has
/// not been handed or has not acknowledged yet, so nothing that may still be delivered is lost. An
/// acknowledgement is sent without waiting for its reply (a batch's as one <c>XACK</c> of all its
/// ids): it is applied before anything this process sends after it, and one lost with a dropped
/// connection only means one more delivery.
/// A batch read (<c>ReadBatchAsync</c>) is one <c>XREADGROUP … COUNT</c>; a batch publish is one
/// script of <c>XADD</c>s (up to 256) and a single wake-up.
/// A reader that finds its stream empty raises the flag <c>{prefix}:bus-sleepers:{topic}</c> in
/// the same script as that read; a publish, in the same script as its stream entry, clears the flag
/// and, if it was raised, sends a pub/sub wake-up on <c>{prefix}:bus-wake:{topic}</c>, so idle
/// readers read at once instead of on their next poll while busy readers get no wake-up per
/// message. A lost wake-up only costs one poll interval.
/// Reads poll (a blocking read would stall the shared connection): a few milliseconds apart
/// while messages flow, backing off to <see cref="MaxPollInterval"/> when idle.
/// </remarks>
public sealed class RedisMessageBus : IMessageBus
{
    /// <summary>How long an entry stays with a consumer that has not acknowledged it, unless given.</summary>
    /// <remarks>
    /// Short, because orch's consumers acknowledge at once (an agent as soon as it has claimed a
    /// batch, the claim guarding it from then on): an entry pending this long was read by a process
    /// that died before it got that far, and a second delivery to a live one is dropped by the claim.
    /// </remarks>
    public static readonly TimeSpan DefaultClaimIdleTime = TimeSpan.FromSeconds(5);

    /// <summary>The longest pause between polls of an idle subscription.</summary>
    /// <remarks>Publishes wake idle readers, so this poll only bounds the wait when a wake-up is lost (a reconnect).</remarks>
    public static readonly TimeSpan MaxPollInterval = TimeSpan.FromMilliseconds(250);

    private static readonly TimeSpan MinPollInterval = TimeSpan.FromMilliseconds(1);
    private const string Field = "m";

    // Acknowledgements go out in order on the shared connection without waiting for the reply: a
    // later read on this connection is served after them, and one lost with a dropped connection
    // only means one more delivery, which at-least-once allows.
    private const CommandFlags AckFlags = CommandFlags.FireAndForget;

    // The protocol's JSON, escaping only what JSON requires: a signed envelope carries its payload
    // as a string, and the default escaping would write every quote in it as six bytes.
    private static readonly JsonSerializerOptions WireOptions = new(MessageJson.Options)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    // KEYS: stream. ARGV: group, consumer. Forgets the consumer unless entries are pending with it
    // (deleting a consumer drops its pending entries, which would then never be redelivered).
    private const string LeaveScript = """
        local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
        if #pending == 0 then redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2]) end
        return #pending
        """;

    // KEYS: stream, sleepers flag. ARGV: message, wake-up channel. Wakes readers only when one
    // said it was going to sleep (and clears that), so busy readers are not sent a wake-up per message.
    private const string PublishScript = """
        redis.call('XADD', KEYS[1], '*', 'm', ARGV[1])
        if redis.call('DEL', KEYS[2]) == 1 then redis.call('PUBLISH', ARGV[2], '') end
        return 1
        """;

    // KEYS: stream, sleepers flag. ARGV: messages..., wake-up channel.
    private const string PublishBatchScript = """
        for i = 1, #ARGV - 1 do redis.call('XADD', KEYS[1], '*', 'm', ARGV[i]) end
        if redis.call('DEL', KEYS[2]) == 1 then redis.call('PUBLISH', ARGV[#ARGV], '') end
        return #ARGV - 1
        """;

    // KEYS: stream, sleepers flag. ARGV: group, consumer, count, flag lifetime (ms). A read that
    // finds nothing raises the sleepers flag in the same step, so no publish can slip in between
    // the empty read and the flag: the next publish wakes this reader.
    private const string ReadOrSleepScript = """
        local entries = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
        if not entries then redis.call('SET', KEYS[2], '1', 'PX', ARGV[4]) end
        return entries
        """;

    // KEYS: stream. Removes the entries every group has been handed and has acknowledged: those
    // older than each group's oldest pending entry and its last delivered one. Returns how many.
    private const string TrimScript = """
        local function older(a, b)
          local ams, aseq = string.match(a, '(%d+)-(%d+)')
          local bms, bseq = string.match(b, '(%d+)-(%d+)')
          ams, aseq, bms, bseq = tonumber(ams), tonumber(aseq), tonumber(bms), tonumber(bseq)
          return ams < bms or (ams == bms and aseq < bseq)
        end
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        local keep = nil
        for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
          local name, first
          for i = 1, #g, 2 do
            if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then first = g[i + 1] end
          end
          local pending = redis.call('XPENDING', KEYS[1], name)
          if pending[1] > 0 and older(pending[2], first) then first = pending[2] end
          if keep == nil or older(first, keep) then keep = first end
        end
        if keep == nil then return 0 end
        return redis.call('XTRIM', KEYS[1], 'MINID', keep)
        """;

    /// <summary>How long a sleepers flag lasts: longer than a reader sleeps between polls, which renew it.</summary>
    private static readonly long SleepersFlagMs = (long)(MaxPollInterval.TotalMilliseconds * 4);

    /// <summary>At most this many messages go into one publishing script, so one script never stalls the server for long.</summary>
    private const int PublishChunk = 256;

    private readonly IDatabase _database;
    private readonly string _prefix;
    private readonly TimeSpan _claimIdleTime;

    /// <param name="database">The database to use.</param>
    /// <param name="prefix">Starts every Redis key the bus touches.</param>
    /// <param name="claimIdleTime">How long an unacknowledged entry stays with its consumer before others may claim it; 5 s unless given.</param>
    public RedisMessageBus(IDatabase database, string prefix, TimeSpan? claimIdleTime = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        var idle = claimIdleTime ?? DefaultClaimIdleTime;
        ArgumentOutOfRangeException.ThrowIfLessThan(idle, TimeSpan.FromMilliseconds(1), nameof(claimIdleTime));
        _database = database;
        _prefix = prefix;
        _claimIdleTime = idle;
    }

    public async ValueTask PublishAsync<T>(string topic, T message, CancellationToken cancellationToken) where T : class
    {
        ArgumentNullException.ThrowIfNull(message);
        cancellationToken.ThrowIfCancellationRequested();
        var json = JsonSerializer.SerializeToUtf8Bytes(message, WireOptions);
        var key = StreamKey(topic);
        await _database.ScriptEvaluateAsync(PublishScript, [key, SleepersKey(topic)], [json, WakeChannel(topic)]).ConfigureAwait(false);
    }

    public async ValueTask PublishBatchAsync<T>(string topic, IReadOnlyList<T> messages, CancellationToken cancellationToken) where T : class
    {
        ArgumentNullException.ThrowIfNull(messages);
        cancellationToken.ThrowIfCancellationRequested();
        if (messages.Count == 0) return;
        if (messages.Count == 1)
        {
            await PublishAsync(topic, messages[0], cancellationToken).ConfigureAwait(false);
            return;
        }
        var key = StreamKey(topic);
        var wake = WakeChannel(topic);
        for (var start = 0; start < messages.Count; start += PublishChunk)
        {
            var count = Math.Min(PublishChunk, messages.Count - start);
            var args = new RedisValue[count + 1];
            for (var i = 0; i < count; i++)
            {
                var message = messages[start + i] ?? throw new ArgumentException("a message is null", nameof(messages));
                args[i] = JsonSerializer.SerializeToUtf8Bytes(message, WireOptions);
            }
            args[count] = wake;
            await _database.ScriptEvaluateAsync(PublishBatchScript, [key, SleepersKey(topic)], args).ConfigureAwait(false);
        }
    }

    public async ValueTask<IMessageSubscription<T>> SubscribeAsync<T>(string topic, string group, CancellationToken cancellationToken) where T : class
    {
        cancellationToken.ThrowIfCancellationRequested();
        var key = StreamKey(topic);
        try
        {
            await _database.StreamCreateConsumerGroupAsync(key, group, StreamPosition.NewMessages, createStream: true).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal))
        {
            // The group exists already: join it where it is.
        }
        var consumer = Environment.MachineName + "-" + Guid.NewGuid().ToString("N");
        var subscription = new Subscription<T>(_database, key, SleepersKey(topic), group, consumer, _claimIdleTime);
        await subscription.ListenAsync(RedisChannel.Literal(WakeChannel(topic))).ConfigureAwait(false);
        return subscription;
    }

    private RedisKey StreamKey(string topic) => _prefix + ":bus:" + topic;

    private string WakeChannel(string topic) => _prefix + ":bus-wake:" + topic;

    /// <summary>Set while a reader of the stream may be asleep waiting for a wake-up.</summary>
    private RedisKey SleepersKey(string topic) => _prefix + ":bus-sleepers:" + topic;

    private sealed class Subscription<T>(IDatabase database, RedisKey key, RedisKey sleepers, RedisValue group, RedisValue consumer, TimeSpan claimIdleTime)
        : IMessageSubscription<T> where T : class
    {
        // Released by wake-ups; holds at most one permit, so a burst of publishes wakes one read.
        private readonly SemaphoreSlim _wake = new(0, 1);
        private RedisChannel _channel;
        private Action<RedisChannel, RedisValue>? _onWake;

        public async Task ListenAsync(RedisChannel channel)
        {
            _channel = channel;
            _onWake = (_, _) =>
            {
                try { _wake.Release(); }
                catch (SemaphoreFullException) { } // already awake
            };
            await database.Multiplexer.GetSubscriber().SubscribeAsync(channel, _onWake).ConfigureAwait(false);
        }
        private readonly long _claimIdleMs = (long)Math.Ceiling(claimIdleTime.TotalMilliseconds);
        private readonly TimeSpan _claimEvery = TimeSpan.FromTicks(Math.Clamp(claimIdleTime.Ticks / 2, TimeSpan.TicksPerMillisecond * 5, TimeSpan.TicksPerSecond * 5));
        private readonly Lock _claimGate = new();
        private long _nextClaim; // Stopwatch timestamp; 0 = claim on the first read
        private RedisValue _claimCursor = "0-0";

        public async ValueTask<Delivery<T>> ReadAsync(CancellationToken cancellationToken) =>
            (await ReadSomeAsync(1, cancellationToken).ConfigureAwait(false))[0];

        public async ValueTask<DeliveryBatch<T>> ReadBatchAsync(int max, CancellationToken cancellationToken)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
            var deliveries = await ReadSomeAsync(max, cancellationToken).ConfigureAwait(false);
            if (deliveries.Count == 1) return new DeliveryBatch<T>(deliveries);
            var ids = new RedisValue[deliveries.Count];
            for (var i = 0; i < ids.Length; i++) ids[i] = ((Receipt)deliveries[i].Ack!.Target!).Id;
            return new DeliveryBatch<T>(deliveries, () =>
            {
                database.StreamAcknowledge(key, group, ids, AckFlags);
                return ValueTask.CompletedTask;
            });
        }

        /// <summary>Waits until at least one entry is there, then delivers up to <paramref name="max"/> of them (claimed ones first).</summary>
        private async ValueTask<List<Delivery<T>>> ReadSomeAsync(int max, CancellationToken cancellationToken)
        {
            var pause = MinPollInterval;
            var sleeping = false;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (ClaimDue())
                {
                    var claimed = await database.StreamAutoClaimAsync(key, group, consumer, _claimIdleMs, ClaimCursor(), max).ConfigureAwait(false);
                    var deliveries = Claimed(claimed);
                    if (deliveries.Count > 0) return deliveries;
                }
                // A plain read while entries flow; once one found nothing, read and raise the
                // sleepers flag in one step (and keep it raised while polling).
                var entries = sleeping
                    ? await ReadOrSleepAsync(max).ConfigureAwait(false)
                    : await database.StreamReadGroupAsync(key, group, consumer, StreamPosition.NewMessages, max).ConfigureAwait(false);
                if (entries.Length > 0)
                {
                    var deliveries = DeliverAll(entries);
                    if (deliveries.Count > 0) return deliveries;
                    pause = MinPollInterval;
                    continue; // only unreadable entries, now dropped: look for the next at once
                }
                if (!sleeping)
                {
                    sleeping = true;
                    continue;
                }
                // Sleep until a publish wakes us, or poll again after the pause (a wake-up may be
                // lost), or when entries of crashed consumers are due to be claimed.
                if (await _wake.WaitAsync(Min(pause, UntilClaimDue()), cancellationToken).ConfigureAwait(false)) sleeping = false;
                pause = Min(pause * 2, MaxPollInterval);
            }
        }

        public bool TryRead(out Delivery<T> delivery)
        {
            while (true)
            {
                if (ClaimDue() && Claimed(database.StreamAutoClaim(key, group, consumer, _claimIdleMs, ClaimCursor(), 1)) is [var claimed, ..])
                {
                    delivery = claimed;
                    return true;
                }
                var entries = database.StreamReadGroup(key, group, consumer, StreamPosition.NewMessages, 1);
                if (entries.Length == 0)
                {
                    delivery = default;
                    return false;
                }
                if (Deliver(entries[0]) is { } read)
                {
                    delivery = read;
                    return true;
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                if (_onWake is not null) await database.Multiplexer.GetSubscriber().UnsubscribeAsync(_channel, _onWake).ConfigureAwait(false);
            }
            catch (RedisException)
            {
            }
            catch (ObjectDisposedException)
            {
            }
            try
            {
                await database.ScriptEvaluateAsync(LeaveScript, [key], [group, consumer]).ConfigureAwait(false);
                Trim();
            }
            catch (RedisException)
            {
                // Best effort: a consumer left behind only costs a little memory on the server.
            }
            catch (ObjectDisposedException)
            {
            }
        }

        private bool ClaimDue()
        {
            lock (_claimGate) return Stopwatch.GetTimestamp() >= _nextClaim;
        }

        private async Task<StreamEntry[]> ReadOrSleepAsync(int max)
        {
            var result = await database.ScriptEvaluateAsync(ReadOrSleepScript, [key, sleepers], [group, consumer, max, SleepersFlagMs]).ConfigureAwait(false);
            // Nothing, or [[stream, [[id, [field, value, ...]], ...]]].
            if (result.IsNull || result.Length == 0) return [];
            var streams = (RedisResult[])result!;
            var raw = (RedisResult[])((RedisResult[])streams[0]!)[1]!;
            var entries = new StreamEntry[raw.Length];
            for (var i = 0; i < raw.Length; i++)
            {
                var entry = (RedisResult[])raw[i]!;
                var fields = entry[1].IsNull ? [] : (RedisResult[])entry[1]!;
                var values = new NameValueEntry[fields.Length / 2];
                for (var f = 0; f < values.Length; f++) values[f] = new NameValueEntry((RedisValue)fields[2 * f], (RedisValue)fields[2 * f + 1]);
                entries[i] = new StreamEntry((RedisValue)entry[0], values);
            }
            return entries;
        }

        /// <summary>Trims the stream in the background; a failed trim only leaves entries for the next one.</summary>
        private void Trim()
        {
            try { database.ScriptEvaluate(TrimScript, [key], flags: CommandFlags.FireAndForget); }
            catch (RedisException) { }
            catch (ObjectDisposedException) { }
        }

        private TimeSpan UntilClaimDue()
        {
            long next;
            lock (_claimGate) next = _nextClaim;
            return TimeSpan.FromTicks(Math.Max(0, (long)((next - Stopwatch.GetTimestamp()) * (double)TimeSpan.TicksPerSecond / Stopwatch.Frequency)));
        }

        private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

        private RedisValue ClaimCursor()
        {
            lock (_claimGate) return _claimCursor;
        }

        /// <summary>Notes where the next claim continues and when it is due; returns the claimed entries as deliveries.</summary>
        private List<Delivery<T>> Claimed(StreamAutoClaimResult result)
        {
            // Entries deleted from the stream while pending come back without values: skip them.
            var deliveries = new List<Delivery<T>>();
            var found = false;
            foreach (var claimed in result.ClaimedEntries ?? [])
            {
                if (claimed.IsNull || claimed.Values is not { Length: > 0 }) continue;
                found = true;
                if (Deliver(claimed) is { } delivery) deliveries.Add(delivery);
            }
            lock (_claimGate)
            {
                _claimCursor = result.NextStartId.IsNull ? "0-0" : result.NextStartId;
                // Claim again at once while there is a backlog; otherwise wait a while.
                var more = found || _claimCursor != "0-0";
                _nextClaim = more ? 0 : Stopwatch.GetTimestamp() + (long)(_claimEvery.TotalSeconds * Stopwatch.Frequency);
                // Nothing left to claim: a good moment to drop what every group has handled.
                if (!more) Trim();
            }
            return deliveries;
        }

        private List<Delivery<T>> DeliverAll(StreamEntry[] entries)
        {
            var deliveries = new List<Delivery<T>>(entries.Length);
            foreach (var entry in entries)
            {
                if (Deliver(entry) is { } delivery) deliveries.Add(delivery);
            }
            return deliveries;
        }

        /// <summary>
        /// The entry as a delivery; null when it does not hold a <typeparamref name="T"/> (no message
        /// field, not JSON of that shape), in which case it is acknowledged at once: redelivering it
        /// could never succeed, and it must not stop the subscription.
        /// </summary>
        private Delivery<T>? Deliver(StreamEntry entry)
        {
            var json = entry[Field];
            T? message = null;
            if (!json.IsNull)
            {
                try
                {
                    message = JsonSerializer.Deserialize<T>((byte[])json!, WireOptions);
                }
                catch (JsonException)
                {
                }
            }
            var id = entry.Id;
            if (message is null)
            {
                database.StreamAcknowledge(key, group, id);
                return null;
            }
            return new Delivery<T>(message, new Receipt(database, key, group, id).AckAsync);
        }

        /// <summary>What acknowledging one entry needs; a batch collects the ids from its deliveries' receipts.</summary>
        private sealed class Receipt(IDatabase database, RedisKey key, RedisValue group, RedisValue id)
        {
            public RedisValue Id => id;

            public ValueTask AckAsync()
            {
                database.StreamAcknowledge(key, group, id, AckFlags);
                return ValueTask.CompletedTask;
            }
        }
    }
}
