using System.Globalization;
using System.Text.Json;
using Orch.Protocol;

namespace Orch.Coordination.Dapr;

/// <summary>
/// Resource locks kept as one lock table in any <see cref="IStateStore"/>, changed only by
/// compare-and-set, so every process that uses the same store and key shares them. Dapr's own
/// lock API is alpha and has neither semaphores, multi-resource grants nor fencing, so this is
/// built on state instead.
/// <list type="bullet">
/// <item><b>All-or-nothing:</b> each change reads the table, changes it in memory and writes it back
/// only if nobody wrote in between; a request for several resources is granted in one such write.</item>
/// <item><b>FIFO with reservation:</b> waiters are queued by ticket. Every write first scans the
/// queue oldest first and grants each waiter that fits; one that does not fit reserves what it
/// wants, so younger waiters cannot overtake it on those resources.</item>
/// <item><b>Fencing tokens:</b> each resource keeps a counter that only grows; every grant takes the next value.</item>
/// <item><b>Expiry on read:</b> a lease whose expiry (by the given <see cref="TimeProvider"/>) has
/// passed is dropped by the next read-and-write of anyone, and its resources go to the next waiters.</item>
/// </list>
/// Waiters poll the table with a short backoff (a read each; a write only when something
/// changed), and wake at once when this instance changes it. A waiter whose process stops
/// polling for 30 seconds is dropped from the queue, so a crashed process blocks nobody for long.
/// Cost: every operation reads (and most write) the whole table, which grows with the number of
/// resources, leases and waiters; all contention is on that one key.
/// </summary>
public sealed class StateStoreResourceLocks : IResourceLocks
{
    private static readonly TimeSpan WaiterAlive = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromMilliseconds(50);

    private readonly IStateStore _store;
    private readonly string _key;
    private readonly TimeProvider _time;
    // One change at a time from this instance: racing ourselves would only make compare-and-set fail more.
    private readonly SemaphoreSlim _gate = new(1, 1);
    private TaskCompletionSource _wake = NewWake();

    /// <param name="store">Holds the lock table.</param>
    /// <param name="key">The lock table's key; instances sharing it share the locks.</param>
    /// <param name="time">The clock for lease expiry.</param>
    public StateStoreResourceLocks(IStateStore store, string key, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(time);
        _store = store;
        _key = key;
        _time = time;
    }

