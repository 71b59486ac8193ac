using Orch.Engine;

namespace Orch.Engine;

/// <summary>
/// The persisted record of a run: status, parameters, and per task instance its attempts,
/// outputs and fingerprint. Stored as JSON at <see cref="RunRecordStore.KeyFor"/>.
/// </summary>
public sealed class RunRecord
{
    public int Version { get; set; } = 1;
    public required string RunId { get; set; }
    public required string Pipeline { get; set; }
    public required string File { get; set; }
    /// <summary>Where the run's relative paths resolve (a resumed run keeps it).</summary>
    public string? WorkingDirectory { get; set; }
    public required Dictionary<string, object?> Params { get; set; }
    public RunStatus Status { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    public List<TaskRecord> Tasks { get; set; } = [];
}

public sealed class TaskRecord
{
    public required string Id { get; set; }
    public InstanceStatus Status { get; set; }
    public List<InstanceRecord> Instances { get; set; } = [];
}

public sealed class InstanceRecord
{
    public required string Key { get; set; }
    public int? Index { get; set; }
    public InstanceStatus Status { get; set; }
    /// <summary>Hash of the rendered task body; a resumed run reuses a succeeded instance only when it matches.</summary>
    public string? Fingerprint { get; set; }
    public Dictionary<string, object?>? Outputs { get; set; }
    /// <summary>Files the succeeded attempt made, in the artifact store (runs whose agents do not share files).</summary>
    public List<Orch.Protocol.RunFile>? Files { get; set; }
    public string? Error { get; set; }
    public bool Reused { get; set; }
    public List<AttemptRecord> Attempts { get; set; } = [];
}

public sealed class AttemptRecord
{
    public int Number { get; set; }
    public required string Id { get; set; }
    public string? Status { get; set; }
    public int? ExitCode { get; set; }
    public string? Error { get; set; }
    public string? Agent { get; set; }
    public string? Log { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
}
