using Orch.Pipeline.Diagnostics;
using Orch.Pipeline.Model;
using Orch.Pipeline.Validation;

namespace Orch.Pipeline.Loading;

/// <summary>What the loader needs to know from outside the file.</summary>
public sealed record PipelineLoadOptions
{
    /// <summary>Names valid in <c>uses:</c> (the built-in actions).</summary>
    public IReadOnlyCollection<string> KnownActions { get; init; } = [];

    /// <summary>Per action, the <c>with:</c> inputs it reads; a key not listed is reported. Actions not in here are not checked.</summary>
    public IReadOnlyDictionary<string, IReadOnlyCollection<string>> ActionInputs { get; init; } = new Dictionary<string, IReadOnlyCollection<string>>();
}

/// <summary>The outcome of loading: a pipeline when there are no errors, and every diagnostic found.</summary>
public sealed record PipelineLoadResult(PipelineDefinition? Pipeline, IReadOnlyList<Diagnostic> Diagnostics, string? SourceText)
{
    public bool Succeeded => Pipeline is not null && !Diagnostics.Any(d => d.IsError);
}

/// <summary>Reads pipeline YAML into a validated <see cref="PipelineDefinition"/>, collecting all problems at once.</summary>
public static class PipelineLoader
{
    /// <summary>Retry settings used when a retry block leaves them out.</summary>
    public static readonly RetryPolicy RetryDefaults = new(3, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5));

    public static PipelineLoadResult Load(string path, PipelineLoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return NotFound(path, $"pipeline file '{path}' not found", "check the path; it is relative to the current directory");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return NotFound(path, $"cannot read pipeline file '{path}': {ex.Message}", null);
        }
        return Parse(text, path, options);
    }

    private static PipelineLoadResult NotFound(string path, string message, string? hint) =>
        new(null, [new Diagnostic(DiagnosticCodes.FileNotFound, DiagnosticSeverity.Error, SourceLocation.None(path), message, hint)], null);

    public static PipelineLoadResult Parse(string yaml, string fileName, PipelineLoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(fileName);
        options ??= new PipelineLoadOptions();
        var diagnostics = new List<Diagnostic>();
        var root = YamlTreeBuilder.Build(yaml, fileName, diagnostics, out var syntaxError);
        PipelineDefinition? pipeline = null;
        if (!syntaxError)
        {
            var reader = new PipelineReader(fileName, options, diagnostics);
            reader.Read(root);
            pipeline = Validate(reader, fileName, diagnostics);
        }
        var sorted = diagnostics
            .Select((d, i) => (d, i))
            .OrderBy(x => x.d.Location.Line)
            .ThenBy(x => x.d.Location.Column)
            .ThenBy(x => x.i)
            .Select(x => x.d)
            .ToList();
        return new PipelineLoadResult(sorted.Any(d => d.IsError) ? null : pipeline, sorted, yaml);
    }

    private static PipelineDefinition? Validate(PipelineReader reader, string fileName, List<Diagnostic> diagnostics)
    {
        var tasks = reader.Tasks;
        var edges = DependencyGraph.CheckNeeds(tasks, diagnostics);
        DependencyGraph.CheckCycles(tasks, edges, diagnostics);

        var paramTypes = reader.Params.ToDictionary(p => p.Name, p => p.Type, StringComparer.Ordinal);
        var taskIds = tasks.Select(t => t.Id).ToHashSet(StringComparer.Ordinal);
        var envScope = new TemplateScopeInfo(null, new HashSet<string>(), false, paramTypes, taskIds);
        foreach (var site in reader.EnvTemplates) TemplateAnalyzer.Analyze(site, envScope, diagnostics);
        foreach (var task in tasks)
        {
            var scope = new TemplateScopeInfo(task.Id, DependencyGraph.Upstream(task.Id, edges), task.ForEach is not null, paramTypes, taskIds);
            foreach (var site in task.Templates) TemplateAnalyzer.Analyze(site, scope, diagnostics);
        }

        if (diagnostics.Any(d => d.IsError) || reader.Name is null) return null;

        return new PipelineDefinition
        {
            Name = reader.Name,
            Description = reader.Description,
            FilePath = fileName,
            Params = reader.Params,
            Env = reader.Env,
            Resources = reader.Resources,
            Timeout = reader.Timeout,
            Tasks = DependencyGraph.TopologicalOrder(tasks, edges).Select(t => ToModel(t, reader)).ToList(),
        };
    }

    private static TaskDefinition ToModel(TaskDraft task, PipelineReader reader) => new()
    {
        Id = task.Id,
        Location = task.Location,
        Needs = task.Needs.Select(n => n.Id).ToList(),
        ForEach = task.ForEach,
        Uses = task.Uses,
        With = task.With,
        Run = task.Run,
        Shell = task.Shell,
        Env = task.Env,
        WorkingDirectory = task.WorkingDirectory,
        Locks = task.Locks,
        Retry = MergeRetry(task.Retry, reader.DefaultRetry),
        Timeout = task.Timeout ?? reader.DefaultTimeout,
        When = task.When,
        Labels = task.Labels,
        Slots = task.Slots ?? 1,
        PlacementLocation = task.PlacementLocation,
    };

    private static RetryPolicy MergeRetry(RetrySpec? task, RetrySpec? defaults)
    {
        if (task is null && defaults is null) return RetryPolicy.Once;
        return new RetryPolicy(
            task?.Attempts ?? defaults?.Attempts ?? RetryDefaults.Attempts,
            task?.Backoff ?? defaults?.Backoff ?? RetryDefaults.Backoff,
            task?.MaxBackoff ?? defaults?.MaxBackoff ?? RetryDefaults.MaxBackoff);
    }
}
