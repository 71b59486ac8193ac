namespace Orch.Agents.Shell;

/// <summary>A command to run as the leader of a new process group.</summary>
public sealed record ShellCommand
{
    /// <summary>Program and arguments, e.g. <c>["/bin/sh", "-e", "-c", script]</c>. A program name without
    /// a slash is looked up in the <c>PATH</c> of <see cref="Environment"/>; a relative path with a slash is
    /// relative to <see cref="WorkingDirectory"/>.</summary>
    public required IReadOnlyList<string> Argv { get; init; }

    /// <summary>Directory the child starts in.</summary>
    public required string WorkingDirectory { get; init; }

    /// <summary>The complete environment of the child; nothing from the current process is added.</summary>
    public required IReadOnlyDictionary<string, string> Environment { get; init; }

    /// <summary>File receiving both stdout and stderr, interleaved as written. An existing file is truncated
    /// when the command starts; otherwise the file (mode 0644) is only created once the command writes
    /// something. A relative path is relative to the current directory of this process, not
    /// <see cref="WorkingDirectory"/>.</summary>
    public required string LogPath { get; init; }

    /// <summary>Optional limit on the run time; when reached the process group is terminated.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Time between SIGTERM and SIGKILL to the process group when terminating it.</summary>
    public TimeSpan KillGrace { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Where the group is recorded while it runs, so that it can be stopped if this process dies; null for nowhere.</summary>
    public ProcessGroupLedger? Ledger { get; init; }
}

/// <summary>Outcome of a <see cref="ShellCommand"/>.</summary>
/// <param name="ExitCode">Exit status, or 128 + signal number when the process was killed by a signal.</param>
/// <param name="Signal">The signal that killed the process, if any.</param>
/// <param name="TimedOut">The process group was terminated because <see cref="ShellCommand.Timeout"/> elapsed.</param>
/// <param name="Cancelled">The process group was terminated because the cancellation token fired.</param>
/// <param name="Duration">Time from spawning to reaping the process.</param>
public sealed record ShellResult(int ExitCode, int? Signal, bool TimedOut, bool Cancelled, TimeSpan Duration);
