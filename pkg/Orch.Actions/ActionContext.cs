using System.Globalization;

namespace Orch.Actions;

/// <summary>What a built-in action gets for one attempt.</summary>
public sealed class ActionContext
{
    /// <summary>The rendered <c>with:</c> inputs as plain values.</summary>
    public required IReadOnlyDictionary<string, object?> With { get; init; }

    /// <summary>Directory that relative paths in inputs resolve against (where <c>orch run</c> was started).</summary>
    public required string WorkingDirectory { get; init; }

    /// <summary>A directory private to this task instance for files it produces; survives the run for downstream tasks.</summary>
    public required string ArtifactDirectory { get; init; }

    /// <summary>The attempt's log (captured to the per-attempt log file).</summary>
    public TextWriter Log { get; init; } = TextWriter.Null;

    public string GetString(string name) =>
        TryGetString(name) ?? throw new ActionInputException($"input '{name}' is required");

    public string? TryGetString(string name) =>
        With.TryGetValue(name, out var value) && value is not null && !(value is string { Length: 0 })
            ? Convert.ToString(value, CultureInfo.InvariantCulture)
            : null;

    public long GetInt64(string name, long? fallback = null)
    {
        if (!With.TryGetValue(name, out var value) || value is null || value is string { Length: 0 })
            return fallback ?? throw new ActionInputException($"input '{name}' is required");
        return value switch
        {
            long l => l,
            int i => i,
            double d when d == Math.Floor(d) => (long)d,
            string s when long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) => parsed,
            _ => throw new ActionInputException($"input '{name}' must be an integer, got '{value}'"),
        };
    }

    /// <summary>Resolves a path input against <see cref="WorkingDirectory"/>.</summary>
    public string ResolvePath(string path) => Path.GetFullPath(path, WorkingDirectory);
}
