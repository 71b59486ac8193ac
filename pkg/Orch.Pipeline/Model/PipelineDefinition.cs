using Orch.Pipeline.Diagnostics;

namespace Orch.Pipeline.Model;

/// <summary>A validated, immutable pipeline: what a YAML file means, with source locations kept.</summary>
public sealed class PipelineDefinition
{
    public required string Name { get; init; }
    public string? Description { get; init; }
    /// <summary>The file the pipeline was read from, as the user named it.</summary>
    public required string FilePath { get; init; }
    public required IReadOnlyList<ParamDefinition> Params { get; init; }
    /// <summary>Environment for <c>run:</c> tasks; values are templates.</summary>
    public required IReadOnlyList<KeyValuePair<string, TemplateText>> Env { get; init; }
    public required IReadOnlyList<ResourceDefinition> Resources { get; init; }
    /// <summary>Tasks in topological order (every task after all of its needs).</summary>
    public required IReadOnlyList<TaskDefinition> Tasks { get; init; }
    /// <summary>Limit on the whole run; null when unlimited.</summary>
    public TimeSpan? Timeout { get; init; }

    public TaskDefinition? FindTask(string id) => Tasks.FirstOrDefault(t => t.Id == id);
    public ResourceDefinition? FindResource(string name) => Resources.FirstOrDefault(r => r.Name == name);
}

/// <summary>
/// A param's type. <see cref="Path"/> is text naming a file or directory that tasks read: it must
/// exist when the run starts, and it is shipped to agents that do not share the run's file system.
/// </summary>
public enum ParamType { String, Int, Number, Bool, List, Path }

public sealed record ParamDefinition(
    string Name,
    ParamType Type,
    object? Default,
    bool Required,
    string? Description,
    SourceLocation Location);

/// <summary>A lock-based resource. Capacity 1 is a mutex, N a counting semaphore.</summary>
public sealed record ResourceDefinition(string Name, int Capacity, SourceLocation Location);

/// <summary>
/// How often a task is tried. <see cref="Attempts"/> counts every try, the first included;
/// the delay before try n+1 is <c>min(MaxBackoff, Backoff * 2^(n-1))</c> with jitter.
/// </summary>
public sealed record RetryPolicy(int Attempts, TimeSpan Backoff, TimeSpan MaxBackoff)
{
    public static readonly RetryPolicy Once = new(1, TimeSpan.Zero, TimeSpan.Zero);
}

public sealed class TaskDefinition
{
    public required string Id { get; init; }
    public required SourceLocation Location { get; init; }
    public required IReadOnlyList<string> Needs { get; init; }
    /// <summary>Fan-out source: a literal list, or a template that evaluates to a list. Null when not fanned out.</summary>
    public ValueNode? ForEach { get; init; }
    /// <summary>Built-in action name; exactly one of <see cref="Uses"/> and <see cref="Run"/> is set.</summary>
    public string? Uses { get; init; }
    public required IReadOnlyList<KeyValuePair<string, ValueNode>> With { get; init; }
    public TemplateText? Run { get; init; }
    /// <summary>Interpreter for <see cref="Run"/>; default <c>/bin/sh</c>.</summary>
    public string? Shell { get; init; }
    /// <summary>Task-level environment, added over the pipeline's.</summary>
    public required IReadOnlyList<KeyValuePair<string, TemplateText>> Env { get; init; }
    public TemplateText? WorkingDirectory { get; init; }
    /// <summary>Resources held for the whole attempt. Entries may be templated: <c>fork:{{ item }}</c>.</summary>
    public required IReadOnlyList<TemplateText> Locks { get; init; }
    public required RetryPolicy Retry { get; init; }
    public TimeSpan? Timeout { get; init; }
    public TemplateText? When { get; init; }
    /// <summary>Labels an agent must have to run this task (<c>on: { labels: [...] }</c>); empty for any agent.</summary>
    public IReadOnlyList<string> Labels { get; init; } = [];
    /// <summary>How many of an agent's slots one attempt takes.</summary>
    public int Slots { get; init; } = 1;
    /// <summary>Where <c>on:</c> or <c>slots:</c> is written, for problems found only when the run meets its agents.</summary>
    public SourceLocation? PlacementLocation { get; init; }

    public bool IsFanOut => ForEach is not null;
    public bool IsShell => Run is not null;
}

/// <summary>A string from the pipeline file that may contain <c>{{ ... }}</c> template code.</summary>
public sealed record TemplateText(string Text, SourceLocation Location)
{
    /// <summary>Indentation of a literal block (<c>run: |</c>): columns of lines after the first start after it.</summary>
    public int BlockIndent { get; init; }

    public bool HasTemplate => Text.Contains("{{", StringComparison.Ordinal);
    public override string ToString() => Text;
}
