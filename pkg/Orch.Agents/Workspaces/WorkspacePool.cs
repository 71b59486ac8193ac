using System.Collections.Concurrent;
using System.Globalization;

namespace Orch.Agents.Workspaces;

/// <summary>
/// The workspaces of one agent process, under <c>workspaces/PID/</c> of its work directory. A
/// workspace its attempt left empty (most short tasks make nothing) is used again: making and
/// removing directories costs milliseconds on some file systems, more than a no-op task itself.
/// Directories of agent processes that are gone are removed when the pool is made.
/// </summary>
internal sealed class WorkspacePool
{
    private readonly string _directory;
    private readonly ConcurrentBag<string> _idle = [];
    private int _made;

    public WorkspacePool(string agentDirectory)
    {
        var all = Path.Combine(agentDirectory, "workspaces");
        _directory = Path.Combine(all, Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        if (Directory.Exists(all))
        {
            foreach (var old in Directory.GetDirectories(all))
            {
                // Ours (a pid used again) or one whose process is gone; a live process's are left alone.
                var name = Path.GetFileName(old);
                if (old == _directory || !Directory.Exists($"/proc/{name}")) TryDelete(old);
            }
        }
    }

    public AttemptWorkspace Rent() => _idle.TryTake(out var root)
        ? new(root, this, reused: true)
        : new(Path.Combine(_directory, Interlocked.Increment(ref _made).ToString(CultureInfo.InvariantCulture)), this, reused: false);

    /// <summary>Keeps the workspace for the next attempt when its attempt left nothing in it, else removes it.</summary>
    internal void Return(AttemptWorkspace workspace, string root)
    {
        try
        {
            if (workspace.MayHaveLeftFiles)
            {
                File.Delete(workspace.LogPath);
                File.Delete(workspace.OutputsPath);
            }
            if (workspace.LeftEmpty || !Directory.EnumerateFileSystemEntries(workspace.Directory).Any())
            {
                _idle.Add(root);
                return;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        TryDelete(root);
    }

    private static void TryDelete(string directory)
    {
        try { Directory.Delete(directory, recursive: true); }
        catch (IOException) { } // best effort: a process the task left behind may still be writing here
        catch (UnauthorizedAccessException) { }
    }
}
