using Orch.Pipeline.Diagnostics;
using Orch.Pipeline.Model;

namespace Orch.Pipeline.Loading;

/// <summary>What the loader needs to know from outside the file.</summary>
public sealed record PipelineLoadOptions
{
    /// <summary>Names valid in <c>uses:</c> (the built-in actions).</summary>
    public IReadOnlyCollection<string> KnownActions { get; init; } = [];
}

/// <summary>The outcome of loading: a pipeline when there are no errors, and every diagnostic found.</summary>
public sealed record PipelineLoadResult(PipelineDefinition? Pipeline, IReadOnlyList<Diagnostic> Diagnostics, string? SourceText)
{
    public bool Succeeded => Pipeline is not null && !Diagnostics.Any(d => d.IsError);
}

/// <summary>Reads pipeline YAML into a validated <see cref="PipelineDefinition"/>, collecting all problems at once.</summary>
public static class PipelineLoader
{
    public static PipelineLoadResult Load(string path, PipelineLoadOptions options) => throw new NotImplementedException();

    public static PipelineLoadResult Parse(string yaml, string fileName, PipelineLoadOptions options) => throw new NotImplementedException();
}