    public async ValueTask<LockLease> AcquireAsync(IReadOnlyList<LockRequest> requests, string holder, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(holder);
        var wanted = LockRequest.Normalize(requests);
        cancellationToken.ThrowIfCancellationRequested();
        var leaseMs = Math.Max(0, (long)Math.Ceiling(leaseTime.TotalMilliseconds));

        var wake = Volatile.Read(ref _wake).Task;
        var ticket = await EnqueueAsync(wanted, holder, leaseMs, cancellationToken).ConfigureAwait(false);
        try
        {
            var backoff = FirstBackoff;
            while (true)
            {
                var (status, lease) = await UpdateAsync((table, now) => Pickup(table, ticket, now), cancellationToken).ConfigureAwait(false);
                if (status == Granted) return lease!;
                if (status == Lost)
                {
                    // Dropped as abandoned (this process did not poll for a long time): queue again.
                    ticket = await EnqueueAsync(wanted, holder, leaseMs, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                await Task.WhenAny(wake, Task.Delay(backoff, cancellationToken)).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                backoff = backoff * 2 < MaxBackoff ? backoff * 2 : MaxBackoff;
                wake = Volatile.Read(ref _wake).Task;
            }
        }
        catch (Exception)
        {
            // Leave the queue, and give back a grant that came in the meantime, so nobody waits for us.
            await UpdateAsync((table, _) =>
            {
                var waiter = table.Queue.Find(w => w.Ticket == ticket);
                if (waiter is null) return 0;
                table.Queue.Remove(waiter);
                if (waiter.Granted is { } id) table.Leases.Remove(id);
                return 0;
            }, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask<bool> RenewAsync(string leaseId, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(leaseId);
        var ms = Math.Max(0, (long)Math.Ceiling(leaseTime.TotalMilliseconds));
        return await UpdateAsync((table, now) =>
        {
            if (!table.Leases.TryGetValue(leaseId, out var lease)) return false;
            lease.Expires = now + ms;
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask ReleaseAsync(string leaseId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(leaseId);
        await UpdateAsync((table, _) =>
        {
            table.Leases.Remove(leaseId);
            return 0;
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<LockStatus>> ListAsync(CancellationToken cancellationToken) =>
        await UpdateAsync((table, _) =>
        {
            var holders = table.Leases.OrderBy(l => l.Value.Order).SelectMany(l => l.Value.Resources.Select(r => (Resource: r, l.Value.Holder))).ToLookup(h => h.Resource, h => h.Holder, StringComparer.Ordinal);
            var waiters = table.Queue.Where(w => w.Granted is null).SelectMany(w => w.Resources.Select(r => (Resource: r, w.Holder))).ToLookup(w => w.Resource, w => w.Holder, StringComparer.Ordinal);
            return (IReadOnlyList<LockStatus>)table.Resources
                .OrderBy(r => r.Key, StringComparer.Ordinal)
                .Select(r => new LockStatus(r.Key, r.Value.Capacity, holders[r.Key].ToList(), waiters[r.Key].ToList()))
                .ToList();
        }, cancellationToken).ConfigureAwait(false);

    private const int Waiting = 0;
    private const int Granted = 1;
    private const int Lost = -1;

    private Task<long> EnqueueAsync(List<LockRequest> wanted, string holder, long leaseMs, CancellationToken cancellationToken) =>
        UpdateAsync((table, now) =>
        {
            foreach (var request in wanted) table.Resources.TryAdd(request.Resource, new ResourceRow { Capacity = request.Capacity });
            var ticket = ++table.Sequence;
            table.Queue.Add(new WaiterRow
            {
                Ticket = ticket,
                Holder = holder,
                Resources = wanted.Select(r => r.Resource).ToList(),
                LeaseMs = leaseMs,
                AliveUntil = now + (long)WaiterAlive.TotalMilliseconds,
            });
            return ticket;
        }, cancellationToken);

    private static (int Status, LockLease? Lease) Pickup(Table table, long ticket, long now)
    {
        var waiter = table.Queue.Find(w => w.Ticket == ticket);
        if (waiter is null) return (Lost, null);
        if (waiter.Granted is { } id && table.Leases.TryGetValue(id, out var lease))
        {
            table.Queue.Remove(waiter);
            var grants = waiter.Resources.Select((r, i) => new LockGrant(r, lease.Tokens[i])).ToList();
            return (Granted, new LockLease(id, lease.Holder, grants, DateTimeOffset.FromUnixTimeMilliseconds(lease.Expires)));
        }
        // Refreshed only when half the keep-alive is used up, so that polling is mostly reads.
        if (waiter.AliveUntil - now < (long)WaiterAlive.TotalMilliseconds / 2) waiter.AliveUntil = now + (long)WaiterAlive.TotalMilliseconds;
        return (Waiting, null);
    }

    /// <summary>Drops what expired, grants what fits in queue order, applies <paramref name="change"/>, grants again, and writes the table back if it changed.</summary>
    private async Task<T> UpdateAsync<T>(Func<Table, long, T> change, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            while (true)
            {
                var stored = await _store.GetAsync(_key, cancellationToken).ConfigureAwait(false);
                var table = stored is null ? new Table() : JsonSerializer.Deserialize<Table>(stored.Value) ?? new Table();
                var before = stored?.Value ?? [];
                var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
                Pump(table, now);
                var result = change(table, now);
                Pump(table, now);
                var after = JsonSerializer.SerializeToUtf8Bytes(table);
                if (after.AsSpan().SequenceEqual(before)) return result;
                if (await _store.TrySetAsync(_key, after, stored?.Version ?? 0, cancellationToken).ConfigureAwait(false) is null) continue;
                Interlocked.Exchange(ref _wake, NewWake()).TrySetResult();
                return result;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private static void Pump(Table table, long now)
    {
        foreach (var expired in table.Leases.Where(l => l.Value.Expires <= now).Select(l => l.Key).ToList()) table.Leases.Remove(expired);
        // A grant that expired before its waiter picked it up: the waiter waits again, in its old place.
        foreach (var waiter in table.Queue.Where(w => w.Granted is { } id && !table.Leases.ContainsKey(id))) waiter.Granted = null;
        foreach (var abandoned in table.Queue.Where(w => w.AliveUntil < now).ToList())
        {
            table.Queue.Remove(abandoned);
            if (abandoned.Granted is { } id) table.Leases.Remove(id);
        }
        var held = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var lease in table.Leases.Values)
        {
            foreach (var r in lease.Resources) held[r] = held.GetValueOrDefault(r) + 1;
        }
        var reserved = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var waiter in table.Queue)
        {
            if (waiter.Granted is not null) continue;
            var fits = waiter.Resources.All(r => held.GetValueOrDefault(r) + reserved.GetValueOrDefault(r) < (table.Resources.TryGetValue(r, out var row) ? row.Capacity : 1));
            if (!fits)
            {
                foreach (var r in waiter.Resources) reserved[r] = reserved.GetValueOrDefault(r) + 1;
                continue;
            }
            var id = "lease-" + (++table.Sequence).ToString(CultureInfo.InvariantCulture);
            var tokens = new List<long>();
            foreach (var r in waiter.Resources)
            {
                if (!table.Resources.TryGetValue(r, out var row)) table.Resources[r] = row = new ResourceRow { Capacity = 1 };
                tokens.Add(++row.Fence);
                held[r] = held.GetValueOrDefault(r) + 1;
            }
            table.Leases[id] = new LeaseRow { Holder = waiter.Holder, Resources = waiter.Resources, Expires = now + waiter.LeaseMs, Tokens = tokens, Order = table.Sequence };
            waiter.Granted = id;
        }
    }

    private static TaskCompletionSource NewWake() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    // The stored table. Resources are never removed, so their fencing counters only grow.
    private sealed class Table
    {
        public long Sequence { get; set; }
        public SortedDictionary<string, ResourceRow> Resources { get; set; } = new(StringComparer.Ordinal);
        public SortedDictionary<string, LeaseRow> Leases { get; set; } = new(StringComparer.Ordinal);
        public List<WaiterRow> Queue { get; set; } = [];
    }

    private sealed class ResourceRow
    {
        public int Capacity { get; set; }
        public long Fence { get; set; }
    }

    private sealed class LeaseRow
    {
        public string Holder { get; set; } = "";
        public List<string> Resources { get; set; } = [];
        public long Expires { get; set; }
        public List<long> Tokens { get; set; } = [];
        public long Order { get; set; }
    }

    private sealed class WaiterRow
    {
        public long Ticket { get; set; }
        public string Holder { get; set; } = "";
        public List<string> Resources { get; set; } = [];
        public long LeaseMs { get; set; }
        public long AliveUntil { get; set; }
        public string? Granted { get; set; }
    }
}
