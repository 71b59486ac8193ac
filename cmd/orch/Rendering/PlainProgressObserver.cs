using System.Globalization;
using Orch.Engine;
using Orch.Protocol;

namespace Orch.Cli.Rendering;

/// <summary>
/// Progress for logs and CI: one timestamped line per task start and finish and per failed
/// attempt, plus a counts line every 10 seconds. Never one line per successful instance, so a
/// 100,000-item fan-out does not flood the log.
/// </summary>
public sealed class PlainProgressObserver(TaskProgress tracker, TextWriter output, RunProgress progress) : IRunObserver
{
    private readonly Lock _gate = new();

    public void TaskStarted(string taskId, int instances)
    {
        tracker.Add(taskId, instances);
        Line(instances == 1 ? $"start   {taskId}" : $"start   {taskId} ({instances} instances)");
    }

    public void AttemptStarted(string instanceKey, int attempt) => tracker.Find(instanceKey)?.Started();

    public void AttemptFinished(string instanceKey, TaskResult result, bool willRetry, TimeSpan? retryIn)
    {
        var ok = result.Status == AttemptStatus.Succeeded;
        tracker.Find(instanceKey)?.Finished(ok, final: ok || !willRetry);
        if (ok) return;
        var what = $"{instanceKey} attempt {result.Attempt} {result.Status.ToString().ToLowerInvariant()}: {result.Error}";
        Line(willRetry ? $"retry   {what} (next try in {retryIn!.Value.TotalSeconds:0.0}s)" : $"fail    {what}");
    }

    public void TaskFinished(string taskId, InstanceStatus status)
    {
        var entry = tracker.Find(taskId);
        var counts = entry is null || entry.Total <= 1 ? "" : $" ({entry.Done - entry.Failed}/{entry.Total} ok)";
        var verb = status switch { InstanceStatus.Succeeded => "done", InstanceStatus.Skipped => "skip", _ => "fail" };
        Line($"{verb,-7} {taskId}: {status.ToDisplay()}{counts}");
    }

    public void Warning(string message) => Line($"warning {message}");

    /// <summary>Prints overall counts every 10 seconds until disposed.</summary>
    public IDisposable StartTicker() => new Timer(_ =>
        Line($"progress {progress.Done}/{progress.Known} done, {progress.Running} running, {progress.Waiting} waiting for resources, {progress.Failed} failed"),
        null, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10));

    private void Line(string text)
    {
        lock (_gate)
        {
            output.WriteLine($"{DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)} {text}");
            output.Flush();
        }
    }
}
