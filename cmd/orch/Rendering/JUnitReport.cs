using System.Globalization;
using System.Xml.Linq;
using Orch.Engine;

namespace Orch.Cli.Rendering;

/// <summary>A JUnit XML report: one testcase per task instance, as CI systems read it.</summary>
public static class JUnitReport
{
    public static void Write(RunReport report, string path)
    {
        var instances = report.Record.Tasks.SelectMany(t => t.Instances.Select(i => (Task: t, Instance: i))).ToList();
        var failures = instances.Count(x => x.Instance.Status is InstanceStatus.Failed or InstanceStatus.Cancelled);
        var skipped = instances.Count(x => x.Instance.Status is InstanceStatus.Skipped or InstanceStatus.UpstreamFailed or InstanceStatus.Pending or InstanceStatus.Waiting);
        var suite = new XElement("testsuite",
            new XAttribute("name", report.Record.Pipeline),
            new XAttribute("tests", instances.Count),
            new XAttribute("failures", failures),
            new XAttribute("errors", 0),
            new XAttribute("skipped", skipped),
            new XAttribute("time", Seconds(report.Elapsed)),
            new XAttribute("timestamp", report.Record.StartedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture)),
            instances.Select(x => TestCase(report, x.Task, x.Instance)));
        var document = new XDocument(new XDeclaration("1.0", "utf-8", null),
            new XElement("testsuites", new XAttribute("name", report.RunId.Value), new XAttribute("tests", instances.Count), new XAttribute("failures", failures), new XAttribute("time", Seconds(report.Elapsed)), suite));
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        document.Save(path);
    }

    private static XElement TestCase(RunReport report, TaskRecord task, InstanceRecord instance)
    {
        var last = instance.Attempts.LastOrDefault();
        var time = last?.StartedAt is { } s && last.FinishedAt is { } f ? f - s : TimeSpan.Zero;
        var testCase = new XElement("testcase",
            new XAttribute("classname", $"{report.Record.Pipeline}.{task.Id}"),
            new XAttribute("name", instance.Key),
            new XAttribute("time", Seconds(time)));
        var log = last?.Log is { } l ? Path.Combine(report.RunDirectory, l) : null;
        switch (instance.Status)
        {
            case InstanceStatus.Failed or InstanceStatus.Cancelled:
                testCase.Add(new XElement("failure",
                    new XAttribute("message", instance.Error ?? instance.Status.ToDisplay()),
                    new XAttribute("type", instance.Status.ToDisplay()),
                    $"attempts: {instance.Attempts.Count}" + (log is null ? "" : $"\nlog: {log}")));
                break;
            case InstanceStatus.Skipped or InstanceStatus.UpstreamFailed or InstanceStatus.Pending or InstanceStatus.Waiting:
                testCase.Add(new XElement("skipped", new XAttribute("message", instance.Status.ToDisplay())));
                break;
        }
        if (log is not null) testCase.Add(new XElement("system-out", $"log: {log}"));
        return testCase;
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture);
}
