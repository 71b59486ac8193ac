using Orch.Coordination.Artifacts;
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
        foreach (var param in pipeline.Params.Where(p => p.Type == ParamType.Path))
        {
            if (values.GetValueOrDefault(param.Name) is not string { Length: > 0 } value) continue;
            var full = Path.GetFullPath(value, workingDirectory);
            var inside = Path.GetRelativePath(workingDirectory, full).Replace(Path.DirectorySeparatorChar, '/');
            var workspacePath = ArtifactNames.IsValid(inside) ? inside : $".orch/inputs/{param.Name}/{Path.GetFileName(full.TrimEnd('/'))}";
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
}
