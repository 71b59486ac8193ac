using System.Globalization;
using System.Text.Json;
using Orch.Protocol;
using StackExchange.Redis;

namespace Orch.Coordination.Redis;

/// <summary>
/// Resource locks kept in Redis, shared by every process that uses the same database and prefix.
/// <list type="bullet">
/// <item><b>All-or-nothing:</b> every change runs as one atomic Lua script, and a request for several
/// resources is granted in a single script step that takes all of them or none, so no set of
/// holders can deadlock and no ordering between resources is needed.</item>
/// <item><b>FIFO with reservation:</b> waiters sit in one global queue ordered by ticket. Each script run
/// scans the queue oldest first and grants every waiter that fits; a waiter that does not fit
/// reserves what it wants, so younger waiters cannot overtake it on those resources.</item>
/// <item><b>Fencing tokens:</b> every grant of a resource carries a token from that resource's counter,
/// strictly increasing for as long as the Redis data lives.</item>
/// <item><b>Leases expire unless renewed:</b> a lease whose expiry (taken from the
/// <see cref="TimeProvider"/> of the caller) has passed is dropped by the next script run, and
/// its resources go to the next waiters.</item>
/// </list>
/// Waiters poll their grant with a short backoff; a grant also wakes them at once through a
/// Redis channel (<c>PREFIX:granted</c>), and waiters in the same instance directly. A waiter is
/// kept alive by its own polling; a waiter whose process stops polling for
/// 30 seconds (by the Redis server's clock) is dropped from the queue, so a crashed process
/// cannot block the others forever. All keys start with the prefix; on a Redis cluster give the
/// prefix a hash tag (<c>{orch}:locks</c>) so that they share one slot.
/// </summary>
public sealed class RedisResourceLocks : IResourceLocks, IAsyncDisposable
{
    private const int WaiterAliveMilliseconds = 30_000;
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromMilliseconds(50);

    private readonly IDatabase _database;
    private readonly string _prefix;
    private readonly RedisKey[] _keys;
    private readonly TimeProvider _time;
    private readonly RedisChannel _grantedChannel;
    private readonly Action<RedisChannel, RedisValue> _onGranted;
    private TaskCompletionSource _wake = NewWake();
    private Task? _subscription;

    public RedisResourceLocks(IDatabase database, string prefix, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        ArgumentNullException.ThrowIfNull(time);
        _database = database;
        _prefix = prefix;
        _keys = [prefix + ":seq"];
        _time = time;
        _grantedChannel = RedisChannel.Literal(prefix + ":granted");
        _onGranted = (_, _) => Wake();
    }

    public async ValueTask<LockLease> AcquireAsync(IReadOnlyList<LockRequest> requests, string holder, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(holder);
        var wanted = LockRequest.Normalize(requests);
        cancellationToken.ThrowIfCancellationRequested();

        var resources = JsonSerializer.Serialize(wanted.Select(r => r.Resource).ToList());
        var capacities = JsonSerializer.Serialize(wanted.Select(r => r.Capacity).ToList());
        var leaseMs = Milliseconds(leaseTime);

        await SubscribeOnceAsync().ConfigureAwait(false);
        var wake = Volatile.Read(ref _wake).Task;
        var state = await EnqueueAsync(holder, leaseMs, resources, capacities).ConfigureAwait(false);
        try
        {
            var backoff = FirstBackoff;
            while (true)
            {
                switch (state.Status)
                {
                    case Granted:
                        return ToLease(state, holder, wanted);
                    case Lost: // dropped as abandoned (this process did not poll for a long time): queue again
                        wake = Volatile.Read(ref _wake).Task;
                        state = await EnqueueAsync(holder, leaseMs, resources, capacities).ConfigureAwait(false);
                        continue;
                }
                await Task.WhenAny(wake, Task.Delay(backoff, cancellationToken)).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                backoff = backoff * 2 < MaxBackoff ? backoff * 2 : MaxBackoff;
                wake = Volatile.Read(ref _wake).Task;
                state = await PollAsync(state.Ticket).ConfigureAwait(false);
            }
        }
        catch (Exception)
        {
            // Leave the queue (and give back a grant that came in the meantime) so nobody waits for us.
            try
            {
                await RunAsync(Scripts.Cancel, state.Ticket).ConfigureAwait(false);
            }
            catch (RedisException)
            {
                // The waiter stops polling, so it is dropped as abandoned; a grant expires with its lease.
            }
            throw;
        }
    }

