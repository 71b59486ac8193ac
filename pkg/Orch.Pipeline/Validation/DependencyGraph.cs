using Orch.Pipeline.Diagnostics;
using Orch.Pipeline.Loading;

namespace Orch.Pipeline.Validation;

/// <summary>Checks <c>needs</c>: unknown ids, cycles; computes the stable topological order and upstream sets.</summary>
internal static class DependencyGraph
{
    /// <summary>Reports unknown needs and returns, per task, the needs that name real tasks.</summary>
    public static Dictionary<string, List<NeedRef>> CheckNeeds(IReadOnlyList<TaskDraft> tasks, List<Diagnostic> diagnostics)
    {
        var ids = tasks.Select(t => t.Id).ToList();
        var known = ids.ToHashSet(StringComparer.Ordinal);
        var edges = new Dictionary<string, List<NeedRef>>(StringComparer.Ordinal);
        foreach (var task in tasks)
        {
            var valid = new List<NeedRef>();
            foreach (var need in task.Needs)
            {
                if (known.Contains(need.Id))
                {
                    valid.Add(need);
                    continue;
                }
                diagnostics.Add(new Diagnostic(DiagnosticCodes.UnknownNeed, DiagnosticSeverity.Error, need.Location,
                    $"task '{task.Id}' needs unknown task '{need.Id}'",
                    Suggestions.DidYouMean(need.Id, ids, "tasks: " + string.Join(", ", ids))));
            }
            edges[task.Id] = valid;
        }
        return edges;
    }

    /// <summary>Reports each cycle once (one per strongly connected component), starting at its first task in file order.</summary>
    public static void CheckCycles(IReadOnlyList<TaskDraft> tasks, Dictionary<string, List<NeedRef>> edges, List<Diagnostic> diagnostics)
    {
        var order = tasks.Select((t, i) => (t.Id, i)).ToDictionary(x => x.Id, x => x.i, StringComparer.Ordinal);
        foreach (var component in StronglyConnected(tasks.Select(t => t.Id).ToList(), edges))
        {
            var start = component.OrderBy(id => order[id]).First();
            var members = component.ToHashSet(StringComparer.Ordinal);
            var isCycle = component.Count > 1 || edges[start].Any(n => n.Id == start);
            if (!isCycle) continue;
            var path = FindCycle(start, members, edges, order);
            var firstNeed = edges[start].First(n => n.Id == path[1]);
            diagnostics.Add(new Diagnostic(DiagnosticCodes.Cycle, DiagnosticSeverity.Error, firstNeed.Location,
                $"dependency cycle: {string.Join(" -> ", path)}",
                "each task here needs the next one, so none of them can start; remove one of these needs"));
        }
    }

    /// <summary>Shortest path start -> ... -> start inside the component, by breadth-first search in file order.</summary>
    private static List<string> FindCycle(string start, HashSet<string> members, Dictionary<string, List<NeedRef>> edges, Dictionary<string, int> order)
    {
        var previous = new Dictionary<string, string>(StringComparer.Ordinal);
        var queue = new Queue<string>();
        queue.Enqueue(start);
        var visited = new HashSet<string>(StringComparer.Ordinal);
        while (queue.Count > 0)
        {
            var current = queue.Dequeue();
            foreach (var next in edges[current].Select(n => n.Id).Where(members.Contains).OrderBy(id => order[id]))
            {
                if (next == start)
                {
                    var path = new List<string> { start };
                    var walk = current;
                    var back = new List<string>();
                    while (walk != start)
                    {
                        back.Add(walk);
                        walk = previous[walk];
                    }
                    back.Reverse();
                    path.AddRange(back);
                    path.Add(start);
                    return path;
                }
                if (visited.Add(next))
                {
                    previous[next] = current;
                    queue.Enqueue(next);
                }
            }
        }
        return [start, start];
    }

    private static List<List<string>> StronglyConnected(List<string> ids, Dictionary<string, List<NeedRef>> edges)
    {
        // Iterative Tarjan so deep chains cannot overflow the stack.
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var low = new Dictionary<string, int>(StringComparer.Ordinal);
        var onStack = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        var result = new List<List<string>>();
        var counter = 0;
        foreach (var root in ids)
        {
            if (index.ContainsKey(root)) continue;
            var work = new Stack<(string Node, int Edge)>();
            work.Push((root, 0));
            index[root] = low[root] = counter++;
            stack.Push(root);
            onStack.Add(root);
            while (work.Count > 0)
            {
                var (node, edge) = work.Pop();
                var successors = edges[node];
                if (edge < successors.Count)
                {
                    work.Push((node, edge + 1));
                    var next = successors[edge].Id;
                    if (!index.ContainsKey(next))
                    {
                        index[next] = low[next] = counter++;
                        stack.Push(next);
                        onStack.Add(next);
                        work.Push((next, 0));
                    }
                    else if (onStack.Contains(next))
                    {
                        low[node] = Math.Min(low[node], index[next]);
                    }
                    continue;
                }
                if (low[node] == index[node])
                {
                    var component = new List<string>();
                    string member;
                    do
                    {
                        member = stack.Pop();
                        onStack.Remove(member);
                        component.Add(member);
                    } while (member != node);
                    result.Add(component);
                }
                if (work.Count > 0)
                {
                    var parent = work.Peek().Node;
                    low[parent] = Math.Min(low[parent], low[node]);
                }
            }
        }
        return result;
    }

    /// <summary>Every task after all of its needs; among ready tasks, file order wins. Tasks in cycles come last.</summary>
    public static List<TaskDraft> TopologicalOrder(IReadOnlyList<TaskDraft> tasks, Dictionary<string, List<NeedRef>> edges)
    {
        var placed = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<TaskDraft>(tasks.Count);
        var remaining = tasks.ToList();
        while (remaining.Count > 0)
        {
            var next = remaining.FirstOrDefault(t => edges[t.Id].All(n => placed.Contains(n.Id)));
            if (next is null)
            {
                result.AddRange(remaining);
                break;
            }
            remaining.Remove(next);
            placed.Add(next.Id);
            result.Add(next);
        }
        return result;
    }

    /// <summary>All tasks reachable through needs (transitively).</summary>
    public static HashSet<string> Upstream(string id, Dictionary<string, List<NeedRef>> edges)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        stack.Push(id);
        while (stack.Count > 0)
        {
            foreach (var need in edges[stack.Pop()])
                if (seen.Add(need.Id)) stack.Push(need.Id);
        }
        seen.Remove(id);
        return seen;
    }
}
