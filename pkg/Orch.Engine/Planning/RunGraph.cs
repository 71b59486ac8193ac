using Orch.Pipeline.Model;
using Orch.Pipeline.Templates;

namespace Orch.Engine.Planning;

/// <summary>The coordinator's working state for one task.</summary>
internal sealed class TaskNode(TaskDefinition definition)
{
    public TaskDefinition Definition { get; } = definition;
    public string Id => Definition.Id;
    public List<TaskNode> Dependents { get; } = [];
    public int UnfinishedNeeds { get; set; }
    public bool Expanded { get; set; }
    public InstanceStatus Status { get; set; } = InstanceStatus.Pending;
    public List<InstanceNode> Instances { get; } = [];
    public int Unfinished { get; set; }
    /// <summary>The scope shared by this task's instances (params and upstream outputs).</summary>
    public TemplateScope? Scope { get; set; }
    /// <summary>What templates of tasks downstream see as <c>tasks.ID</c>; made when one first reads it, after this task has finished.</summary>
    public Dictionary<string, object?>? View { get; set; }
    /// <summary>Files made by the tasks this one needs (runs whose agents do not share files).</summary>
    public IReadOnlyList<Orch.Protocol.RunFile> UpstreamFiles { get; set; } = [];

    /// <summary>How many of this task's attempts have reported how long they ran, and their total run time.</summary>
    private int _timed;
    private TimeSpan _timedTotal;

    /// <summary>Notes how long an attempt ran (as its agent measured it).</summary>
    public void Timed(TimeSpan ran)
    {
        _timed++;
        _timedTotal += ran < TimeSpan.Zero ? TimeSpan.Zero : ran;
    }

    /// <summary>
    /// True once this task's attempts have been seen to be short (on average under <paramref name="limit"/>):
    /// then several go to an agent in one message. A task nothing is known about yet is not.
    /// </summary>
    public bool RunsShorterThan(TimeSpan limit) => _timed > 0 && _timedTotal < limit * _timed;
}

/// <summary>The coordinator's working state for one task instance (one item of a fan-out, or the task itself).</summary>
internal sealed class InstanceNode(TaskNode task, string key, int? index, object? item)
{
    public TaskNode Task { get; } = task;
    public string Key { get; } = key;
    public int? Index { get; } = index;
    public object? Item { get; } = item;
    public InstanceStatus Status { get; set; } = InstanceStatus.Pending;
    /// <summary>Tries in this run; the retry budget counts these except the lost ones.</summary>
    public int Attempt { get; set; }
    /// <summary>Tries in this run that were lost with their agent.</summary>
    public int LostAttempts { get; set; }
    /// <summary>Tries made by the earlier run this one resumes; attempt numbers continue after them.</summary>
    public int PriorAttempts { get; set; }
    public Orch.Protocol.AttemptId? CurrentAttempt { get; set; }
    /// <summary>The batch the current attempt went out in: what its agent claimed.</summary>
    public Orch.Protocol.BatchId? CurrentBatch { get; set; }
    public Orch.Protocol.TaskBody? Body { get; set; }
    /// <summary>Where the attempt starts: a full local path, or its place in the workspace when files are shipped.</summary>
    public string? WorkingDirectory { get; set; }
    public IReadOnlyList<string> Locks { get; set; } = [];
    public Orch.Coordination.LockLease? Lease { get; set; }
    public IReadOnlyDictionary<string, object?> Outputs { get; set; } = Orch.Protocol.TaskResult.EmptyOutputs;
    /// <summary>Files the succeeded attempt made (runs whose agents do not share files).</summary>
    public IReadOnlyList<Orch.Protocol.RunFile> Files { get; set; } = [];
    public DateTimeOffset ReadyAt { get; set; }
    public DateTimeOffset? DispatchedAt { get; set; }
    public DateTimeOffset? DoneAt { get; set; }
    public List<AttemptRecord> Attempts { get; } = new(1);
    /// <summary>This instance's entry in the run record, updated as the instance changes.</summary>
    public InstanceRecord Record { get; set; } = null!;
}