    public async ValueTask<bool> RenewAsync(string leaseId, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(leaseId);
        var result = (RedisResult[])(await RunAsync(Scripts.Renew, leaseId, Milliseconds(leaseTime)).ConfigureAwait(false))!;
        return (long)result[1] == 1;
    }

    public async ValueTask ReleaseAsync(string leaseId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(leaseId);
        await RunAsync(Scripts.Release, leaseId).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<LockStatus>> ListAsync(CancellationToken cancellationToken)
    {
        var result = (RedisResult[])(await RunAsync(Scripts.List).ConfigureAwait(false))!;
        var list = new List<LockStatus>(result.Length - 1);
        for (var i = 1; i < result.Length; i++)
        {
            var entry = (RedisResult[])result[i]!;
            var holderPairs = (RedisResult[])entry[2]!;
            var holders = new List<(long Order, string Holder)>(holderPairs.Length / 2);
            for (var h = 0; h + 1 < holderPairs.Length; h += 2)
                holders.Add((LeaseNumber((string)holderPairs[h]!), (string)holderPairs[h + 1]!));
            list.Add(new LockStatus(
                (string)entry[0]!,
                (int)entry[1],
                holders.OrderBy(h => h.Order).Select(h => h.Holder).ToList(),
                ((RedisResult[])entry[3]!).Select(w => (string)w!).ToList()));
        }
        return list.OrderBy(s => s.Resource, StringComparer.Ordinal).ToList();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _subscription, Task.CompletedTask) is { } subscription && subscription != Task.CompletedTask)
        {
            await subscription.ConfigureAwait(false);
            try
            {
                await _database.Multiplexer.GetSubscriber().UnsubscribeAsync(_grantedChannel, _onGranted).ConfigureAwait(false);
            }
            catch (RedisException)
            {
                // The connection is gone, and the subscription with it.
            }
        }
    }

    /// <summary>Listens for grants made by other instances; without it waiters still find grants by polling.</summary>
    private Task SubscribeOnceAsync()
    {
        if (Volatile.Read(ref _subscription) is { } existing) return existing;
        var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _subscription, created.Task, null) is { } raced) return raced;
        _ = SubscribeAsync(created);
        return created.Task;
    }

    private async Task SubscribeAsync(TaskCompletionSource done)
    {
        try
        {
            await _database.Multiplexer.GetSubscriber().SubscribeAsync(_grantedChannel, _onGranted).ConfigureAwait(false);
        }
        catch (RedisException)
        {
            // Pub/sub unavailable (a proxy, or an ACL without channels): polling alone finds grants.
        }
        finally
        {
            done.TrySetResult();
        }
    }

    private void Wake() => Interlocked.Exchange(ref _wake, NewWake()).TrySetResult();

    private async Task<WaiterState> EnqueueAsync(string holder, long leaseMs, string resources, string capacities)
    {
        var result = await RunAsync(Scripts.Enqueue, holder, leaseMs, resources, capacities, WaiterAliveMilliseconds).ConfigureAwait(false);
        return ToState(result);
    }

    private async Task<WaiterState> PollAsync(long ticket) =>
        ToState(await RunAsync(Scripts.Poll, ticket, WaiterAliveMilliseconds).ConfigureAwait(false));

    /// <summary>Runs a script with the prefix and the current time; wakes local waiters when it granted something.</summary>
    private async Task<RedisResult> RunAsync(string script, params RedisValue[] arguments)
    {
        var values = new RedisValue[arguments.Length + 2];
        values[0] = _prefix;
        values[1] = _time.GetUtcNow().ToUnixTimeMilliseconds();
        arguments.CopyTo(values, 2);
        var result = await _database.ScriptEvaluateAsync(script, _keys, values).ConfigureAwait(false);
        var granted = result.Resp2Type == ResultType.Array ? (long)((RedisResult[])result!)[0] : (long)result;
        if (granted > 0) Wake();
        return result;
    }

    private const int Lost = -1;
    private const int Granted = 1;

    private readonly record struct WaiterState(long Ticket, int Status, string? LeaseId, long ExpiresAtMs, string Tokens);

    private static WaiterState ToState(RedisResult result)
    {
        var r = (RedisResult[])result!;
        var status = (int)r[2];
        return status == Granted
            ? new WaiterState((long)r[1], status, (string)r[3]!, (long)r[4], (string?)r[5] ?? "")
            : new WaiterState((long)r[1], status, null, 0, "");
    }

    private static LockLease ToLease(WaiterState state, string holder, List<LockRequest> wanted)
    {
        var tokens = state.Tokens.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (tokens.Length != wanted.Count) throw new InvalidOperationException($"lease {state.LeaseId} came back with {tokens.Length} fencing tokens for {wanted.Count} resources");
        var grants = wanted.Select((r, i) => new LockGrant(r.Resource, long.Parse(tokens[i], NumberStyles.Integer, CultureInfo.InvariantCulture))).ToList();
        return new LockLease(state.LeaseId!, holder, grants, DateTimeOffset.FromUnixTimeMilliseconds(state.ExpiresAtMs));
    }

    private static long LeaseNumber(string leaseId) =>
        long.TryParse(leaseId.AsSpan(leaseId.LastIndexOf('-') + 1), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : long.MaxValue;

    private static long Milliseconds(TimeSpan span) => Math.Max(0, (long)Math.Ceiling(span.TotalMilliseconds));

    private static TaskCompletionSource NewWake() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Lua scripts. ARGV[1] is the key prefix, ARGV[2] the caller's time in Unix milliseconds.
    /// Keys: <c>P:seq</c> (lease and ticket numbers), <c>P:resources</c> (set of names),
    /// <c>P:r:NAME</c> (hash: cap, fence), <c>P:h:NAME</c> (hash: lease id -> expiry),
    /// <c>P:l:ID</c> (hash: holder, res, exp), <c>P:leases</c> (zset: lease id by expiry),
    /// <c>P:queue</c> (zset: ticket by ticket), <c>P:w:TICKET</c> (hash: holder, ms, res, and once
    /// granted lease, exp, tokens; expires unless its waiter polls).
    /// Every script returns the number of waiters it granted first, and publishes that number on
    /// <c>P:granted</c> when it is not zero.
    /// </summary>
    private static class Scripts
    {
        private const string Common = """
            local P = ARGV[1] .. ':'
            local NOW = tonumber(ARGV[2])
            local Q = P .. 'queue'

            local function dropLease(id)
              redis.call('ZREM', P .. 'leases', id)
              local lk = P .. 'l:' .. id
              local res = redis.call('HGET', lk, 'res')
              if not res then return false end
              for _, r in ipairs(cjson.decode(res)) do
                redis.call('HDEL', P .. 'h:' .. r, id)
              end
              redis.call('DEL', lk)
              return true
            end

            local function grant(t, wk, holder, ms, resJson, res)
              local id = 'lease-' .. redis.call('INCR', P .. 'seq')
              local exp = NOW + ms
              local tokens = {}
              for i, r in ipairs(res) do
                tokens[i] = redis.call('HINCRBY', P .. 'r:' .. r, 'fence', 1)
                redis.call('HSET', P .. 'h:' .. r, id, exp)
              end
              redis.call('HSET', P .. 'l:' .. id, 'holder', holder, 'res', resJson, 'exp', exp)
              redis.call('ZADD', P .. 'leases', exp, id)
              redis.call('ZREM', Q, t)
              redis.call('HSET', wk, 'lease', id, 'exp', exp, 'tokens', table.concat(tokens, ' '))
            end

            local function pump()
              for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', ARGV[2])) do
                dropLease(id)
              end
              local granted = 0
              local reserved = {}
              for _, t in ipairs(redis.call('ZRANGE', Q, 0, -1)) do
                local wk = P .. 'w:' .. t
                local w = redis.call('HMGET', wk, 'holder', 'ms', 'res', 'lease')
                if (not w[1]) or w[4] then
                  redis.call('ZREM', Q, t)
                else
                  local res = cjson.decode(w[3])
                  local fits = true
                  for _, r in ipairs(res) do
                    local cap = tonumber(redis.call('HGET', P .. 'r:' .. r, 'cap')) or 1
                    if redis.call('HLEN', P .. 'h:' .. r) + (reserved[r] or 0) >= cap then
                      fits = false
                      break
                    end
                  end
                  if fits then
                    grant(t, wk, w[1], tonumber(w[2]), w[3], res)
                    granted = granted + 1
                  else
                    for _, r in ipairs(res) do reserved[r] = (reserved[r] or 0) + 1 end
                  end
                end
              end
              if granted > 0 then redis.call('PUBLISH', P .. 'granted', granted) end
              return granted
            end

            local function pickup(t, granted)
              local wk = P .. 'w:' .. t
              local w = redis.call('HMGET', wk, 'lease', 'exp', 'tokens', 'holder')
              if w[1] then
                redis.call('DEL', wk)
                return {granted, t, 1, w[1], tonumber(w[2]), w[3]}
              end
              if not w[4] then
                redis.call('ZREM', Q, t)
                return {granted, t, -1}
              end
              return {granted, t, 0}
            end

            """;

        /// <summary>ARGV[3] holder, [4] lease ms, [5] resources (JSON), [6] capacities (JSON), [7] waiter keep-alive ms.</summary>
        public const string Enqueue = Common + """
            local res = cjson.decode(ARGV[5])
            local caps = cjson.decode(ARGV[6])
            for i, r in ipairs(res) do
              redis.call('HSETNX', P .. 'r:' .. r, 'cap', caps[i])
              redis.call('SADD', P .. 'resources', r)
            end
            local t = redis.call('INCR', P .. 'seq')
            local wk = P .. 'w:' .. t
            redis.call('HSET', wk, 'holder', ARGV[3], 'ms', ARGV[4], 'res', ARGV[5])
            redis.call('PEXPIRE', wk, ARGV[7])
            redis.call('ZADD', Q, t, t)
            return pickup(t, pump())
            """;

        /// <summary>ARGV[3] ticket, [4] waiter keep-alive ms.</summary>
        public const string Poll = Common + """
            redis.call('PEXPIRE', P .. 'w:' .. ARGV[3], ARGV[4])
            return pickup(ARGV[3], pump())
            """;

        /// <summary>ARGV[3] ticket. Leaves the queue and gives back a grant not yet picked up.</summary>
        public const string Cancel = Common + """
            local wk = P .. 'w:' .. ARGV[3]
            local lease = redis.call('HGET', wk, 'lease')
            if lease then dropLease(lease) end
            redis.call('DEL', wk)
            redis.call('ZREM', Q, ARGV[3])
            return pump()
            """;

        /// <summary>ARGV[3] lease id, [4] lease ms. Returns {granted, 1} when renewed, {granted, 0} when gone.</summary>
        public const string Renew = Common + """
            local granted = pump()
            local lk = P .. 'l:' .. ARGV[3]
            local res = redis.call('HGET', lk, 'res')
            if not res then return {granted, 0} end
            local exp = NOW + tonumber(ARGV[4])
            redis.call('HSET', lk, 'exp', exp)
            redis.call('ZADD', P .. 'leases', exp, ARGV[3])
            for _, r in ipairs(cjson.decode(res)) do
              redis.call('HSET', P .. 'h:' .. r, ARGV[3], exp)
            end
            return {granted, 1}
            """;

        /// <summary>ARGV[3] lease id.</summary>
        public const string Release = Common + """
            dropLease(ARGV[3])
            return pump()
            """;

        /// <summary>Returns {granted, {name, capacity, {lease id, holder, ...}, {waiter, ...}}, ...}.</summary>
        public const string List = Common + """
            local granted = pump()
            local waiting = {}
            for _, t in ipairs(redis.call('ZRANGE', Q, 0, -1)) do
              local w = redis.call('HMGET', P .. 'w:' .. t, 'holder', 'res')
              if w[1] then
                for _, r in ipairs(cjson.decode(w[2])) do
                  waiting[r] = waiting[r] or {}
                  table.insert(waiting[r], w[1])
                end
              end
            end
            local out = {granted}
            for _, r in ipairs(redis.call('SMEMBERS', P .. 'resources')) do
              local holders = {}
              for _, id in ipairs(redis.call('HKEYS', P .. 'h:' .. r)) do
                local h = redis.call('HGET', P .. 'l:' .. id, 'holder')
                if h then
                  table.insert(holders, id)
                  table.insert(holders, h)
                end
              end
              table.insert(out, {r, tonumber(redis.call('HGET', P .. 'r:' .. r, 'cap')) or 1, holders, waiting[r] or {}})
            end
            return out
            """;
    }
}
