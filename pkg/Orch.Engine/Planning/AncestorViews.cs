using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace Orch.Engine.Planning;

/// <summary>
/// What <c>tasks</c> shows the templates of one task: the view of each task it needs, directly or
/// through others, looked up when a template reads it. Nothing is gathered up front: most tasks
/// never read another's outputs, and copying every ancestor for every task would cost a long
/// chain of tasks time in the square of its length. Its ancestors have all finished when a task
/// starts, so what this shows does not change.
/// </summary>
internal sealed class AncestorViews(TaskNode task, Func<string, TaskNode> find, Func<TaskNode, object?> view)
    : IDictionary<string, object?>, IReadOnlyDictionary<string, object?>
{
    private HashSet<string>? _ancestors;

    /// <summary>The ids of every task reachable through needs; walked on first use.</summary>
    private HashSet<string> Ancestors => _ancestors ??= Walk();

    public int Count => Ancestors.Count;
    public bool IsReadOnly => true;
    public ICollection<string> Keys => [.. Ancestors];
    public ICollection<object?> Values => [.. Ancestors.Select(id => view(find(id)))];
    IEnumerable<string> IReadOnlyDictionary<string, object?>.Keys => Keys;
    IEnumerable<object?> IReadOnlyDictionary<string, object?>.Values => Values;

    public object? this[string key]
    {
        get => TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"'{key}' is not upstream of '{task.Id}'");
        set => throw ReadOnly();
    }

    public bool ContainsKey(string key) => Ancestors.Contains(key);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out object? value)
    {
        value = ContainsKey(key) ? view(find(key)) : null;
        return value is not null;
    }

    public bool Contains(KeyValuePair<string, object?> item) => TryGetValue(item.Key, out var value) && Equals(value, item.Value);

    public void CopyTo(KeyValuePair<string, object?>[] array, int arrayIndex)
    {
        foreach (var pair in this) array[arrayIndex++] = pair;
    }

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        foreach (var id in Ancestors) yield return new(id, view(find(id)));
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public void Add(string key, object? value) => throw ReadOnly();
    public void Add(KeyValuePair<string, object?> item) => throw ReadOnly();
    public bool Remove(string key) => throw ReadOnly();
    public bool Remove(KeyValuePair<string, object?> item) => throw ReadOnly();
    public void Clear() => throw ReadOnly();

    private static NotSupportedException ReadOnly() => new("the outputs of upstream tasks cannot be changed");

    private HashSet<string> Walk()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>(task.Definition.Needs);
        while (stack.TryPop(out var id))
        {
            if (!seen.Add(id)) continue;
            foreach (var need in find(id).Definition.Needs) stack.Push(need);
        }
        return seen;
    }
}
