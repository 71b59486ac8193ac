using System.Globalization;
using System.Text.Json;
using Orch.Engine;
using Spectre.Console;

namespace Orch.Cli.Rendering;

/// <summary>The end-of-run summary: a table per task, failures with their logs, the run id and where to look.</summary>
public static class RunSummary
{
    public static void Print(RunReport report, TextWriter output)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = output == Console.Out && !Console.IsOutputRedirected ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = output == Console.Out && !Console.IsOutputRedirected ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        });
        if (output != Console.Out || Console.IsOutputRedirected) console.Profile.Width = 160; // logs have no width: don't wrap
        var table = new Table().Border(TableBorder.Simple)
            .AddColumn("task")
            .AddColumn(new TableColumn("status").NoWrap())
            .AddColumn(new TableColumn("ok").RightAligned())
            .AddColumn(new TableColumn("failed").RightAligned())
            .AddColumn(new TableColumn("skipped").RightAligned())
            .AddColumn(new TableColumn("attempts").RightAligned())
            .AddColumn(new TableColumn("reused").RightAligned());
        foreach (var task in report.Record.Tasks)
        {
            var instances = task.Instances;
            table.AddRow(
                Markup.Escape(task.Id),
                StatusMarkup(task.Status),
                $"{N(instances.Count(i => i.Status == InstanceStatus.Succeeded))}/{N(instances.Count)}",
                N(instances.Count(i => i.Status is InstanceStatus.Failed or InstanceStatus.Cancelled)),
                N(instances.Count(i => i.Status is InstanceStatus.Skipped or InstanceStatus.UpstreamFailed)),
                N(instances.Sum(i => i.Reused ? 0 : i.Attempts.Count)),
                N(instances.Count(i => i.Reused)));
        }
        console.Write(table);

        var failures = report.Record.Tasks.SelectMany(t => t.Instances).Where(i => i.Status is InstanceStatus.Failed or InstanceStatus.Cancelled).ToList();
        foreach (var failure in failures.Take(20))
        {
            var log = failure.Attempts.LastOrDefault()?.Log;
            console.MarkupLine($"[red]{failure.Status.ToDisplay()}[/] {Markup.Escape(failure.Key)}: {Markup.Escape(failure.Error ?? "")}");
            if (log is not null)
            {
                var path = Path.Combine(report.RunDirectory, log);
                // Logs are created only when an attempt prints something.
                console.MarkupLine(File.Exists(path) ? $"  log: {Markup.Escape(Path.GetRelativePath(Directory.GetCurrentDirectory(), path))}" : "  log: (the attempt printed nothing)");
            }
        }
        if (failures.Count > 20) console.MarkupLine($"... and {failures.Count - 20} more failures");

        var runDirectory = Path.GetRelativePath(Directory.GetCurrentDirectory(), report.RunDirectory);
        console.MarkupLine($"run {Markup.Escape(report.RunId.Value)} {StatusMarkup(report.Status)} in {Elapsed(report.Elapsed)}");
        console.MarkupLine($"logs: {Markup.Escape(Path.Combine(runDirectory, "logs"))}");
        if (report.Status is not RunStatus.Succeeded)
            console.MarkupLine($"resume: orch run {Markup.Escape(report.Record.File)} --resume {Markup.Escape(report.RunId.Value)}");
    }

    public static string ToJson(RunReport report) => JsonSerializer.Serialize(new
    {
        run_id = report.RunId.Value,
        pipeline = report.Record.Pipeline,
        status = report.Status.ToString().ToLowerInvariant(),
        elapsed_ms = (long)report.Elapsed.TotalMilliseconds,
        run_directory = report.RunDirectory,
        agents = report.Record.Tasks.SelectMany(t => t.Instances).SelectMany(i => i.Attempts)
            .Select(a => a.Agent).OfType<string>().Distinct().Order(StringComparer.Ordinal),
        latency_ms = new { p50 = report.Latency.P50.TotalMilliseconds, p99 = report.Latency.P99.TotalMilliseconds },
        dispatch_latency_ms = new { p50 = report.DispatchLatency.P50.TotalMilliseconds, p99 = report.DispatchLatency.P99.TotalMilliseconds },
        tasks = report.Record.Tasks.Select(t => new
        {
            id = t.Id,
            status = t.Status.ToDisplay(),
            instances = t.Instances.Count,
            succeeded = t.Instances.Count(i => i.Status == InstanceStatus.Succeeded),
            failed = t.Instances.Count(i => i.Status is InstanceStatus.Failed or InstanceStatus.Cancelled),
            skipped = t.Instances.Count(i => i.Status is InstanceStatus.Skipped or InstanceStatus.UpstreamFailed),
            reused = t.Instances.Count(i => i.Reused),
            attempts = t.Instances.Where(i => !i.Reused).Sum(i => i.Attempts.Count),
            lost = t.Instances.Sum(i => i.Attempts.Count(a => a.Status == "lost")),
            outputs = t.Instances.Count == 1 ? t.Instances[0].Outputs : null,
        }),
        failures = report.Record.Tasks.SelectMany(t => t.Instances)
            .Where(i => i.Status is InstanceStatus.Failed or InstanceStatus.Cancelled)
            .Select(i => new { instance = i.Key, status = i.Status.ToDisplay(), error = i.Error, log = i.Attempts.LastOrDefault()?.Log }),
    }, new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    private static string StatusMarkup(InstanceStatus status) => status switch
    {
        InstanceStatus.Succeeded => "[green]succeeded[/]",
        InstanceStatus.Failed or InstanceStatus.Cancelled or InstanceStatus.UpstreamFailed => $"[red]{status.ToDisplay()}[/]",
        _ => status.ToDisplay(),
    };

    private static string StatusMarkup(RunStatus status) => status switch
    {
        RunStatus.Succeeded => "[green]succeeded[/]",
        RunStatus.TimedOut => "[red]timed out[/]",
        _ => $"[red]{status.ToString().ToLowerInvariant()}[/]",
    };

    private static string N(int n) => n.ToString(CultureInfo.InvariantCulture);

    private static string Elapsed(TimeSpan t) => t.TotalSeconds < 60
        ? t.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture) + "s"
        : $"{(int)t.TotalMinutes}m{t.Seconds:00}s";
}
