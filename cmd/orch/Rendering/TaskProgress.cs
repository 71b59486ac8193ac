using System.Collections.Concurrent;
using Orch.Engine;

namespace Orch.Cli.Rendering;

/// <summary>Per-task counts for progress displays, fed by the run observer.</summary>
public sealed class TaskProgress
{
    public sealed class Entry(string id, int total)
    {
        private int _done, _failed, _running;
        public string Id { get; } = id;
        public int Total { get; } = total;
        public int Done => Volatile.Read(ref _done);
        public int Failed => Volatile.Read(ref _failed);
        public int Running => Volatile.Read(ref _running);
        public InstanceStatus? Status { get; set; }
        public void Started() => Interlocked.Increment(ref _running);
        public void Finished(bool ok, bool final)
        {
            Interlocked.Decrement(ref _running);
            if (!final) return;
            Interlocked.Increment(ref _done);
            if (!ok) Interlocked.Increment(ref _failed);
        }
    }

    private readonly ConcurrentDictionary<string, Entry> _tasks = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _order = new();

    public IEnumerable<Entry> Tasks => _order.Select(id => _tasks[id]);

    public Entry Add(string id, int total)
    {
        var entry = new Entry(id, total);
        if (_tasks.TryAdd(id, entry)) _order.Enqueue(id);
        return _tasks[id];
    }

    /// <summary>The entry of a task, by its id or by one of its instance keys (<c>count[3]</c>).</summary>
    public Entry? Find(string instanceKey)
    {
        var bracket = instanceKey.IndexOf('[', StringComparison.Ordinal);
        var taskId = bracket < 0 ? instanceKey.AsSpan() : instanceKey.AsSpan(0, bracket);
        // Look up by span: no string allocated per event on large fan-outs.
        return _tasks.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(taskId, out var entry) ? entry : null;
    }
}
