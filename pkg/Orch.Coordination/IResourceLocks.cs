namespace Orch.Coordination;

/// <summary>One resource a task wants: <c>fork:3</c> from a resource declared with <paramref name="Capacity"/>.</summary>
public sealed record LockRequest(string Resource, int Capacity)
{
    /// <summary>
    /// What every adapter acquires: each resource once (the first request for it wins), in ordinal
    /// order, after checking capacities.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A capacity is below 1.</exception>
    public static List<LockRequest> Normalize(IReadOnlyList<LockRequest> requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var wanted = requests.GroupBy(r => r.Resource, StringComparer.Ordinal).Select(g => g.First()).OrderBy(r => r.Resource, StringComparer.Ordinal).ToList();
        foreach (var request in wanted)
        {
            if (request.Capacity < 1) throw new ArgumentOutOfRangeException(nameof(requests), $"resource '{request.Resource}' has capacity {request.Capacity}");
        }
        return wanted;
    }
}

/// <summary>Resources held together under one lease.</summary>
public sealed record LockLease(string LeaseId, string Holder, IReadOnlyList<Orch.Protocol.LockGrant> Grants, DateTimeOffset ExpiresAt);

/// <summary>What <c>orch locks</c> shows for one resource.</summary>
public sealed record LockStatus(string Resource, int Capacity, IReadOnlyList<string> Holders, IReadOnlyList<string> Waiters);

/// <summary>
/// Lock-based resources: mutexes (capacity 1) and counting semaphores. A request for several
/// resources is granted all at once or not at all, so no set of holders can deadlock.
/// Waiters are served first-come first-served among those that want an overlapping resource,
/// so none starves. A lease that is not renewed before it expires is released.
/// </summary>
public interface IResourceLocks
{
    /// <summary>Waits until every requested resource can be held, then holds them all.</summary>
    ValueTask<LockLease> AcquireAsync(IReadOnlyList<LockRequest> requests, string holder, TimeSpan leaseTime, CancellationToken cancellationToken);

    /// <summary>Extends a lease; false when it already expired (its resources may have been granted to others).</summary>
    ValueTask<bool> RenewAsync(string leaseId, TimeSpan leaseTime, CancellationToken cancellationToken);

    /// <summary>Releases a lease; releasing an unknown or expired lease does nothing.</summary>
    ValueTask ReleaseAsync(string leaseId, CancellationToken cancellationToken);

    ValueTask<IReadOnlyList<LockStatus>> ListAsync(CancellationToken cancellationToken);
}
