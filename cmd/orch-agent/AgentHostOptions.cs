namespace Orch.AgentHost;

/// <summary>
/// Settings of an agent process, from <c>ORCH_AGENT__*</c> environment variables or
/// <c>--Agent:Name=value</c> arguments. Checked at start: a bad setting stops the process
/// with a message instead of an agent that silently takes no work.
/// </summary>
public sealed class AgentHostOptions
{
    public const string Section = "Agent";

    /// <summary>Coordination backend: <c>redis://HOST:PORT</c> to serve <c>orch run --backend</c> on that address.</summary>
    public string Backend { get; set; } = "embedded";

    /// <summary>Agent id; default HOST-PID.</summary>
    public string? Id { get; set; }

    /// <summary>Tasks run at once.</summary>
    public int Slots { get; set; } = Environment.ProcessorCount;

    /// <summary>Labels tasks can target.</summary>
    public List<string> Labels { get; set; } = [];

    /// <summary>
    /// The agent's own directory: workspaces of running attempts and the files it fetched for them
    /// (runs whose files travel through the backend), and run records of the embedded backend.
    /// </summary>
    public string WorkDirectory { get; set; } = ".orch";

    /// <summary>Most megabytes of fetched input files kept for later attempts (least recently used go first).</summary>
    public long CacheMegabytes { get; set; } = 4096;

    /// <summary>On SIGTERM, how long running tasks get to finish (hh:mm:ss) before they are stopped and handed back to run on another agent.</summary>
    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the agent heartbeats (hh:mm:ss); a coordinator counts it as lost after three missed heartbeats and runs its tasks elsewhere.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>
    /// File holding the cluster key (base64 or hex of at least 32 random bytes) that signs and
    /// checks every bus message; else the <c>ORCH_CLUSTER_KEY</c> environment variable holds the
    /// key text. A shared backend needs one unless <see cref="Insecure"/>.
    /// </summary>
    public string? ClusterKeyFile { get; set; }

    /// <summary>Serve a shared backend without a cluster key: any task on the broker runs, whoever put it there.</summary>
    public bool Insecure { get; set; }

    /// <summary>The cluster key, when one is set and valid; null for the embedded backend or an insecure agent.</summary>
    public Orch.Coordination.Signing.ClusterKey? LoadClusterKey(out string? problem)
    {
        problem = null;
        var remote = !Orch.Hosting.BackendAddress.IsEmbedded(Backend);
        var loadProblem = Orch.Hosting.ClusterKeys.TryLoad(ClusterKeyFile, out var key);
        if (loadProblem is not null) problem = string.IsNullOrWhiteSpace(ClusterKeyFile) ? loadProblem : $"Agent:ClusterKeyFile: {loadProblem}";
        else if (remote && Insecure && key is not null) problem = $"Agent:Insecure: {Orch.Hosting.ClusterKeys.Contradiction("Agent:Insecure=true")}";
        else if (remote && !Insecure && key is null) problem = $"Agent:ClusterKeyFile: {Orch.Hosting.ClusterKeys.Missing("Agent:ClusterKeyFile", "Agent:Insecure=true")}";
        return remote && problem is null ? key : null;
    }

    /// <summary>Every problem with these settings, each naming the setting and what to do.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (Orch.Hosting.BackendAddress.Problem(Backend) is { } problem) problems.Add($"Agent:Backend: {problem}");
        if (Slots is < 1 or > 1024) problems.Add($"Agent:Slots is {Slots}; use a number from 1 to 1024");
        if (HeartbeatInterval < TimeSpan.FromMilliseconds(100) || HeartbeatInterval > TimeSpan.FromMinutes(5))
            problems.Add($"Agent:HeartbeatInterval is {HeartbeatInterval}; use a time from 00:00:00.1 to 00:05:00");
        if (ShutdownGrace < TimeSpan.Zero || ShutdownGrace > TimeSpan.FromHours(24))
            problems.Add($"Agent:ShutdownGrace is {ShutdownGrace}; use a time from 00:00:00 to 24:00:00");
        if (CacheMegabytes < 0) problems.Add($"Agent:CacheMegabytes is {CacheMegabytes}; use 0 or more (0 keeps nothing between attempts)");
        if (string.IsNullOrWhiteSpace(WorkDirectory)) problems.Add("Agent:WorkDirectory is empty; set a directory for workspaces and fetched files");
        if (Orch.Hosting.BackendAddress.Problem(Backend) is null)
        {
            LoadClusterKey(out var keyProblem);
            if (keyProblem is not null) problems.Add(keyProblem);
        }
        return problems;
    }
}
