using System.Collections.Concurrent;
using Orch.Coordination.Artifacts;
using Orch.Protocol;

namespace Orch.Engine.Files;

/// <summary>
/// How a run's files reach agents that do not share its file system, and come back. Each attempt
/// runs in a workspace that stands for the run's working directory. It is sent the files of the
/// tasks it needs (all of them) and the part of each path param its rendered inputs name; what it
/// makes there is stored, sent on to the tasks downstream, and fetched back into the run's working
/// directory here, with its log, so the run leaves the files it would have left on one machine.
/// </summary>
public sealed class FileShipping
{
    private readonly ArtifactStore _store;
    private readonly string _workingDirectory;
    private readonly SemaphoreSlim _fetchers;
    private readonly ConcurrentBag<Task> _fetches = [];
    private readonly ConcurrentQueue<FetchProblem> _problems = new();

    /// <param name="store">Where the run's files are held.</param>
    /// <param name="workingDirectory">The run's working directory here, where files come back to.</param>
    /// <param name="pathParams">The path params as <see cref="ShippedParam.UploadAsync"/> stored them.</param>
    public FileShipping(ArtifactStore store, string workingDirectory, IReadOnlyList<ShippedParam> pathParams)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _workingDirectory = workingDirectory ?? throw new ArgumentNullException(nameof(workingDirectory));
        PathParams = pathParams ?? throw new ArgumentNullException(nameof(pathParams));
        _fetchers = new SemaphoreSlim(store.Limits.Parallelism);
    }

    public IReadOnlyList<ShippedParam> PathParams { get; }

    public ArtifactStore Store => _store;

    /// <summary>
    /// <paramref name="local"/> relative to <paramref name="directory"/> with <c>/</c> between
    /// segments (<c>.</c> for the directory itself), or null when it lies outside it.
    /// </summary>
    public static string? PathInside(string directory, string local)
    {
        var relative = Path.GetRelativePath(directory, local).Replace(Path.DirectorySeparatorChar, '/');
        return relative == "." || ArtifactNames.IsValid(relative) ? relative : null;
    }

    /// <summary>Param values as tasks see them: a path param is its place in the workspace.</summary>
    public Dictionary<string, object?> TemplateValues(IReadOnlyDictionary<string, object?> values)
    {
        var result = new Dictionary<string, object?>(values, StringComparer.Ordinal);
        foreach (var param in PathParams) result[param.Name] = param.WorkspacePath;
        return result;
    }

    /// <summary>What an attempt's workspace gets: every file of the tasks it needs, and the path-param files its body names.</summary>
    public IReadOnlyList<RunFile> InputsFor(TaskBody body, IReadOnlyList<RunFile> upstreamFiles)
    {
        var texts = new List<string>();
        CollectText(body, texts);
        var inputs = new Dictionary<string, RunFile>(StringComparer.Ordinal);
        foreach (var param in PathParams)
        {
            foreach (var file in FilesNamed(param, texts)) inputs[file.Path] = file;
        }
        foreach (var file in upstreamFiles) inputs[file.Path] = file;
        return inputs.Values.ToList();
    }

    /// <summary>
    /// The files of <paramref name="param"/> that the texts name. Where a text names the param's
    /// path, the path that runs on from there (up to a space, quote or shell operator) picks a file
    /// or a directory of it; anything else (a glob, a path it does not hold) takes all its files.
    /// </summary>
    internal static IEnumerable<RunFile> FilesNamed(ShippedParam param, IReadOnlyList<string> texts)
    {
        var root = param.WorkspacePath;
        var chosen = new HashSet<RunFile>();
        foreach (var text in texts)
        {
            for (var at = text.IndexOf(root, StringComparison.Ordinal); at >= 0; at = text.IndexOf(root, at + 1, StringComparison.Ordinal))
            {
                var end = at + root.Length;
                while (end < text.Length && !EndsPath(text[end])) end++;
                var named = text[at..end].TrimEnd('/');
                if (named.Length > root.Length && named[root.Length] != '/') continue; // a longer name: "corpus2" is not "corpus"
                var matching = param.Files.Where(f => f.Path == named || f.Path.StartsWith(named + "/", StringComparison.Ordinal)).ToList();
                if (matching.Count == 0 || named.AsSpan().IndexOfAny("*?[{") >= 0) return param.Files;
                chosen.UnionWith(matching);
            }
        }
        return chosen;
    }

    private static bool EndsPath(char c) => char.IsWhiteSpace(c) || c is '"' or '\'' or '`' or ';' or '|' or '&' or '(' or ')' or '<' or '>' or ',' or '=';

    private static void CollectText(TaskBody body, List<string> texts)
    {
        switch (body)
        {
            case ShellBody shell:
                texts.Add(shell.Script);
                texts.AddRange(shell.Environment.Values);
                break;
            case ActionBody action:
                foreach (var value in action.With.Values) CollectText(value, texts);
                break;
        }
    }

    private static void CollectText(object? value, List<string> texts)
    {
        switch (value)
        {
            case string s: texts.Add(s); break;
            case IReadOnlyDictionary<string, object?> map: foreach (var v in map.Values) CollectText(v, texts); break;
            case IReadOnlyList<object?> list: foreach (var v in list) CollectText(v, texts); break;
        }
    }

    /// <summary>Fetches files an attempt made into the run's working directory, in the background (see <see cref="DrainAsync"/>).</summary>
    /// <param name="reused">
    /// The files of an instance a resumed run reuses: those here with the right size are left
    /// alone, and one that cannot be fetched (a succeeded run's files are not kept) is only a warning.
    /// </param>
    public void FetchBack(IReadOnlyList<RunFile> files, bool reused = false)
    {
        foreach (var file in files)
        {
            if (!ArtifactNames.IsValid(file.Path))
            {
                _problems.Enqueue(new FetchProblem($"'{file.Path}' is not a path inside the run's working directory; not fetched", FailsRun: true));
                continue;
            }
            var destination = Path.Combine(_workingDirectory, file.Path);
            if (reused && new FileInfo(destination) is { Exists: true } here && here.Length == file.Size) continue;
            Fetch(file, destination, failsRun: !reused);
        }
    }

    /// <summary>Fetches an attempt's log to where this run keeps it, in the background.</summary>
    public void FetchLog(RunFile log, string path) => Fetch(log, path, failsRun: true);

    private void Fetch(RunFile file, string destination, bool failsRun) => _fetches.Add(Task.Run(async () =>
    {
        await _fetchers.WaitAsync().ConfigureAwait(false);
        try
        {
            await _store.GetToFileAsync(file.ToArtifactRef(), destination, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ArtifactException or IOException or UnauthorizedAccessException)
        {
            _problems.Enqueue(new FetchProblem($"could not fetch '{file.Path}': {ex.Message}", failsRun));
        }
        finally
        {
            _fetchers.Release();
        }
    }));

    /// <summary>Waits for every fetch started so far; returns what could not be fetched.</summary>
    public async Task<IReadOnlyList<FetchProblem>> DrainAsync()
    {
        await Task.WhenAll(_fetches).ConfigureAwait(false);
        return _problems.ToArray();
    }

    /// <summary>Removes the run's files from the store once they are all here (a succeeded run needs them no more).</summary>
    public async Task ForgetRunAsync(RunId run, CancellationToken cancellationToken)
    {
        // A run whose tasks made no files, printed nothing and had no path params stored nothing.
        if (PathParams.Count == 0 && _fetches.IsEmpty) return;
        await _store.DeleteAsync($"runs/{run.Value}/", cancellationToken).ConfigureAwait(false);
        await _store.CollectGarbageAsync(cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>A file that could not be fetched back; <paramref name="FailsRun"/> when the run must not count as succeeded without it.</summary>
public sealed record FetchProblem(string Message, bool FailsRun);
