using System.Collections.Concurrent;

namespace Orch.Agents;

/// <summary>
/// Ids an agent has seen lately (batches it took, cancels it heard of), remembered for ten
/// minutes: long enough for a copy of a message to come round again, short enough not to grow
/// for ever. Old ids are dropped at most once a minute, so adding stays cheap.
/// </summary>
internal sealed class RecentIds<TId>(TimeProvider time) where TId : notnull
{
    private static readonly TimeSpan Kept = TimeSpan.FromMinutes(10);
    private readonly ConcurrentDictionary<TId, DateTimeOffset> _seen = new();
    private DateTimeOffset _nextSweep = time.GetUtcNow() + TimeSpan.FromMinutes(1);

    /// <summary>Remembers <paramref name="id"/>; false when it was remembered already.</summary>
    public bool Add(TId id)
    {
        var now = time.GetUtcNow();
        if (now >= _nextSweep)
        {
            _nextSweep = now + TimeSpan.FromMinutes(1);
            foreach (var (old, at) in _seen) if (now - at > Kept) _seen.TryRemove(old, out _);
        }
        return _seen.TryAdd(id, now);
    }

    /// <summary>Forgets <paramref name="id"/>; false when it was not remembered.</summary>
    public bool Remove(TId id) => _seen.TryRemove(id, out _);
}
