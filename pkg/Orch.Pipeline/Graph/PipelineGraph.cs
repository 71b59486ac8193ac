using System.Text;
using Orch.Pipeline.Model;

namespace Orch.Pipeline.Graph;

/// <summary>Renders a pipeline's task graph for people: Mermaid for Markdown, DOT for Graphviz.</summary>
public static class PipelineGraph
{
    /// <summary>A Mermaid <c>flowchart TD</c>; node ids are generated, so odd task ids cannot break the syntax.</summary>
    public static string ToMermaid(PipelineDefinition pipeline)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        var ids = NodeIds(pipeline);
        var sb = new StringBuilder();
        sb.Append("flowchart TD\n");
        foreach (var task in pipeline.Tasks)
        {
            var label = string.Join("<br/>", LabelLines(task).Select(EscapeMermaid));
            sb.Append("    ").Append(ids[task.Id]).Append("[\"").Append(label).Append("\"]\n");
        }
        foreach (var (from, to) in Edges(pipeline))
            sb.Append("    ").Append(ids[from]).Append(" --> ").Append(ids[to]).Append('\n');
        return sb.ToString();
    }

    /// <summary>A Graphviz <c>digraph</c>; every id and label is a quoted, escaped string.</summary>
    public static string ToDot(PipelineDefinition pipeline)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        var sb = new StringBuilder();
        sb.Append("digraph ").Append(QuoteDot(pipeline.Name)).Append(" {\n");
        sb.Append("    rankdir=TB;\n");
        sb.Append("    node [shape=box];\n");
        foreach (var task in pipeline.Tasks)
        {
            var label = string.Join("\\n", LabelLines(task).Select(EscapeDot));
            sb.Append("    ").Append(QuoteDot(task.Id)).Append(" [label=\"").Append(label).Append('"');
            if (task.IsFanOut) sb.Append(", peripheries=2");
            sb.Append("];\n");
        }
        foreach (var (from, to) in Edges(pipeline))
            sb.Append("    ").Append(QuoteDot(from)).Append(" -> ").Append(QuoteDot(to)).Append(";\n");
        sb.Append("}\n");
        return sb.ToString();
    }

    private static Dictionary<string, string> NodeIds(PipelineDefinition pipeline) =>
        pipeline.Tasks.Select((t, i) => (t.Id, i)).ToDictionary(x => x.Id, x => "t" + x.i, StringComparer.Ordinal);

    /// <summary>Edges from each need to the task that needs it, in task order.</summary>
    private static IEnumerable<(string From, string To)> Edges(PipelineDefinition pipeline)
    {
        var known = pipeline.Tasks.Select(t => t.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var task in pipeline.Tasks)
            foreach (var need in task.Needs.Where(known.Contains))
                yield return (need, task.Id);
    }

    private static IEnumerable<string> LabelLines(TaskDefinition task)
    {
        yield return task.Id;
        if (task.Uses is not null) yield return "uses: " + task.Uses;
        else if (task.Run is not null) yield return task.Shell is null ? "run" : $"run ({task.Shell})";
        if (task.IsFanOut) yield return "for_each (fan-out)";
    }

    private static string EscapeMermaid(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            sb.Append(c switch
            {
                '"' => "#quot;",
                '<' => "#lt;",
                '>' => "#gt;",
                '#' => "#35;",
                '\n' or '\r' => " ",
                _ => c.ToString(),
            });
        }
        return sb.ToString();
    }

    private static string EscapeDot(string text) => text
        .Replace("\\", "\\\\", StringComparison.Ordinal)
        .Replace("\"", "\\\"", StringComparison.Ordinal)
        .Replace("\r", "", StringComparison.Ordinal)
        .Replace("\n", "\\n", StringComparison.Ordinal);

    private static string QuoteDot(string text) => "\"" + EscapeDot(text) + "\"";
}
