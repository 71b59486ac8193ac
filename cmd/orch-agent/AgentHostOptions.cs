using System.Reflection;
using Microsoft.Extensions.Configuration;
using Orch.Pipeline.Validation;

namespace Orch.AgentHost;

/// <summary>
/// Settings of an agent process, from <c>ORCH_AGENT__*</c> environment variables or
/// <c>--Agent:Name=value</c> arguments. Checked at start: a bad setting stops the process
/// with a message instead of an agent that silently takes no work.
/// </summary>
public sealed class AgentHostOptions
{
    public const string Section = "Agent";

    /// <summary>The shared backend that <c>orch run --backend</c> names: <c>redis://HOST:PORT</c>, <c>dapr</c> or <c>dapr://...</c>.</summary>
    public string? Backend { get; set; }

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

    /// <summary>The cluster key, when one is set and valid; null for an insecure agent.</summary>
    public Orch.Coordination.Signing.ClusterKey? LoadClusterKey(out string? problem)
    {
        problem = null;
        var loadProblem = Orch.Hosting.ClusterKeys.TryLoad(ClusterKeyFile, out var key);
        if (loadProblem is not null) problem = string.IsNullOrWhiteSpace(ClusterKeyFile) ? loadProblem : $"Agent:ClusterKeyFile: {loadProblem}";
        else if (Insecure && key is not null) problem = $"Agent:Insecure: {Orch.Hosting.ClusterKeys.Contradiction("Agent:Insecure=true")}";
        else if (!Insecure && key is null) problem = $"Agent:ClusterKeyFile: {Orch.Hosting.ClusterKeys.Missing("Agent:ClusterKeyFile", "Agent:Insecure=true")}";
        return problem is null ? key : null;
    }

    /// <summary>Every problem with these settings, each naming the setting and what to do.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (Orch.Hosting.BackendAddress.IsEmbedded(Backend))
            problems.Add("Agent:Backend is not set: give the address that orch run --backend uses, e.g. --Agent:Backend=redis://HOST:6379 (the embedded default needs no agents)");
        else if (Orch.Hosting.BackendAddress.Problem(Backend) is { } problem) problems.Add($"Agent:Backend: {problem}");
        if (Slots is < 1 or > 1024) problems.Add($"Agent:Slots is {Slots}; use a number from 1 to 1024");
        if (HeartbeatInterval < TimeSpan.FromMilliseconds(100) || HeartbeatInterval > TimeSpan.FromMinutes(5))
            problems.Add($"Agent:HeartbeatInterval is {HeartbeatInterval}; use a time from 00:00:00.1 to 00:05:00");
        if (ShutdownGrace < TimeSpan.Zero || ShutdownGrace > TimeSpan.FromHours(24))
            problems.Add($"Agent:ShutdownGrace is {ShutdownGrace}; use a time from 00:00:00 to 24:00:00");
        if (CacheMegabytes < 0) problems.Add($"Agent:CacheMegabytes is {CacheMegabytes}; use 0 or more (0 keeps nothing between attempts)");
        if (string.IsNullOrWhiteSpace(WorkDirectory)) problems.Add("Agent:WorkDirectory is empty; set a directory for workspaces and fetched files");
        if (!Orch.Hosting.BackendAddress.IsEmbedded(Backend) && Orch.Hosting.BackendAddress.Problem(Backend) is null)
        {
            LoadClusterKey(out var keyProblem);
            if (keyProblem is not null) problems.Add(keyProblem);
        }
        return problems;
    }

    /// <summary>The names of the settings (<c>Agent:NAME</c>).</summary>
    private static IEnumerable<string> Names =>
        typeof(AgentHostOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).Select(p => p.Name);

    /// <summary>
    /// Arguments that are not <c>--Agent:NAME=VALUE</c> settings, and settings that do not exist
    /// (from arguments or <c>ORCH_AGENT__*</c> variables): ignored, they would leave an agent that
    /// silently runs with a default its user meant to change.
    /// </summary>
    public static IEnumerable<string> UnknownSettings(IEnumerable<string> args, IConfigurationSection section)
    {
        foreach (var arg in args)
        {
            var key = arg.TrimStart('-', '/').Split('=', 2)[0];
            if ((arg.StartsWith('-') || arg.StartsWith('/')) && !key.StartsWith(Section + ":", StringComparison.OrdinalIgnoreCase))
                yield return $"unknown argument '{arg}': settings are given as --{Section}:NAME=VALUE, e.g. --{Section}:Slots=4";
        }
        foreach (var child in section.GetChildren())
        {
            if (Names.Contains(child.Key, StringComparer.OrdinalIgnoreCase)) continue;
            var closest = Suggestions.Closest(child.Key, Names);
            yield return $"{Section}:{child.Key} is not a setting; " + (closest is null ? "see orch-agent --help for the settings" : $"did you mean {Section}:{closest}?");
        }
    }

    /// <summary>What <c>orch-agent --help</c> prints.</summary>
    public const string Usage = """
        orch-agent: runs the tasks of orch run --backend ADDRESS on this machine.

        USAGE:
            orch-agent --Agent:Backend=ADDRESS --Agent:ClusterKeyFile=PATH [--Agent:NAME=VALUE]...

        Settings also come from ORCH_AGENT__NAME environment variables (ORCH_AGENT__SLOTS=4).

        SETTINGS:
            Agent:Backend           the shared backend orch run uses: redis://HOST:PORT, dapr, dapr://HOST:PORT?...
            Agent:ClusterKeyFile    file with the cluster key that signs tasks (else $ORCH_CLUSTER_KEY holds it)
            Agent:Insecure          true to take unsigned tasks from anyone who can write to the backend
            Agent:Id                the agent's name (default HOST-PID)
            Agent:Slots             tasks at once (default: number of processors)
            Agent:Labels:N          labels tasks can target with on: { labels: [...] } (Agent:Labels:0=gpu)
            Agent:WorkDirectory     workspaces of attempts and fetched files (default .orch)
            Agent:CacheMegabytes    fetched input files kept for later attempts (default 4096)
            Agent:HeartbeatInterval how often the agent heartbeats (default 00:00:05)
            Agent:ShutdownGrace     on SIGTERM, how long running tasks get to finish (default 00:00:30)

        EXIT CODES:
            0 stopped by SIGTERM or SIGINT, 2 a bad setting, 30 the backend cannot be reached

        """;
}
