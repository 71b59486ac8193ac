using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Orch.Cli.Tests.Infrastructure;
using Orch.Coordination.Tests.Redis;

namespace Orch.Cli.Tests;

/// <summary>
/// Faults of a distributed run on a real redis-server with three real <c>orch-agent</c> processes
/// that heartbeat every 500 ms (so a lost agent is noticed within about two seconds; a busy test
/// machine can still delay a heartbeat past that, which only means an extra rerun). Redis keeps an
/// append-only file synced on every write, as a deployment that must survive a restart would.
/// </summary>
public sealed class AgentFaultTests : RedisClusterTests
{
    private RedisServer Redis => Cluster.Redis;

    protected override bool AppendOnly => true;

    protected override void StartAgents(RedisCluster cluster)
    {
        foreach (var id in new[] { "agent-a", "agent-b", "agent-c" })
            cluster.StartAgent(id, slots: 2, "--Agent:HeartbeatInterval=00:00:00.5", "--Agent:ShutdownGrace=00:00:01");
    }

    // Six slow squares, each leaving a mark named after its instance and attempt that holds the
    // pid of the agent running it; then their sum, which must be exact.
    private const string Squares = """
        name: squares
        params:
          marks: { description: directory for the marks attempts leave }
          seconds: { default: 3, type: int }
        resources:
          printer: { capacity: 1 }
        tasks:
          square:
            for_each: [0, 1, 2, 3, 4, 5]
            env:
              N: "{{ item }}"
              MARKS: "{{ params.marks }}"
              SECONDS_: "{{ params.seconds }}"
            run: |
              echo "$PPID" > "$MARKS/$ORCH_INSTANCE.$ORCH_ATTEMPT_ID"
              sleep "$SECONDS_"
              echo "value=$((N * N))" >> "$ORCH_OUTPUT"
          total:
            needs: [square]
            env:
              VALUES: "{{ tasks.square.outputs | array.map 'value' | array.join ' ' }}"
            run: |
              s=0; for v in $VALUES; do s=$((s + v)); done
              echo "sum=$s" >> "$ORCH_OUTPUT"
        """;

    [Fact]
    public async Task KillDashNineAnAgentMidTask_RunCompletesWithExactResultAndTheTaskRanAgainElsewhere()
    {
        using var dir = new TempDir();
        dir.Write("squares.yml", Squares);
        var marks = Directory.CreateDirectory(Path.Combine(dir.Path, "marks")).FullName;
        using var run = OrchCli.Start(dir.Path, "run", "squares.yml", "--backend", Backend, "--cluster-key-file", KeyFile, "--json", "-p", $"marks={marks}", "--timeout", "90s");

        var victim = await AgentRunningAMarkAsync(marks, run);
        var victimPid = victim.Pid;
        var killedMarks = Marks(marks).Where(m => m.Pid == victimPid).Select(m => m.Instance).ToList();
        await victim.KillHardAsync();
        var result = await run.WaitAsync(TimeSpan.FromSeconds(90));

        Assert.True(result.ExitCode == 0, result + Logs());
        using var json = JsonDocument.Parse(result.Stdout);
        var tasks = json.RootElement.GetProperty("tasks").EnumerateArray().ToDictionary(t => t.GetProperty("id").GetString()!);
        Assert.Equal("55", tasks["total"].GetProperty("outputs").GetProperty("sum").ToString());
        Assert.Equal(6, tasks["square"].GetProperty("succeeded").GetInt32());
        Assert.True(tasks["square"].GetProperty("lost").GetInt32() >= killedMarks.Count, result.Stdout);
        Assert.NotEmpty(killedMarks);
        // Every instance the killed agent had started ran again on another, live agent.
        var survivors = Agents.Where(a => a != victim).Select(a => a.Pid).ToHashSet();
        foreach (var instance in killedMarks)
            Assert.Contains(Marks(marks), m => m.Instance == instance && survivors.Contains(m.Pid));
    }

