namespace Orch.Engine;

public enum RunStatus { Running, Succeeded, Failed, Cancelled, TimedOut }

public enum InstanceStatus
{
    Pending,
    /// <summary>Waiting for its resources.</summary>
    Waiting,
    Running,
    Succeeded,
    Failed,
    /// <summary><c>when:</c> was false.</summary>
    Skipped,
    /// <summary>Not run because an upstream task failed.</summary>
    UpstreamFailed,
    Cancelled,
}

public static class InstanceStatusExtensions
{
    public static bool IsTerminal(this InstanceStatus status) =>
        status is InstanceStatus.Succeeded or InstanceStatus.Failed or InstanceStatus.Skipped or InstanceStatus.UpstreamFailed or InstanceStatus.Cancelled;

    /// <summary>Whether dependents may run after this status.</summary>
    public static bool LetsDependentsRun(this InstanceStatus status) => status is InstanceStatus.Succeeded or InstanceStatus.Skipped;

    public static string ToDisplay(this InstanceStatus status) => status switch
    {
        InstanceStatus.UpstreamFailed => "upstream failed",
        _ => status.ToString().ToLowerInvariant(),
    };
}
