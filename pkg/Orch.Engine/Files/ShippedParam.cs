using Orch.Coordination.Artifacts;
using Orch.Pipeline.Diagnostics;
using Orch.Pipeline.Model;
using Orch.Protocol;

namespace Orch.Engine.Files;

/// <summary>
/// A <c>type: path</c> param sent to agents that do not share the run's file system: where it
/// sits in every attempt's workspace (the path relative to the run's working directory, or
/// <c>.orch/inputs/NAME/FILE</c> for a path outside it) and the files it holds there.
/// </summary>
public sealed record ShippedParam(string Name, string WorkspacePath, IReadOnlyList<RunFile> Files)
{
    /// <summary>
    /// Stores the files of every path param that has a value in the artifact store, under
    /// <c>runs/RUN/params/NAME/</c>. Content the store already holds (a resumed run) is only hashed.
    /// </summary>
    /// <exception cref="ArtifactException">A file is over a size limit; the message names the limit.</exception>
    public static async Task<IReadOnlyList<ShippedParam>> UploadAsync(
        PipelineDefinition pipeline, IReadOnlyDictionary<string, object?> values, string workingDirectory, RunId run, ArtifactStore store, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(store);
        var shipped = new List<ShippedParam>();
        foreach (var (param, full) in Given(pipeline, values, workingDirectory))
        {
            var workspacePath = FileShipping.PathInside(workingDirectory, full) is { } inside && inside != "."
                ? inside
                : $".orch/inputs/{param.Name}/{Path.GetFileName(full.TrimEnd('/'))}";
            var prefix = $"runs/{run.Value}/params/{param.Name}";
            if (File.Exists(full))
            {
                var stored = await store.PutFileAsync($"{prefix}/{Path.GetFileName(full)}", full, cancellationToken).ConfigureAwait(false);
                shipped.Add(new ShippedParam(param.Name, workspacePath, [stored.ToRunFile(workspacePath)]));
                continue;
            }
            var refs = await store.PutDirectoryAsync(prefix, full, cancellationToken).ConfigureAwait(false);
            shipped.Add(new ShippedParam(param.Name, workspacePath,
                refs.Select(r => r.ToRunFile($"{workspacePath}/{r.Name[(prefix.Length + 1)..]}")).ToList()));
        }
        return shipped;
    }

    /// <summary>A <c>type: path</c> param must name something that exists before anything runs: one diagnostic per param that does not.</summary>
    public static List<Diagnostic> Missing(PipelineDefinition pipeline, IReadOnlyDictionary<string, object?> values, string workingDirectory)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(values);
        return Given(pipeline, values, workingDirectory)
            .Where(p => !File.Exists(p.FullPath) && !Directory.Exists(p.FullPath))
            .Select(p => new Diagnostic(DiagnosticCodes.PathParamUnusable, DiagnosticSeverity.Error, p.Param.Location,
                $"param '{p.Param.Name}' is '{values[p.Param.Name]}', which does not exist (looked for {p.FullPath})",
                $"pass an existing file or directory: -p {p.Param.Name}=PATH"))
            .ToList();
    }

    /// <summary>The path params that have a value, each with the full path it names.</summary>
    private static IEnumerable<(ParamDefinition Param, string FullPath)> Given(PipelineDefinition pipeline, IReadOnlyDictionary<string, object?> values, string workingDirectory) =>
        pipeline.Params
            .Where(p => p.Type == ParamType.Path && values.GetValueOrDefault(p.Name) is string { Length: > 0 })
            .Select(p => (p, Path.GetFullPath((string)values[p.Name]!, workingDirectory)));
}
