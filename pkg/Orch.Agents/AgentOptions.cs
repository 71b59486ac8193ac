using Orch.Protocol;

namespace Orch.Agents;

/// <summary>Settings of one agent. Defaults suit the embedded default.</summary>
public sealed record AgentOptions
{
    public required AgentId Id { get; init; }
    public string Host { get; init; } = Environment.MachineName;
    public IReadOnlyList<string> Labels { get; init; } = [];
    /// <summary>Tasks run at once. Default: the number of processors.</summary>
    public int Slots { get; init; } = Environment.ProcessorCount;
    public string Version { get; init; } = typeof(AgentOptions).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
    /// <summary>How often the agent tells the registry it is alive; it counts as lost after three missed heartbeats.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>
    /// Claim each batch of attempts in the state store before running it, so a redelivered message
    /// cannot run an attempt twice and a coordinator can tell which agent holds it. Off for the in-process
    /// agent of the embedded default, which cannot be lost apart from its coordinator.
    /// </summary>
    public bool ClaimAttempts { get; init; } = true;
    /// <summary>How long a held resource lease is extended at each renewal; renewed every third of it.</summary>
    public TimeSpan LeaseTime { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// When the agent is asked to stop, how long running attempts get to finish before they are
    /// stopped and handed back to be run elsewhere. Zero hands them back at once.
    /// </summary>
    public TimeSpan ShutdownGrace { get; init; } = TimeSpan.Zero;
    /// <summary>
    /// Where the agent keeps attempt workspaces and fetched files when it does not share the run's
    /// file system (<c>workspaces/</c> and <c>cache/</c> under it).
    /// </summary>
    public string WorkDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "orch-agent");
    /// <summary>Size limits of the files attempts send and fetch (runs whose files travel through the backend).</summary>
    public Orch.Coordination.Artifacts.ArtifactLimits ArtifactLimits { get; init; } = Orch.Coordination.Artifacts.ArtifactLimits.Default;
    /// <summary>Most bytes of fetched files the agent keeps for later attempts; those used longest ago go first.</summary>
    public long CacheBytes { get; init; } = 4L << 30;
    /// <summary>Time between SIGTERM and SIGKILL when a shell task is stopped.</summary>
    public TimeSpan KillGrace { get; init; } = TimeSpan.FromSeconds(5);
}
