using System.Text.Json;
using System.Xml.Linq;
using Orch.Cli.Tests.Infrastructure;

namespace Orch.Cli.Tests;

/// <summary>A run with a failing task: exit code, summary, JUnit and JSON reports.</summary>
public sealed class FailureReportTests
{
    // fine: 1 instance ok; fan: 3 instances, fan[1] fails; skipme: 1 skipped instance; after: upstream failed, never expanded.
    private const string Failing = """
        name: failing
        tasks:
          fine:
            run: echo fine
          fan:
            for_each: "{{ [1, 2, 3] }}"
            env:
              ITEM: "{{ item }}"
            run: |
              echo "item $ITEM"
              if [ "$ITEM" = 2 ]; then echo "two is not allowed" >&2; exit 3; fi
          skipme:
            when: "{{ false }}"
            run: echo never > never.txt
          after:
            needs: [fan]
            run: echo after > after.txt
        """;

    [Fact]
    public async Task FailingTask_Exits20_SummaryShowsFailureAndLog()
    {
        using var dir = new TempDir();
        dir.Write("failing.yml", Failing);

        var result = await OrchCli.RunAsync(dir.Path, "run", "failing.yml");

        Assert.True(result.ExitCode == 20, result.ToString());
        Assert.False(dir.Exists("after.txt"), "a task ran after its upstream failed");
        Assert.False(dir.Exists("never.txt"), "a task ran although its when: is false");
        var runId = Assert.Single(dir.RunDirectories().Select(Path.GetFileName));
        var failure = Assert.Single(result.Stdout.Split('\n'), l => l.StartsWith("failed fan[1]", StringComparison.Ordinal));
        Assert.Contains("exit code 3", failure, StringComparison.Ordinal);
        var log = Assert.Single(result.Stdout.Split('\n'), l => l.TrimStart().StartsWith("log: ", StringComparison.Ordinal)).Trim()["log: ".Length..];
        Assert.Equal(Path.Combine(".orch", "runs", runId!, "logs", "fan", "1.attempt-1.log"), log);
        var logText = dir.Read(log);
        Assert.Contains("item 2", logText, StringComparison.Ordinal);
        Assert.Contains("two is not allowed", logText, StringComparison.Ordinal);
        Assert.Contains($"resume: orch run failing.yml --resume {runId}", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JUnit_OneTestcasePerInstance_WithFailureAndSkippedCounts()
    {
        using var dir = new TempDir();
        dir.Write("failing.yml", Failing);

        var result = await OrchCli.RunAsync(dir.Path, "run", "failing.yml", "--junit", "reports/junit.xml");

        Assert.True(result.ExitCode == 20, result.ToString());
        var document = XDocument.Load(dir["reports/junit.xml"]);
        var suite = Assert.Single(document.Root!.Elements("testsuite"));
        var cases = suite.Elements("testcase").ToList();
        Assert.Equal(["fan[0]", "fan[1]", "fan[2]", "fine", "skipme"], cases.Select(c => (string)c.Attribute("name")!).Order(StringComparer.Ordinal));
        Assert.Equal(5, (int)suite.Attribute("tests")!);
        Assert.Equal(1, (int)suite.Attribute("failures")!);
        Assert.Equal(1, (int)suite.Attribute("skipped")!);
        Assert.Equal(cases.Count(c => c.Element("failure") is not null), (int)suite.Attribute("failures")!);
        Assert.Equal(cases.Count(c => c.Element("skipped") is not null), (int)suite.Attribute("skipped")!);
        var failed = cases.Single(c => c.Element("failure") is not null);
        Assert.Equal("fan[1]", (string)failed.Attribute("name")!);
        Assert.Equal("failing.fan", (string)failed.Attribute("classname")!);
        Assert.Equal("skipme", (string)cases.Single(c => c.Element("skipped") is not null).Attribute("name")!);
        Assert.Equal(5, (int)document.Root!.Attribute("tests")!);
        Assert.Equal(1, (int)document.Root!.Attribute("failures")!);
        Assert.All(cases, c => Assert.True(double.Parse((string)c.Attribute("time")!, System.Globalization.CultureInfo.InvariantCulture) >= 0));
    }

    [Fact]
    public async Task Json_HasRunIdStatusAndTasks_AndProgressGoesToStderr()
    {
        using var dir = new TempDir();
        dir.Write("failing.yml", Failing);

        var result = await OrchCli.RunAsync(dir.Path, "run", "failing.yml", "--json");

        Assert.True(result.ExitCode == 20, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var root = json.RootElement;
        var runId = root.GetProperty("run_id").GetString();
        Assert.Equal(Path.GetFileName(Assert.Single(dir.RunDirectories())), runId);
        Assert.Equal("failed", root.GetProperty("status").GetString());
        var tasks = root.GetProperty("tasks").EnumerateArray().ToDictionary(t => t.GetProperty("id").GetString()!);
        Assert.Equal(["after", "fan", "fine", "skipme"], tasks.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(3, tasks["fan"].GetProperty("instances").GetInt32());
        Assert.Equal(2, tasks["fan"].GetProperty("succeeded").GetInt32());
        Assert.Equal(1, tasks["fan"].GetProperty("failed").GetInt32());
        Assert.Equal(1, tasks["fine"].GetProperty("succeeded").GetInt32());
        Assert.Equal(1, tasks["skipme"].GetProperty("skipped").GetInt32());
        var failure = Assert.Single(root.GetProperty("failures").EnumerateArray());
        Assert.Equal("fan[1]", failure.GetProperty("instance").GetString());
        Assert.True(File.Exists(Path.Combine(dir.Path, ".orch", "runs", runId!, failure.GetProperty("log").GetString()!)));
        // The human summary and progress lines go to stderr so stdout stays machine-readable.
        Assert.Contains($"run {runId} failed", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SucceedingRun_JUnitHasNoFailures()
    {
        using var dir = new TempDir();
        dir.Write("valid.yml", Pipelines.Valid);

        var result = await OrchCli.RunAsync(dir.Path, "run", "valid.yml", "--junit", "junit.xml", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        var suite = XDocument.Load(dir["junit.xml"]).Root!.Element("testsuite")!;
        Assert.Equal(2, (int)suite.Attribute("tests")!);
        Assert.Equal(0, (int)suite.Attribute("failures")!);
        Assert.Equal(0, (int)suite.Attribute("skipped")!);
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Equal("succeeded", json.RootElement.GetProperty("status").GetString());
    }
}
