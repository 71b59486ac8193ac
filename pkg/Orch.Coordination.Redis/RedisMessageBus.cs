using System.Diagnostics;
using System.Text.Json;
using Orch.Protocol;
using StackExchange.Redis;

namespace Orch.Coordination.Redis;

/// <summary>
/// Publish/subscribe on Redis Streams. A topic is the stream <c>{prefix}:bus:{topic}</c>, a group
/// is a Redis consumer group on it, and every subscription is a consumer of its own (a unique
/// name), so within a group each entry goes to one subscription and every group sees every entry.
/// Messages are stored as System.Text.Json (<see cref="CoordinationJson.Options"/>), so a message type
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
/// ids): one lost with a dropped connection only means one more delivery.
/// A batch read (<c>ReadBatchAsync</c>) is one <c>XREADGROUP … COUNT</c>; a batch publish is one
/// script of <c>XADD</c>s (up to 256).
/// Every subscription reads on a connection of its own with a blocking <c>XREADGROUP … BLOCK</c>
/// (the shared connection would stall behind it), so the server hands a published entry to a
/// waiting reader as part of the publish: no wake-up message, no poll interval. The blocking read
/// is bounded (<see cref="MaxBlock"/>) so that entries of crashed consumers are claimed on time.
/// Everything else (acknowledgements, claims, trimming) goes over the shared connection.
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

    /// <summary>The longest a read blocks on the server before the subscription looks for entries to claim.</summary>
    public static readonly TimeSpan MaxBlock = TimeSpan.FromSeconds(1);

    private const string Field = "m";

    // Acknowledgements go out on the shared connection without waiting for the reply: one lost
    // with a dropped connection only means one more delivery, which at-least-once allows.
    private const CommandFlags AckFlags = CommandFlags.FireAndForget;

    // The protocol's JSON, escaping only what JSON requires: a signed envelope carries its payload
    // as a string, and the default escaping would write every quote in it as six bytes.
    private static readonly JsonSerializerOptions WireOptions = new(CoordinationJson.Options)
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

    // KEYS: stream. ARGV: messages.
    private const string PublishBatchScript = """
        for i = 1, #ARGV do redis.call('XADD', KEYS[1], '*', 'm', ARGV[i]) end
        return #ARGV
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

    /// <summary>At most this many messages go into one publishing script, so one script never stalls the server for long.</summary>
    private const int PublishChunk = 256;

    private readonly IDatabase _database;
    private readonly string _prefix;
    private readonly TimeSpan _claimIdleTime;
    private readonly ConfigurationOptions? _options;

    /// <param name="database">The database to use.</param>
    /// <param name="prefix">Starts every Redis key the bus touches.</param>
    /// <param name="claimIdleTime">How long an unacknowledged entry stays with its consumer before others may claim it; 5 s unless given.</param>
    /// <param name="database">The shared connection's database.</param>
    /// <param name="prefix">Starts every key of the bus.</param>
    /// <param name="claimIdleTime">How long an unacknowledged entry stays with its consumer before others may take it.</param>
    /// <param name="options">How to connect a subscription's reading connection (credentials included); read from the shared connection unless given.</param>
    public RedisMessageBus(IDatabase database, string prefix, TimeSpan? claimIdleTime = null, ConfigurationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        var idle = claimIdleTime ?? DefaultClaimIdleTime;
        ArgumentOutOfRangeException.ThrowIfLessThan(idle, TimeSpan.FromMilliseconds(1), nameof(claimIdleTime));
        _database = database;
        _prefix = prefix;
        _claimIdleTime = idle;
        _options = options;
    }

    public async ValueTask PublishAsync<T>(string topic, T message, CancellationToken cancellationToken) where T : class
    {
        ArgumentNullException.ThrowIfNull(message);
        cancellationToken.ThrowIfCancellationRequested();
        var json = JsonSerializer.SerializeToUtf8Bytes(message, WireOptions);
        await _database.StreamAddAsync(StreamKey(topic), Field, json).ConfigureAwait(false);
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
        for (var start = 0; start < messages.Count; start += PublishChunk)
        {
            var count = Math.Min(PublishChunk, messages.Count - start);
            var args = new RedisValue[count];
            for (var i = 0; i < count; i++)
            {
                var message = messages[start + i] ?? throw new ArgumentException("a message is null", nameof(messages));
                args[i] = JsonSerializer.SerializeToUtf8Bytes(message, WireOptions);
            }
            await _database.ScriptEvaluateAsync(PublishBatchScript, [key], args).ConfigureAwait(false);
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
        var reader = await OpenReaderAsync().ConfigureAwait(false);
        return new Subscription<T>(_database, reader, key, group, consumer, _claimIdleTime);
    }

    /// <summary>
    /// A connection for one subscription's blocking reads, to the same server with the same
    /// settings as the shared one. It reconnects by itself after the server comes back; reads
    /// fail meanwhile, as commands on the shared connection do.
    /// </summary>
    private async Task<IConnectionMultiplexer> OpenReaderAsync()
    {
        var options = _options?.Clone() ?? ConfigurationOptions.Parse(_database.Multiplexer.Configuration);
        options.AbortOnConnectFail = false;
        // A blocked read is an outstanding command: it must not count as timed out.
        options.AsyncTimeout = Math.Max(options.AsyncTimeout, (int)MaxBlock.TotalMilliseconds * 5);
        return await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
    }

    private RedisKey StreamKey(string topic) => _prefix + ":bus:" + topic;

    private sealed class Subscription<T>(IDatabase database, IConnectionMultiplexer reader, RedisKey key, RedisValue group, RedisValue consumer, TimeSpan claimIdleTime)
        : IMessageSubscription<T> where T : class
    {
        private readonly IDatabase _reader = reader.GetDatabase(database.Database);

        // A read blocked on the server cannot be called off: one whose caller was cancelled is
        // taken up by the next read, so the entries it brings are delivered rather than left pending.
        private Task<RedisResult>? _pendingRead;
        // Entries such a read brought beyond what the next caller asked for, delivered first.
        private readonly Queue<Delivery<T>> _leftOver = new();
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
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (_leftOver.Count > 0)
                {
                    var taken = new List<Delivery<T>>();
                    while (taken.Count < max && _leftOver.TryDequeue(out var next)) taken.Add(next);
                    return taken;
                }
                if (_pendingRead is null && ClaimDue())
                {
                    var claimed = await database.StreamAutoClaimAsync(key, group, consumer, _claimIdleMs, ClaimCursor(), max).ConfigureAwait(false);
                    var fromClaim = Claimed(claimed);
                    if (fromClaim.Count > 0) return fromClaim;
                }
                // Blocks on the server until an entry is published, or until claiming is due again.
                var read = _pendingRead ??= _reader.ExecuteAsync("XREADGROUP",
                    ["GROUP", group, consumer, "COUNT", max, "BLOCK", BlockMs(), "STREAMS", key, ">"]);
                if (!read.IsCompleted)
                {
                    try
                    {
                        await read.WaitAsync(cancellationToken).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!read.IsCompleted)
                    {
                        throw; // the read stays pending for the next call
                    }
                    catch (Exception) when (read.IsCompleted)
                    {
                        // Finished as the wait was called off, or failed: its outcome is taken below.
                    }
                }
                _pendingRead = null;
                var deliveries = DeliverAll(Entries(await read.ConfigureAwait(false)));
                if (deliveries.Count <= max)
                {
                    if (deliveries.Count > 0) return deliveries;
                    continue;
                }
                foreach (var extra in deliveries.Skip(max)) _leftOver.Enqueue(extra);
                return deliveries[..max];
            }
        }

        /// <summary>How long the next read may block: until claiming is due, at most <see cref="MaxBlock"/>, at least 1 ms (0 would block for ever).</summary>
        private long BlockMs() => Math.Max(1, (long)Math.Ceiling(Min(UntilClaimDue(), MaxBlock).TotalMilliseconds));

        public bool TryRead(out Delivery<T> delivery)
        {
            if (_leftOver.TryDequeue(out delivery)) return true;
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
            // The reading connection goes first, so no entry is handed to this consumer after it has left.
            try
            {
                await reader.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
            }
            catch (RedisException)
            {
            }
            finally
            {
                await reader.DisposeAsync().ConfigureAwait(false);
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

        /// <summary>
        /// The entries of an <c>XREADGROUP</c> reply on one stream: nothing, or [[stream, [[id,
        /// [field, value, ...]], ...]]] (under RESP3 a map of stream to entries).
        /// </summary>
        private static StreamEntry[] Entries(RedisResult result)
        {
            if (result.IsNull || result.Length == 0) return [];
            var streams = (RedisResult[])result!;
            var raw = (RedisResult[])(result.Resp3Type == ResultType.Map ? streams[1] : ((RedisResult[])streams[0]!)[1])!;
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