    [Fact]
    public async Task KillDashNineAnAgentTakingBatchesOfShortTasks_RunCompletesAndOnlyLostAttemptsRanTwice()
    {
        using var dir = new TempDir();
        // Short tasks: after the first results they travel to the agents many to a message.
        dir.Write("short.yml", """
            name: short-marks
            params:
              marks: { description: directory for the marks attempts leave }
            tasks:
              mark:
                for_each: "{{ 3000 }}"
                env:
                  MARKS: "{{ params.marks }}"
                run: echo "$PPID" > "$MARKS/$ORCH_INSTANCE.$ORCH_ATTEMPT_ID"
            """);
        var marks = Directory.CreateDirectory(Path.Combine(dir.Path, "marks")).FullName;
        using var run = OrchCli.Start(dir.Path, "run", "short.yml", "--backend", Backend, "--cluster-key-file", KeyFile, "--json", "-p", $"marks={marks}", "--timeout", "120s");

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (Marks(marks).Count < 300)
        {
            Assert.True(DateTime.UtcNow < deadline && !run.HasExited, "the run did not get going" + Logs());
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
        // The busiest agent so far: it holds a batch of attempts when it dies.
        var busiest = Marks(marks).GroupBy(m => m.Pid).MaxBy(g => g.Count())!.Key;
        var victim = Agents.Single(a => a.Pid == busiest);
        await victim.KillHardAsync();
        var result = await run.WaitAsync(TimeSpan.FromSeconds(120));

        Assert.True(result.ExitCode == 0, result + Logs());
        using var json = JsonDocument.Parse(result.Stdout);
        var task = json.RootElement.GetProperty("tasks").EnumerateArray().Single();
        Assert.Equal(3000, task.GetProperty("succeeded").GetInt32());
        var lost = task.GetProperty("lost").GetInt32();
        // Each lost attempt ran again once; nothing else was run twice.
        Assert.Equal(3000 + lost, task.GetProperty("attempts").GetInt32());
        var all = Marks(marks);
        Assert.Equal(3000, all.Select(m => m.Instance).Distinct().Count());
        Assert.True(all.Count <= 3000 + lost, $"{all.Count} attempts left marks, but only {lost} were lost");
        var survivors = Agents.Where(a => a != victim).Select(a => a.Pid).ToHashSet();
        Assert.All(all.Where(m => m.Pid != busiest), m => Assert.Contains(m.Pid, survivors));
    }

    [Fact]
    public async Task LockHolderDies_ItsLeaseIsReleasedAndTheWaitersProceed()
    {
        using var dir = new TempDir();
        // Every square holds the one printer: the others wait for whoever has it.
        dir.Write("squares.yml", Squares.Replace("    for_each: [0, 1, 2, 3, 4, 5]\n", "    for_each: [0, 1, 2]\n    locks: [printer]\n", StringComparison.Ordinal));
        var marks = Directory.CreateDirectory(Path.Combine(dir.Path, "marks")).FullName;
        using var run = OrchCli.Start(dir.Path, "run", "squares.yml", "--backend", Backend, "--cluster-key-file", KeyFile, "--json", "-p", $"marks={marks}", "-p", "seconds=2", "--timeout", "90s");

        var holder = await AgentRunningAMarkAsync(marks, run);
        await holder.KillHardAsync();
        var result = await run.WaitAsync(TimeSpan.FromSeconds(90));

        Assert.True(result.ExitCode == 0, result + Logs());
        using var json = JsonDocument.Parse(result.Stdout);
        var tasks = json.RootElement.GetProperty("tasks").EnumerateArray().ToDictionary(t => t.GetProperty("id").GetString()!);
        Assert.Equal("5", tasks["total"].GetProperty("outputs").GetProperty("sum").ToString());
        Assert.True(tasks["square"].GetProperty("lost").GetInt32() >= 1, result.Stdout);
        var locks = await OrchCli.RunAsync(dir.Path, "locks", "--backend", Backend, "--json");
        Assert.True(locks.ExitCode == 0, locks.ToString());
        using var table = JsonDocument.Parse(locks.Stdout);
        var printer = Assert.Single(table.RootElement.EnumerateArray(), l => l.GetProperty("resource").GetString() == "printer");
        Assert.Equal(0, printer.GetProperty("holders").GetArrayLength());
    }

    [Fact]
    public async Task SigtermAnAgentMidTask_ItHandsTheTaskBackAndExitsAndTheRunCompletes()
    {
        using var dir = new TempDir();
        dir.Write("squares.yml", Squares);
        var marks = Directory.CreateDirectory(Path.Combine(dir.Path, "marks")).FullName;
        using var run = OrchCli.Start(dir.Path, "run", "squares.yml", "--backend", Backend, "--cluster-key-file", KeyFile, "--json", "-p", $"marks={marks}", "-p", "seconds=4", "--timeout", "90s");

        var leaving = await AgentRunningAMarkAsync(marks, run);
        var started = Marks(marks).Where(m => m.Pid == leaving.Pid).Select(m => m.Instance).ToList();
        Processes.Signal(leaving.Pid, "TERM");
        var exitCode = await leaving.WaitForExitAsync(TimeSpan.FromSeconds(30));
        var result = await run.WaitAsync(TimeSpan.FromSeconds(90));

        Assert.True(exitCode == 0, leaving.Output);
        Assert.Contains("handing back", leaving.Output, StringComparison.Ordinal);
        Assert.True(result.ExitCode == 0, result + Logs());
        using var json = JsonDocument.Parse(result.Stdout);
        var tasks = json.RootElement.GetProperty("tasks").EnumerateArray().ToDictionary(t => t.GetProperty("id").GetString()!);
        Assert.Equal("55", tasks["total"].GetProperty("outputs").GetProperty("sum").ToString());
        var others = Agents.Where(a => a != leaving).Select(a => a.Pid).ToHashSet();
        foreach (var instance in started)
            Assert.Contains(Marks(marks), m => m.Instance == instance && others.Contains(m.Pid));
    }

    [Fact]
    public async Task RedisCrashesAndRestartsMidRun_RunCompletesWithExactResult()
    {
        using var dir = new TempDir();
        dir.Write("squares.yml", Squares);
        var marks = Directory.CreateDirectory(Path.Combine(dir.Path, "marks")).FullName;
        using var run = OrchCli.Start(dir.Path, "run", "squares.yml", "--backend", Backend, "--cluster-key-file", KeyFile, "--json", "-p", $"marks={marks}", "-p", "seconds=2", "--timeout", "90s");

        await AgentRunningAMarkAsync(marks, run);
        await Redis.CrashAndRestartAsync(TimeSpan.FromSeconds(3));
        var result = await run.WaitAsync(TimeSpan.FromSeconds(90));

        Assert.True(result.ExitCode == 0, result + Logs());
        using var json = JsonDocument.Parse(result.Stdout);
        var tasks = json.RootElement.GetProperty("tasks").EnumerateArray().ToDictionary(t => t.GetProperty("id").GetString()!);
        Assert.Equal("55", tasks["total"].GetProperty("outputs").GetProperty("sum").ToString());
        Assert.Equal(6, tasks["square"].GetProperty("succeeded").GetInt32());
        Assert.All(Agents, a => Assert.False(a.HasExited, $"{a.Id} stopped:\n{a.Output}"));
    }

    [Fact]
    public async Task KillDashNineTheRun_ResumeFromAnotherDirectoryFinishesWithoutRerunningFinishedTasks()
    {
        using var first = new TempDir();
        using var elsewhere = new TempDir();
        var pipeline = first.Write("twostage.yml", """
            name: twostage
            params:
              marks: { description: directory for the marks attempts leave }
            tasks:
              quick:
                for_each: [0, 1, 2, 3]
                env: { MARKS: "{{ params.marks }}" }
                run: echo "$PPID" > "$MARKS/$ORCH_INSTANCE.$ORCH_ATTEMPT_ID"
              slow:
                needs: [quick]
                env: { MARKS: "{{ params.marks }}" }
                run: |
                  echo "$PPID" > "$MARKS/$ORCH_INSTANCE.$ORCH_ATTEMPT_ID"
                  sleep 3
                  echo "done=yes" >> "$ORCH_OUTPUT"
            """);
        var marks = Directory.CreateDirectory(Path.Combine(first.Path, "marks")).FullName;
        using (var run = OrchCli.Start(first.Path, "run", pipeline, "--backend", Backend, "--cluster-key-file", KeyFile, "-p", $"marks={marks}"))
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (!Marks(marks).Any(m => m.Instance == "slow") && DateTime.UtcNow < deadline) await Task.Delay(20, TestContext.Current.CancellationToken);
            Assert.Contains(Marks(marks), m => m.Instance == "slow");
            await Task.Delay(1000, TestContext.Current.CancellationToken); // past the next save of the run record
            Processes.Signal(run.Pid, "KILL");
            await Processes.WaitUntilGoneAsync(run.Pid, TimeSpan.FromSeconds(10));
        }
        var runId = Path.GetFileName(Assert.Single(first.RunDirectories()));

        // Another directory has no local trace of the run: the record comes from the backend.
        var resumed = await OrchCli.RunAsync(elsewhere.Path, TimeSpan.FromSeconds(90), "run", pipeline, "--backend", Backend, "--cluster-key-file", KeyFile, "--resume", runId, "--json");

        Assert.True(resumed.ExitCode == 0, resumed + Logs());
        using var json = JsonDocument.Parse(resumed.Stdout);
        var tasks = json.RootElement.GetProperty("tasks").EnumerateArray().ToDictionary(t => t.GetProperty("id").GetString()!);
        Assert.Equal(4, tasks["quick"].GetProperty("reused").GetInt32());
        Assert.Equal("yes", tasks["slow"].GetProperty("outputs").GetProperty("done").GetString());
        Assert.All(Marks(marks).Where(m => m.Instance.StartsWith("quick", StringComparison.Ordinal)).GroupBy(m => m.Instance), g => Assert.Single(g));
    }

