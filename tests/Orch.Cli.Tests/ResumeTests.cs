using System.Text.Json;
using Orch.Cli.Tests.Infrastructure;

namespace Orch.Cli.Tests;

/// <summary><c>--resume</c>: which run it picks, and what it reruns.</summary>
public sealed class ResumeTests
{
    private static string Flaky(string name) => $$"""
        name: {{name}}
        tasks:
          setup:
            run: echo setup >> executions.txt
          work:
            needs: [setup]
            run: |
              echo work >> executions.txt
              test -f fixed
        """;

    [Fact]
    public async Task ResumeById_RerunsOnlyWhatFailed()
    {
        using var dir = new TempDir();
        dir.Write("flaky.yml", Flaky("flaky"));

        var failed = await OrchCli.RunAsync(dir.Path, "run", "flaky.yml", "--json");
        Assert.True(failed.ExitCode == 20, failed.ToString());
        using var first = JsonDocument.Parse(failed.Stdout);
        var runId = first.RootElement.GetProperty("run_id").GetString()!;

        dir.Write("fixed", "");
        var resumed = await OrchCli.RunAsync(dir.Path, "run", "flaky.yml", "--resume", runId);

        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Equal(["setup", "work", "work"], File.ReadAllLines(dir["executions.txt"]));
        Assert.Contains($"run {runId} succeeded", resumed.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ResumeOfASucceededRun_RunsNothingAgain()
    {
        using var dir = new TempDir();
        dir.Write("flaky.yml", Flaky("flaky"));
        dir.Write("fixed", "");

        var run = await OrchCli.RunAsync(dir.Path, "run", "flaky.yml");
        var again = await OrchCli.RunAsync(dir.Path, "run", "flaky.yml", "--resume", "last");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(["setup", "work"], File.ReadAllLines(dir["executions.txt"]));
    }

    [Fact]
    public async Task ResumedRun_KeepsItsParams()
    {
        using var dir = new TempDir();
        dir.Write("params.yml", """
            name: params
            params:
              word: { default: default }
            tasks:
              echo:
                env:
                  WORD: "{{ params.word }}"
                run: |
                  echo "$WORD" >> words.txt
                  test -f fixed
            """);

        var failed = await OrchCli.RunAsync(dir.Path, "run", "params.yml", "-p", "word=custom");
        dir.Write("fixed", "");
        var resumed = await OrchCli.RunAsync(dir.Path, "run", "params.yml", "--resume", "last");

        Assert.True(failed.ExitCode == 20, failed.ToString());
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Equal(["custom", "custom"], File.ReadAllLines(dir["words.txt"]));
    }

    [Fact]
    public async Task ResumeLast_FindsRunOfPipelineWithDotInName()
    {
        using var dir = new TempDir();
        dir.Write("etl.yml", Flaky("etl.daily"));

        var failed = await OrchCli.RunAsync(dir.Path, "run", "etl.yml");
        dir.Write("fixed", "");
        var resumed = await OrchCli.RunAsync(dir.Path, "run", "etl.yml", "--resume", "last");

        Assert.True(failed.ExitCode == 20, failed.ToString());
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Equal(["setup", "work", "work"], File.ReadAllLines(dir["executions.txt"]));
    }

    [Fact]
    public async Task ResumeLast_IgnoresRunsOfOtherPipelines()
    {
        using var dir = new TempDir();
        dir.Write("count.yml", Flaky("count"));
        dir.Write("word-count.yml", """
            name: word-count
            tasks:
              other:
                run: echo other >> executions.txt; exit 1
            """);

        var count = await OrchCli.RunAsync(dir.Path, "run", "count.yml", "--json");
        Assert.True(count.ExitCode == 20, count.ToString());
        using var countJson = JsonDocument.Parse(count.Stdout);
        var countRun = countJson.RootElement.GetProperty("run_id").GetString()!;
        await Task.Delay(1100, TestContext.Current.CancellationToken); // the other pipeline's run gets a later id
        var other = await OrchCli.RunAsync(dir.Path, "run", "word-count.yml");
        Assert.True(other.ExitCode == 20, other.ToString());

        dir.Write("fixed", "");
        var resumed = await OrchCli.RunAsync(dir.Path, "run", "count.yml", "--resume", "last", "--json");

        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        using var json = JsonDocument.Parse(resumed.Stdout);
        Assert.Equal(countRun, json.RootElement.GetProperty("run_id").GetString());
        Assert.Equal(["setup", "work", "other", "work"], File.ReadAllLines(dir["executions.txt"]));
    }

    [Fact]
    public async Task ResumeLast_PicksTheMostRecentlyStartedRun_WhateverItsId()
    {
        using var dir = new TempDir();
        dir.Write("flaky.yml", Flaky("flaky"));

        // Two failed runs, often within the same second: "last" must follow start order, not id order.
        string? newer = null;
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var run = await OrchCli.RunAsync(dir.Path, "run", "flaky.yml", "--json");
            Assert.True(run.ExitCode == 20, run.ToString());
            using var json = JsonDocument.Parse(run.Stdout);
            newer = json.RootElement.GetProperty("run_id").GetString()!;
        }

        dir.Write("fixed", "");
        var resumed = await OrchCli.RunAsync(dir.Path, "run", "flaky.yml", "--resume", "last", "--json");

        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        using var resumedJson = JsonDocument.Parse(resumed.Stdout);
        Assert.Equal(newer, resumedJson.RootElement.GetProperty("run_id").GetString());
    }

    [Theory]
    [InlineData("20000101-000000-nothing-0000", "no run")]
    [InlineData("../../etc", "is not a run id")]
    [InlineData("a/b", "is not a run id")]
    public async Task Resume_UnknownOrMalformedRunId_Exits13WithoutRunning(string runId, string message)
    {
        using var dir = new TempDir();
        dir.Write("flaky.yml", Flaky("flaky"));

        var result = await OrchCli.RunAsync(dir.Path, "run", "flaky.yml", "--resume", runId);

        Assert.True(result.ExitCode == 13, result.ToString());
        Assert.Contains("ORCH041", result.Stderr, StringComparison.Ordinal);
        Assert.Contains(message, result.Stderr, StringComparison.Ordinal);
        Assert.False(dir.Exists("executions.txt"), "nothing may run when the resume target is wrong");
    }
}
