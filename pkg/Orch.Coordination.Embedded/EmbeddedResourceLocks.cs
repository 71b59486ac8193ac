using Orch.Protocol;

namespace Orch.Coordination.Embedded;

/// <summary>
/// In-process resource locks. All state sits behind one monitor, so a multi-resource grant is
/// atomic (all-or-nothing) and no ordering between resources is needed to avoid deadlock.
/// Fairness: waiters are scanned oldest first, and a waiter that cannot be served reserves the
/// resources it wants, so younger waiters cannot overtake it on those resources.
/// </summary>
public sealed class EmbeddedResourceLocks : IResourceLocks, IDisposable
{
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ResourceState> _resources = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Held> _leases = new(StringComparer.Ordinal);
    private readonly LinkedList<Waiter> _waiters = new();
    private readonly ITimer _expiryTimer;
    private long _nextLease;

    public EmbeddedResourceLocks(TimeProvider time)
    {
        _time = time;
        _expiryTimer = time.CreateTimer(_ => { lock (_gate) Pump(); }, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public ValueTask<LockLease> AcquireAsync(IReadOnlyList<LockRequest> requests, string holder, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        var wanted = LockRequest.Normalize(requests);
        var waiter = new Waiter(wanted, holder, leaseTime);
        lock (_gate)
        {
            foreach (var request in wanted)
            {
                if (!_resources.ContainsKey(request.Resource)) _resources[request.Resource] = new ResourceState(request.Capacity);
            }
            waiter.Node = _waiters.AddLast(waiter);
            Pump();
        }
        if (waiter.Completion.Task.IsCompleted) return new ValueTask<LockLease>(waiter.Completion.Task);
        if (cancellationToken.CanBeCanceled)
        {
            waiter.Cancellation = cancellationToken.Register(() =>
            {
                lock (_gate)
                {
                    if (waiter.Node?.List is null) return;
                    _waiters.Remove(waiter.Node);
                    waiter.Completion.TrySetCanceled(cancellationToken);
                    Pump(); // the waiter's reservations are gone: others may proceed
                }
            });
        }
        return new ValueTask<LockLease>(waiter.Completion.Task);
    }

    public ValueTask<bool> RenewAsync(string leaseId, TimeSpan leaseTime, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            Pump(); // an expired lease must not be renewable, and its waiters get their turn
            if (!_leases.TryGetValue(leaseId, out var held)) return ValueTask.FromResult(false);
            held.ExpiresAt = _time.GetUtcNow() + leaseTime;
            return ValueTask.FromResult(true);
        }
    }

    public ValueTask ReleaseAsync(string leaseId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_leases.Remove(leaseId, out var held))
            {
                foreach (var grant in held.Lease.Grants) _resources[grant.Resource].Holders.Remove(leaseId);
                Pump();
            }
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<LockStatus>> ListAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            Pump();
            IReadOnlyList<LockStatus> list = _resources
                .OrderBy(r => r.Key, StringComparer.Ordinal)
                .Select(r => new LockStatus(
                    r.Key,
                    r.Value.Capacity,
                    r.Value.Holders.Select(id => _leases[id].Lease.Holder).ToList(),
                    _waiters.Where(w => w.Requests.Any(q => q.Resource == r.Key)).Select(w => w.Holder).ToList()))
                .ToList();
            return ValueTask.FromResult(list);
        }
    }

    public void Dispose() => _expiryTimer.Dispose();

    /// <summary>Expires stale leases, then grants what can be granted, oldest waiter first. Caller holds the gate.</summary>
    private void Pump()
    {
        var now = ExpireStale();

        Dictionary<string, int>? reserved = null;
        for (var node = _waiters.First; node is not null;)
        {
            var next = node.Next;
            var waiter = node.Value;
            if (waiter.Requests.All(r => _resources[r.Resource].Holders.Count + Reserved(reserved, r.Resource) < _resources[r.Resource].Capacity))
            {
                _waiters.Remove(node);
                Grant(waiter, now);
            }
            else
            {
                reserved ??= new Dictionary<string, int>(StringComparer.Ordinal);
                foreach (var r in waiter.Requests) reserved[r.Resource] = Reserved(reserved, r.Resource) + 1;
            }
            node = next;
        }
    }

    /// <summary>Drops leases whose time is up. Caller holds the gate. Returns the time it used.</summary>
    private DateTimeOffset ExpireStale()
    {
        var now = _time.GetUtcNow();
        foreach (var (id, held) in _leases.Where(l => l.Value.ExpiresAt <= now).ToList())
        {
            _leases.Remove(id);
            foreach (var grant in held.Lease.Grants) _resources[grant.Resource].Holders.Remove(id);
        }
        return now;
    }

    private static int Reserved(Dictionary<string, int>? reserved, string resource) =>
        reserved is not null && reserved.TryGetValue(resource, out var n) ? n : 0;

    private void Grant(Waiter waiter, DateTimeOffset now)
    {
        var id = "lease-" + (++_nextLease).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var grants = new List<LockGrant>(waiter.Requests.Count);
        foreach (var request in waiter.Requests)
        {
            var resource = _resources[request.Resource];
            resource.Holders.Add(id);
            grants.Add(new LockGrant(request.Resource, ++resource.Fencing));
        }
        var lease = new LockLease(id, waiter.Holder, grants, now + waiter.LeaseTime);
        _leases[id] = new Held(lease) { ExpiresAt = lease.ExpiresAt };
        waiter.Cancellation.Unregister(); // not Dispose: it would wait for a running cancel callback that needs the gate
        waiter.Completion.TrySetResult(lease);
    }

    private sealed class ResourceState(int capacity)
    {
        public int Capacity { get; } = capacity;
        public List<string> Holders { get; } = [];
        public long Fencing { get; set; }
    }

    private sealed class Held(LockLease lease)
    {
        public LockLease Lease { get; } = lease;
        public DateTimeOffset ExpiresAt { get; set; }
    }

    private sealed class Waiter(List<LockRequest> requests, string holder, TimeSpan leaseTime)
    {
        public List<LockRequest> Requests { get; } = requests;
        public string Holder { get; } = holder;
        public TimeSpan LeaseTime { get; } = leaseTime;
        public LinkedListNode<Waiter>? Node { get; set; }
        public CancellationTokenRegistration Cancellation { get; set; }
        public TaskCompletionSource<LockLease> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