    [Fact]
    public async Task KillDashNineAnAgent_TheAgentStartedAgainInItsDirectory_StopsWhatTheDeadOneLeftRunning()
    {
        using var dir = new TempDir();
        var marks = Directory.CreateDirectory(dir["marks"]).FullName;
        dir.Write("nap.yml", """
            name: nap
            params:
              marks: { description: directory for the marks attempts leave }
            tasks:
              nap:
                env: { MARKS: "{{ params.marks }}" }
                run: |
                  sleep 120 &
                  echo "$!" > "$MARKS/sleep.$ORCH_ATTEMPT_ID"
                  echo "$PPID" > "$MARKS/$ORCH_INSTANCE.$ORCH_ATTEMPT_ID"
                  wait
            """);
        using var run = OrchCli.Start(dir.Path, "run", "nap.yml", "--backend", Backend, "--cluster-key-file", KeyFile, "-p", $"marks={marks}", "--timeout", "90s");
        var victim = await AgentRunningAMarkAsync(marks, run);
        var attempt = Marks(marks).First(m => m.Pid == victim.Pid).Attempt;
        var sleeper = int.Parse(File.ReadAllText(Path.Combine(marks, $"sleep.{attempt}")).Trim(), CultureInfo.InvariantCulture);

        // The agent records a group just after starting it; a kill within that instant would leave it unrecorded.
        var recorded = Stopwatch.StartNew();
        while (!Directory.EnumerateFiles(victim.Home[".orch/groups"]).Any(f => new FileInfo(f).Length > 0))
        {
            Assert.True(recorded.Elapsed < TimeSpan.FromSeconds(10), "the agent did not record the task's process group");
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
        await victim.KillHardAsync();
        Assert.True(Processes.IsAlive(sleeper), "the task's child should outlive an agent killed with SIGKILL");
        var again = victim.StartAgain();
        Agents.Add(again);

        Assert.True(await Processes.WaitUntilGoneAsync(sleeper, TimeSpan.FromSeconds(30)), "the restarted agent did not stop the group its predecessor left:\n" + again.Output);
        await again.WaitForOutputAsync("Stopped 1 process group(s) left running by an agent that died", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task PhilosophersAndBank_OnThreeAgents_NoDeadlockAndBalancesConserved()
    {
        using var dir = new TempDir();

        var philosophers = await OrchCli.RunAsync(dir.Path, TimeSpan.FromSeconds(120), "run", Repo.Pipeline("philosophers.yml"), "--backend", Backend, "--cluster-key-file", KeyFile, "--json",
            "-p", "meals=6", "-p", "eat_ms=5", "-p", $"table={Path.Combine(dir.Path, "table")}");
        var bank = await OrchCli.RunAsync(dir.Path, TimeSpan.FromSeconds(120), "run", Repo.Pipeline("bank.yml"), "--backend", Backend, "--cluster-key-file", KeyFile, "--json",
            "-p", $"vault={Path.Combine(dir.Path, "vault")}", "-p", "transfers=60");

        Assert.True(philosophers.ExitCode == 0, philosophers + Logs());
        Assert.Equal(30, File.ReadAllLines(Path.Combine(dir.Path, "table", "meals.log")).Length);
        Assert.True(bank.ExitCode == 0, bank + Logs());
        var total = Directory.GetFiles(Path.Combine(dir.Path, "vault")).Sum(f => long.Parse(File.ReadAllText(f).Trim(), CultureInfo.InvariantCulture));
        Assert.Equal(6 * 1000, total);
        using var json = JsonDocument.Parse(bank.Stdout);
        Assert.True(json.RootElement.GetProperty("agents").GetArrayLength() >= 2, "the transfers should spread over the agents: " + bank.Stdout);
    }

    private sealed record Mark(string Instance, string Attempt, int Pid);

    private static List<Mark> Marks(string directory) =>
        Directory.GetFiles(directory)
            .Select(path => (Name: Path.GetFileName(path), Text: File.ReadAllText(path).Trim()))
            .Where(f => f.Text.Length > 0)
            .Select(f => new Mark(f.Name[..f.Name.LastIndexOf('.')], f.Name[(f.Name.LastIndexOf('.') + 1)..], int.Parse(f.Text, CultureInfo.InvariantCulture)))
            .ToList();

    /// <summary>Waits for the first mark and returns the agent that left it.</summary>
    private async Task<AgentProcess> AgentRunningAMarkAsync(string marks, OrchCli run)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (run.HasExited) Assert.Fail("the run ended before any task started:\n" + await run.WaitAsync(TimeSpan.FromSeconds(5)));
            foreach (var mark in Marks(marks))
                if (Agents.FirstOrDefault(a => a.Pid == mark.Pid) is { } agent) return agent;
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
        Assert.Fail("no task started on any agent within 60 s" + Logs());
        return null!;
    }

}
