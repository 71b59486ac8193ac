using Orch.Protocol;

namespace Orch.Engine;

/// <summary>How one run is carried out.</summary>
public sealed record RunSettings
{
    public required RunId RunId { get; init; }
    /// <summary>Directory that relative paths resolve against; shell tasks start here by default.</summary>
    public required string WorkingDirectory { get; init; }
    /// <summary>Directory for logs and artifacts of this run (<c>.orch/runs/RUN_ID</c>).</summary>
    public required string RunDirectory { get; init; }
    /// <summary>
    /// Most attempts handed to agents and not yet answered. Agents run only as many as they have
    /// slots; a window a few times larger keeps them busy while results travel back. Attempts of
    /// short tasks go out up to a quarter of the window to a message.
    /// </summary>
    public int DispatchWindow { get; init; } = Environment.ProcessorCount * 8;
    /// <summary>Limit for the whole run; null for none.</summary>
    public TimeSpan? Timeout { get; init; }
    /// <summary>How long running attempts get to stop after a cancel before the run gives up on them.</summary>
    public TimeSpan CancelGrace { get; init; } = TimeSpan.FromSeconds(15);
    /// <summary>Lease time of held resources; agents renew while the task runs.</summary>
    public TimeSpan LeaseTime { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// How often to look for attempts whose agent stopped heartbeating, to run them again; null
    /// when agents live in this process and cannot be lost apart from it (they then do not claim attempts).
    /// </summary>
    public TimeSpan? LostAgentCheckInterval { get; init; }
    /// <summary>An attempt lost with its agent this many times fails instead of being tried on yet another agent.</summary>
    public int MaxLostAttempts { get; init; } = 3;
    /// <summary>
    /// Set when agents do not share this machine's file system: tasks then run in workspaces on
    /// the agents, and their files travel through the artifact store. Null for a shared file system.
    /// </summary>
    public Files.FileShipping? Files { get; init; }
    /// <summary>The record of an earlier attempt at this run: its succeeded, unchanged instances are not run again.</summary>
    public RunRecord? Previous { get; init; }
}
