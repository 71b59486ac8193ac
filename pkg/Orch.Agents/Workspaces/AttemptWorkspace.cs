using Orch.Coordination.Artifacts;
using Orch.Protocol;

namespace Orch.Agents.Workspaces;

/// <summary>
/// Where an attempt runs when the agent does not share the run's file system: an empty directory
/// that stands for the run's working directory. It holds the files the attempt was sent (hard
/// links into the agent's <see cref="FileCache"/>); afterwards every other file in it was made by
/// the attempt, and those are stored for the tasks that need this one and for <c>orch run</c>.
/// The log sits beside the workspace, not in it. Given back to its <see cref="WorkspacePool"/> when disposed.
/// </summary>
internal sealed class AttemptWorkspace : IDisposable
{
    private readonly string _root;
    private readonly WorkspacePool _pool;
    private readonly HashSet<string> _inputs = new(StringComparer.Ordinal);

    internal AttemptWorkspace(string root, WorkspacePool pool, bool reused)
    {
        _root = root;
        _pool = pool;
        Directory = Path.Combine(root, "work");
        LogPath = Path.Combine(root, "attempt.log");
        if (!reused) System.IO.Directory.CreateDirectory(Directory);
    }

    /// <summary>The directory that stands for the run's working directory.</summary>
    public string Directory { get; }

    public string LogPath { get; }

    /// <summary>True once <see cref="SaveCreatedFilesAsync"/> found the workspace empty, or <see cref="MadeNoFiles"/> said so.</summary>
    public bool LeftEmpty { get; private set; }

    /// <summary>False only when the attempt is known to have left no log or outputs file beside the workspace.</summary>
    public bool MayHaveLeftFiles { get; private set; } = true;

    /// <summary>For an attempt that cannot have made a file (an action that writes none): nothing to look for or clean up.</summary>
    public void MadeNoFiles() => LeftEmpty = true;

    /// <summary>Where a shell task's <c>$ORCH_OUTPUT</c> goes (beside the log).</summary>
    public string OutputsPath => Path.ChangeExtension(LogPath, ".outputs");

    /// <summary>Places every input; a path that would leave the workspace is refused.</summary>
    /// <exception cref="ArtifactException">An input is missing from the store, changed, or its path is not allowed.</exception>
    public async Task PlaceInputsAsync(IReadOnlyList<RunFile> inputs, FileCache cache, CancellationToken cancellationToken)
    {
        foreach (var input in inputs) ArtifactNames.Validate(input.Path);
        foreach (var input in inputs)
        {
            if (!_inputs.Add(input.Path)) continue;
            await cache.PlaceAsync(input, Path.Combine(Directory, input.Path), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The dispatch with its paths made absolute inside this workspace.</summary>
    /// <exception cref="ArtifactException">The working or artifact directory would leave the workspace.</exception>
    public TaskDispatch Localise(TaskDispatch dispatch)
    {
        var working = dispatch.WorkingDirectory is "" or "." ? Directory : Resolve(dispatch.WorkingDirectory);
        if (working != Directory) System.IO.Directory.CreateDirectory(working);
        return dispatch with { WorkingDirectory = working, ArtifactDirectory = Resolve(dispatch.ArtifactDirectory), LogPath = LogPath };
    }

    /// <summary>Stores the files the attempt made (everything in the workspace but its inputs) under <paramref name="prefix"/>.</summary>
    /// <exception cref="ArtifactException">Over a size limit; the message names the limit.</exception>
    public async Task<IReadOnlyList<RunFile>> SaveCreatedFilesAsync(ArtifactStore store, string prefix, CancellationToken cancellationToken)
    {
        // The common case for short tasks, found with one directory read; the pool then reuses the workspace.
        if (!System.IO.Directory.EnumerateFileSystemEntries(Directory).Any())
        {
            LeftEmpty = true;
            return [];
        }
        // Symbolic links are not followed: what they point at is not the attempt's to ship.
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = false };
        var created = new DirectoryInfo(Directory).EnumerateFiles("*", options)
            .Select(f => (Path: System.IO.Path.GetRelativePath(Directory, f.FullName).Replace(System.IO.Path.DirectorySeparatorChar, '/'), f.FullName))
            .Where(f => !_inputs.Contains(f.Path))
            .OrderBy(f => f.Path, StringComparer.Ordinal)
            .ToList();
        if (created.Count == 0) return [];
        var refs = await store.PutFilesAsync("files the task made", created.Select(f => ($"{prefix}/{f.Path}", f.FullName)).ToList(), cancellationToken).ConfigureAwait(false);
        return created.Select((f, i) => refs[i].ToRunFile(f.Path)).ToList();
    }

    /// <summary>Stores the attempt's log under <paramref name="name"/>; null when the attempt printed nothing.</summary>
    public async Task<RunFile?> SaveLogAsync(ArtifactStore store, string name, CancellationToken cancellationToken)
    {
        if (!File.Exists(LogPath))
        {
            // A shell task may have left an outputs file; nothing else writes beside the workspace.
            MayHaveLeftFiles = !LeftEmpty;
            return null;
        }
        var stored = await store.PutFileAsync(name, LogPath, cancellationToken).ConfigureAwait(false);
        return stored.ToRunFile(name);
    }

    /// <summary>
    /// Outputs with paths inside the workspace turned into paths relative to it, which mean the
    /// same file to the tasks downstream (in their own workspaces) and to <c>orch run</c>.
    /// </summary>
    public IReadOnlyDictionary<string, object?> RelativiseOutputs(IReadOnlyDictionary<string, object?> outputs)
    {
        if (outputs.Count == 0) return outputs;
        return outputs.ToDictionary(kv => kv.Key, kv => Relativise(kv.Value), StringComparer.Ordinal);
    }

    private object? Relativise(object? value) => value switch
    {
        string s when s == Directory => ".",
        string s when s.StartsWith(Directory + "/", StringComparison.Ordinal) => s[(Directory.Length + 1)..],
        IReadOnlyDictionary<string, object?> map => map.ToDictionary(kv => kv.Key, kv => Relativise(kv.Value), StringComparer.Ordinal),
        IReadOnlyList<object?> list => list.Select(Relativise).ToList(),
        _ => value,
    };

    private string Resolve(string relative)
    {
        ArtifactNames.Validate(relative);
        return Path.Combine(Directory, relative);
    }

    public void Dispose() => _pool.Return(this, _root);
}
