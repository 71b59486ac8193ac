using System.Globalization;
using System.Text.Json;
using Orch.Cli.Tests.Infrastructure;
using Orch.Coordination.Tests.Redis;

namespace Orch.Cli.Tests;

/// <summary>Ctrl-C (SIGINT) on a running orch, then resuming the cancelled run.</summary>
public sealed class CancelTests
{
    // 'first' succeeds at once; 'nap' sleeps 30 s unless the file 'quick' exists; 'after' needs nap.
    // Every execution appends the task's name to executions.txt.
    private const string Napping = """
        name: napping
        tasks:
          first:
            run: echo first >> executions.txt
          nap:
            needs: [first]
            run: |
              echo nap >> executions.txt
              if [ -f quick ]; then exit 0; fi
              sleep 30 &
              echo $! > sleep.pid
              wait $!
          after:
            needs: [nap]
            run: echo after >> executions.txt
        """;

    [Fact]
    public async Task SigInt_CancelsKillsTheTaskSavesState_ThenResumeReusesWhatSucceeded()
    {
        if (Processes.SigIntIgnored()) Assert.Skip("this test process ignores SIGINT, so its children would too");
        using var dir = new TempDir();
        dir.Write("napping.yml", Napping);

        OrchResult cancelled;
        int sleepPid;
        using (var orch = OrchCli.Start(dir.Path, "run", "napping.yml"))
        {
            await Processes.WaitForFileAsync(dir["sleep.pid"], TimeSpan.FromSeconds(20));
            sleepPid = int.Parse(dir.Read("sleep.pid").Trim(), CultureInfo.InvariantCulture);
            Assert.True(Processes.IsAlive(sleepPid));

            Processes.Signal(orch.Pid, "INT");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            cancelled = await orch.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"cancelling took {clock.Elapsed}");
        }

        Assert.True(cancelled.ExitCode == 21, cancelled.ToString());
        Assert.True(await Processes.WaitUntilGoneAsync(sleepPid, TimeSpan.FromSeconds(3)), $"the task's sleep {sleepPid} outlived the cancelled run");
        var runDirectory = Assert.Single(dir.RunDirectories());
        var runId = Path.GetFileName(runDirectory);
        Assert.Contains($"run {runId} cancelled", cancelled.Stdout, StringComparison.Ordinal);
        Assert.Contains($"--resume {runId}", cancelled.Stdout, StringComparison.Ordinal);

        using (var state = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(runDirectory, "state.json"))))
        {
            Assert.Equal(runId, state.RootElement.GetProperty("run_id").GetString());
            Assert.Equal("cancelled", state.RootElement.GetProperty("status").GetString());
            var tasks = state.RootElement.GetProperty("tasks").EnumerateArray().ToDictionary(t => t.GetProperty("id").GetString()!);
            Assert.Equal("succeeded", tasks["first"].GetProperty("status").GetString());
            Assert.NotEqual("succeeded", tasks["nap"].GetProperty("status").GetString());
            Assert.All(tasks["nap"].GetProperty("instances").EnumerateArray(), i => Assert.NotEqual("succeeded", i.GetProperty("status").GetString()));
            Assert.NotEqual("succeeded", tasks["after"].GetProperty("status").GetString());
        }
        Assert.Equal(["first", "nap"], File.ReadAllLines(dir["executions.txt"]));

        // Make nap quick and resume: first is reused, nap and after run.
        dir.Write("quick", "");
        var resumed = await OrchCli.RunAsync(dir.Path, "run", "napping.yml", "--resume", "last", "--json");

        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Equal(["first", "nap", "nap", "after"], File.ReadAllLines(dir["executions.txt"]));
        using var summary = JsonDocument.Parse(resumed.Stdout);
        Assert.Equal(runId, summary.RootElement.GetProperty("run_id").GetString());
        Assert.Equal("succeeded", summary.RootElement.GetProperty("status").GetString());
        var reused = summary.RootElement.GetProperty("tasks").EnumerateArray().ToDictionary(t => t.GetProperty("id").GetString()!, t => t.GetProperty("reused").GetInt32());
        Assert.Equal(1, reused["first"]);
        Assert.Equal(0, reused["nap"]);
        Assert.Equal(0, reused["after"]);
        Assert.Single(dir.RunDirectories());
    }

    [Fact]
    public async Task SigTerm_CancelsLikeSigInt()
    {
        using var dir = new TempDir();
        dir.Write("napping.yml", Napping);

        using var orch = OrchCli.Start(dir.Path, "run", "napping.yml");
        await Processes.WaitForFileAsync(dir["sleep.pid"], TimeSpan.FromSeconds(20));
        var sleepPid = int.Parse(dir.Read("sleep.pid").Trim(), CultureInfo.InvariantCulture);
        Processes.Signal(orch.Pid, "TERM");
        var result = await orch.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.True(result.ExitCode == 21, result.ToString());
        Assert.True(await Processes.WaitUntilGoneAsync(sleepPid, TimeSpan.FromSeconds(3)), $"the task's sleep {sleepPid} outlived the cancelled run");
        Assert.True(File.Exists(Path.Combine(Assert.Single(dir.RunDirectories()), "state.json")));
    }

    [Fact]
    public async Task SigTerm_WhileWaitingForAgents_ExitsAsCancelledWithoutAStackTrace()
    {
        using var dir = new TempDir();
        dir.Write("napping.yml", Napping);
        await using var redis = await RedisServer.StartAsync(); // no agent ever registers

        using var orch = OrchCli.Start(dir.Path, "run", "napping.yml", "--backend", $"redis://127.0.0.1:{redis.Port}", "--insecure");
        await Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken); // well inside the 10 s wait for an agent
        Processes.Signal(orch.Pid, "TERM");
        var result = await orch.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.True(result.ExitCode == 21, result.ToString());
        Assert.Contains("orch: cancelled", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("internal error", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        Assert.Empty(dir.RunDirectories());
    }

    [Fact]
    public async Task SecondSigInt_KillsOrch_AndLeavesNoTaskBehind()
    {
        if (Processes.SigIntIgnored()) Assert.Skip("this test process ignores SIGINT, so its children would too");
        using var dir = new TempDir();
        // The task ignores SIGTERM, so the graceful stop after the first SIGINT waits out the kill grace period.
        dir.Write("stubborn.yml", """
            name: stubborn
            tasks:
              nap:
                run: |
                  trap '' TERM
                  sleep 30 &
                  echo $! > sleep.pid
                  wait $!
                  wait $!
            """);

        using var orch = OrchCli.Start(dir.Path, "run", "stubborn.yml");
        await Processes.WaitForFileAsync(dir["sleep.pid"], TimeSpan.FromSeconds(20));
        var sleepPid = int.Parse(dir.Read("sleep.pid").Trim(), CultureInfo.InvariantCulture);
        try
        {
            Processes.Signal(orch.Pid, "INT");
            await Task.Delay(500, TestContext.Current.CancellationToken);
            Processes.Signal(orch.Pid, "INT");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var result = await orch.WaitAsync(TimeSpan.FromSeconds(20));

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"orch took {clock.Elapsed} to die after the second SIGINT");
            Assert.NotEqual(0, result.ExitCode);
            Assert.True(await Processes.WaitUntilGoneAsync(sleepPid, TimeSpan.FromSeconds(2)), $"the task's sleep {sleepPid} outlived orch");
        }
        finally
        {
            if (Processes.IsAlive(sleepPid)) Processes.Signal(sleepPid, "KILL");
        }
    }
}
