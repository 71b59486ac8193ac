using System.Text.Json.Serialization;

namespace Orch.Protocol;

/// <summary>Topic names shared by the coordinator and agents.</summary>
public static class Topics
{
    /// <summary>Task batches (<see cref="TaskBatch"/>); agents compete for them in one consumer group.</summary>
    public const string Tasks = "orch.tasks";
    /// <summary>Broadcast control messages (cancel an attempt); every agent reads all of them.</summary>
    public const string Control = "orch.control";
    /// <summary>Results of one run (<see cref="ResultBatch"/>), read by that run's coordinator.</summary>
    public static string Results(RunId run) => $"orch.results.{run.Value}";
    public const string AgentsGroup = "agents";

    /// <summary>
    /// Tasks for agents with exactly this set of labels (a pool): agents with labels read their
    /// pool's topic besides <see cref="Tasks"/>, and the coordinator sends a task that asks for
    /// labels to the pool of a live agent that has them all.
    /// </summary>
    public static string Pool(IEnumerable<string> agentLabels)
    {
        var canonical = string.Join('\n', agentLabels.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal));
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(canonical));
        return "orch.tasks.pool." + Convert.ToHexStringLower(hash.AsSpan(0, 8));
    }
}

/// <summary>
/// What travels on the task topics: attempts of one run that one agent takes together. An agent
/// claims the batch (one claim for all its attempts) before it runs any of them, and starts them
/// in order as its slots free up. The coordinator sends several attempts in one batch only for
/// short tasks, where a message per attempt would cost more than the work; a batch of one is the rule.
/// </summary>
public sealed record TaskBatch
{
    public const int CurrentVersion = 1;
    public int Version { get; init; } = CurrentVersion;
    public required BatchId Id { get; init; }
    public required RunId RunId { get; init; }
    public required IReadOnlyList<TaskDispatch> Attempts { get; init; }
}

/// <summary>
/// What an agent must run: one attempt of one task instance, fully rendered (no templates left).
/// Paths are absolute. Values in <see cref="ActionBody.With"/> and outputs are plain JSON-like values.
/// </summary>
public sealed record TaskDispatch
{
    public required RunId RunId { get; init; }
    /// <summary>Instance key, e.g. <c>count[3]</c> or <c>merge</c>.</summary>
    public required string InstanceKey { get; init; }
    public required string TaskId { get; init; }
    public required int Attempt { get; init; }
    public required AttemptId AttemptId { get; init; }
    public required TaskBody Body { get; init; }
    public TimeSpan? Timeout { get; init; }
    /// <summary>Where the attempt's combined stdout/stderr (or action log) goes.</summary>
    public required string LogPath { get; init; }
    /// <summary>Directory for files the task produces; created on demand.</summary>
    public required string ArtifactDirectory { get; init; }
    /// <summary>Directory that relative paths resolve against (shell tasks start in it).</summary>
    public required string WorkingDirectory { get; init; }
    /// <summary>Locks held for this attempt, with their fencing tokens.</summary>
    public IReadOnlyList<LockGrant> Locks { get; init; } = [];
    /// <summary>The lease that holds <see cref="Locks"/>; the agent renews it while the attempt runs.</summary>
    public string? LeaseId { get; init; }
    /// <summary>How many of the agent's slots the attempt takes.</summary>
    public int Slots { get; init; } = 1;
    /// <summary>
    /// Set when agents do not share the run's file system. Then <see cref="WorkingDirectory"/> and
    /// <see cref="ArtifactDirectory"/> are relative to a fresh workspace the agent makes for the
    /// attempt (it stands for the run's working directory), and <see cref="LogPath"/> is unused.
    /// </summary>
    public TaskFiles? Files { get; init; }
}

/// <summary>How an attempt's files travel through the artifact store (runs without a shared file system).</summary>
public sealed record TaskFiles
{
    /// <summary>Files to place in the workspace before the attempt starts: path params it names and files of the tasks it needs.</summary>
    public IReadOnlyList<RunFile> Inputs { get; init; } = [];
    /// <summary>Artifact name prefix for the files the attempt creates in its workspace; stored when it succeeds.</summary>
    public required string SaveAs { get; init; }
    /// <summary>Artifact name for the attempt's log, stored however it ends.</summary>
    public required string LogAs { get; init; }
}

/// <summary>
/// A file of a run held in the artifact store: its path relative to the run's working directory,
/// and the artifact with its size, SHA-256 and chunk count (so a reader can insist on exactly this content).
/// </summary>
public sealed record RunFile(string Path, string Artifact, long Size, string Sha256, int Chunks);

/// <summary>What a task runs; serialised with a <c>kind</c> discriminator (<c>action</c> or <c>shell</c>).</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(ActionBody), "action")]
[JsonDerivedType(typeof(ShellBody), "shell")]
public abstract record TaskBody;

/// <summary>A built-in action with its rendered inputs.</summary>
public sealed record ActionBody(string Action, IReadOnlyDictionary<string, object?> With) : TaskBody;

/// <summary>A shell task: its interpreter (null for <c>/bin/sh</c>), rendered script, and the task's own environment additions.</summary>
public sealed record ShellBody(string? Shell, string Script, IReadOnlyDictionary<string, string> Environment) : TaskBody;

/// <summary>One held resource (<c>fork:3</c>) and its fencing token, which grows with every grant of that resource.</summary>
public sealed record LockGrant(string Resource, long FencingToken);

/// <summary>How an attempt ended. <see cref="Lost"/> is decided by the coordinator when the attempt's agent stopped heartbeating.</summary>
public enum AttemptStatus { Succeeded, Failed, TimedOut, Cancelled, Lost }

/// <summary>The outcome of one attempt, published by the agent that ran it.</summary>
public sealed record TaskResult
{
    public required RunId RunId { get; init; }
    public required string InstanceKey { get; init; }
    public required int Attempt { get; init; }
    public required AttemptId AttemptId { get; init; }
    public required AgentId AgentId { get; init; }
    public required AttemptStatus Status { get; init; }
    public int? ExitCode { get; init; }
    /// <summary>One line for people: why it failed.</summary>
    public string? Error { get; init; }
    /// <summary>False when trying again cannot help (bad input to an action).</summary>
    public bool Retryable { get; init; } = true;
    /// <summary>
    /// The agent stopped the attempt because it is shutting down, not because of the task: the
    /// coordinator runs it again elsewhere without counting it against the task's retries.
    /// </summary>
    public bool HandedBack { get; init; }
    public IReadOnlyDictionary<string, object?> Outputs { get; init; } = EmptyOutputs;
    /// <summary>Files the attempt created in its workspace (runs without a shared file system; succeeded attempts only).</summary>
    public IReadOnlyList<RunFile> Files { get; init; } = [];
    /// <summary>The attempt's log in the artifact store (runs without a shared file system), or null when it printed nothing.</summary>
    public RunFile? Log { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public required DateTimeOffset FinishedAt { get; init; }

    public static readonly IReadOnlyDictionary<string, object?> EmptyOutputs = new Dictionary<string, object?>();
}

/// <summary>What travels on a run's results topic: results an agent had ready at the same time, sent as one message.</summary>
public sealed record ResultBatch
{
    public const int CurrentVersion = 1;
    public int Version { get; init; } = CurrentVersion;
    public required RunId RunId { get; init; }
    public required IReadOnlyList<TaskResult> Results { get; init; }
}

/// <summary>Asks whichever agent runs <see cref="AttemptId"/> to stop it.</summary>
public sealed record CancelAttempt(RunId RunId, AttemptId AttemptId, string Reason);
