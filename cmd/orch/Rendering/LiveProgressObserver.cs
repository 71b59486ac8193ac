using Orch.Engine;
using Orch.Hosting;
using Orch.Protocol;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Orch.Cli.Rendering;

/// <summary>Live progress on a terminal: a table of tasks with fan-out counts, redrawn ten times a second.</summary>
public sealed class LiveProgressObserver(TaskProgress tracker) : IRunObserver
{
    private readonly List<string> _messages = [];

    public void TaskStarted(string taskId, int instances) => tracker.Add(taskId, instances);
    public void AttemptStarted(string instanceKey, int attempt) => tracker.Find(instanceKey)?.Started();

    public void AttemptFinished(string instanceKey, TaskResult result, bool willRetry, TimeSpan? retryIn)
    {
        var ok = result.Status == AttemptStatus.Succeeded;
        tracker.Find(instanceKey)?.Finished(ok, final: ok || !willRetry);
        if (!ok) Add($"{instanceKey} attempt {result.Attempt}: {result.Error}{(willRetry ? " (retrying)" : "")}");
    }

    public void TaskFinished(string taskId, InstanceStatus status)
    {
        var entry = tracker.Find(taskId) ?? tracker.Add(taskId, 0);
        entry.Status = status;
    }

    public void Warning(string message) => Add("warning: " + message);

    private void Add(string message)
    {
        lock (_messages)
        {
            _messages.Add(message);
            if (_messages.Count > 5) _messages.RemoveAt(0);
        }
    }

    public static async Task<RunOutcome> ShowAsync(RunProgress progress, TaskProgress tracker, Func<CancellationToken, Task<RunOutcome>> run, CancellationToken cancellationToken)
    {
        var observer = tracker;
        RunOutcome? outcome = null;
        await AnsiConsole.Live(new Text("starting...")).AutoClear(true).StartAsync(async context =>
        {
            var work = run(cancellationToken);
            while (!work.IsCompleted)
            {
                context.UpdateTarget(Render(progress, observer));
                await Task.WhenAny(work, Task.Delay(100, CancellationToken.None));
            }
            outcome = await work;
        });
        return outcome!;
    }

    private static IRenderable Render(RunProgress progress, TaskProgress tracker)
    {
        var table = new Table().Border(TableBorder.Simple).AddColumns("task", "progress", "running", "failed", "status");
        foreach (var task in tracker.Tasks)
        {
            var status = task.Status?.ToDisplay() ?? (task.Running > 0 ? "running" : "waiting");
            table.AddRow(Markup.Escape(task.Id), $"{task.Done}/{task.Total}", task.Running.ToString(System.Globalization.CultureInfo.InvariantCulture),
                task.Failed > 0 ? $"[red]{task.Failed}[/]" : "0", Markup.Escape(status));
        }
        var header = new Markup($"[bold]{progress.Done}/{progress.Known}[/] done · {progress.Running} running · {progress.Waiting} waiting for resources · " +
            (progress.Failed > 0 ? $"[red]{progress.Failed} failed[/]" : "0 failed"));
        return new Rows(header, table);
    }
}
