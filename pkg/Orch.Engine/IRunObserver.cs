using Orch.Protocol;

namespace Orch.Engine;

/// <summary>
/// Hears what a run does, for progress displays and logs. Called from the coordinator's loop:
/// implementations must be quick and must not throw.
/// </summary>
public interface IRunObserver
{
    void TaskStarted(string taskId, int instances);
    void AttemptStarted(string instanceKey, int attempt);
    void AttemptFinished(string instanceKey, TaskResult result, bool willRetry, TimeSpan? retryIn);
    void TaskFinished(string taskId, InstanceStatus status);
    void Warning(string message);
}

public sealed class NullRunObserver : IRunObserver
{
    public static readonly NullRunObserver Instance = new();
    public void TaskStarted(string taskId, int instances) { }
    public void AttemptStarted(string instanceKey, int attempt) { }
    public void AttemptFinished(string instanceKey, TaskResult result, bool willRetry, TimeSpan? retryIn) { }
    public void TaskFinished(string taskId, InstanceStatus status) { }
    public void Warning(string message) { }
}

/// <summary>Live counters of a run, safe to read from another thread (the progress display polls them).</summary>
public sealed class RunProgress
{
    private long _known, _running, _waiting, _succeeded, _failed, _skipped;
    public long Known => Volatile.Read(ref _known);
    public long Running => Volatile.Read(ref _running);
    public long Waiting => Volatile.Read(ref _waiting);
    public long Succeeded => Volatile.Read(ref _succeeded);
    public long Failed => Volatile.Read(ref _failed);
    public long Skipped => Volatile.Read(ref _skipped);
    public long Done => Succeeded + Failed + Skipped;

    internal void AddKnown(long n) => Interlocked.Add(ref _known, n);

    internal void Move(InstanceStatus from, InstanceStatus to)
    {
        Add(from, -1);
        Add(to, 1);
    }

    private void Add(InstanceStatus status, long delta)
    {
        switch (status)
        {
            case InstanceStatus.Running: Interlocked.Add(ref _running, delta); break;
            case InstanceStatus.Waiting: Interlocked.Add(ref _waiting, delta); break;
            case InstanceStatus.Succeeded: Interlocked.Add(ref _succeeded, delta); break;
            case InstanceStatus.Failed or InstanceStatus.Cancelled: Interlocked.Add(ref _failed, delta); break;
            case InstanceStatus.Skipped or InstanceStatus.UpstreamFailed: Interlocked.Add(ref _skipped, delta); break;
        }
    }
}
