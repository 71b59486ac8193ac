using System.Diagnostics;

namespace Orch.Engine.Tests;

public sealed class FailureAndRetryTests
{
    [Fact]
    public async Task Run_WhenFalse_TaskSkippedAndDependentsStillRun()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: when
            params:
              deploy: { default: false, type: bool }
            tasks:
              build:
                run: echo build >> ran.log
              deploy:
                needs: [build]
                when: "{{ params.deploy }}"
                run: echo deploy >> ran.log
              notify:
                needs: [deploy]
                env: { DEPLOY: "{{ tasks.deploy.status }}" }
                run: echo "notify after $DEPLOY" >> ran.log
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Succeeded, report.Status);
        Assert.Equal(InstanceStatus.Skipped, report.Instance("deploy").Status);
        Assert.Empty(report.Instance("deploy").Attempts);
        Assert.Equal(InstanceStatus.Succeeded, report.Instance("notify").Status);
        Assert.Equal("build", engine.Lines("ran.log")[0]);
        Assert.Equal(2, engine.Lines("ran.log").Length);
        Assert.StartsWith("notify after", engine.Lines("ran.log")[1]);
    }

    [Fact]
    public async Task Run_WhenFalse_TaskStatusIsSkippedForRecordAndTemplates()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: when-status
            tasks:
              deploy:
                when: "{{ false }}"
                run: echo deploy >> ran.log
              notify:
                needs: [deploy]
                env: { DEPLOY: "{{ tasks.deploy.status }}" }
                run: echo "$DEPLOY" > status.txt
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(InstanceStatus.Skipped, report.Task("deploy").Status);
        Assert.Equal("skipped", File.ReadAllText(engine.At("status.txt")).Trim());
    }

    [Fact]
    public async Task Run_WhenTrue_TaskRuns()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: when-true
            params:
              deploy: { default: false, type: bool }
            tasks:
              deploy:
                when: "{{ params.deploy }}"
                run: echo deploy >> ran.log
            """;

        var report = await engine.RunAsync(yaml, ("deploy", "true"));

        Assert.Equal(InstanceStatus.Succeeded, report.Instance("deploy").Status);
        Assert.Equal(["deploy"], engine.Lines("ran.log"));
    }

    [Fact]
    public async Task Run_WhenPerFanOutItem_SkipsOnlyThoseItems()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: when-items
            tasks:
              fan:
                for_each: "{{ 6 }}"
                when: "{{ item % 2 == 0 }}"
                env: { ITEM: "{{ item }}" }
                run: echo "$ITEM" >> ran.log
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Succeeded, report.Status);
        Assert.Equal(["0", "2", "4"], engine.Lines("ran.log").Order(StringComparer.Ordinal));
        Assert.Equal(
            [InstanceStatus.Succeeded, InstanceStatus.Skipped, InstanceStatus.Succeeded, InstanceStatus.Skipped, InstanceStatus.Succeeded, InstanceStatus.Skipped],
            report.Task("fan").Instances.Select(i => i.Status));
    }

    [Fact]
    public async Task Run_FailingTask_DependentsUpstreamFailedAndIndependentBranchCompletes()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: failure
            tasks:
              broken:
                run: |
                  echo "about to fail" >&2
                  exit 3
              child:
                needs: [broken]
                run: echo child >> ran.log
              grandchild:
                needs: [child]
                run: echo grandchild >> ran.log
              join:
                needs: [broken, slow]
                run: echo join >> ran.log
              slow:
                run: |
                  sleep 0.2
                  echo slow >> ran.log
              after_slow:
                needs: [slow]
                run: echo after_slow >> ran.log
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Failed, report.Status);
        var broken = report.Instance("broken");
        Assert.Equal(InstanceStatus.Failed, broken.Status);
        Assert.Equal(3, Assert.Single(broken.Attempts).ExitCode);
        Assert.Contains("exit code 3", broken.Error);
        Assert.Equal(InstanceStatus.UpstreamFailed, report.Task("child").Status);
        Assert.Equal(InstanceStatus.UpstreamFailed, report.Task("grandchild").Status);
        Assert.Equal(InstanceStatus.UpstreamFailed, report.Task("join").Status);
        Assert.Equal(InstanceStatus.Succeeded, report.Task("after_slow").Status);
        Assert.Equal(["after_slow", "slow"], engine.Lines("ran.log").Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Run_OneFanOutItemFails_TaskFailsButOtherItemsComplete()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: fan-out-failure
            tasks:
              fan:
                for_each: [ok, bad, ok]
                env: { ITEM: "{{ item }}" }
                run: |
                  [ "$ITEM" = ok ]
                  echo "$ORCH_INSTANCE" >> ran.log
              after:
                needs: [fan]
                run: echo after >> ran.log
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Failed, report.Status);
        Assert.Equal([InstanceStatus.Succeeded, InstanceStatus.Failed, InstanceStatus.Succeeded], report.Task("fan").Instances.Select(i => i.Status));
        Assert.Equal(InstanceStatus.UpstreamFailed, report.Task("after").Status);
        Assert.Equal(["fan[0]", "fan[2]"], engine.Lines("ran.log").Order(StringComparer.Ordinal));
    }

    private const string FailsTwiceThenSucceeds = """
        n=$(cat count 2>/dev/null || echo 0)
        n=$((n + 1))
        echo "$n" > count
        echo "attempt $ORCH_ATTEMPT" >> attempts.log
        [ "$n" -ge 3 ]
        """;

    [Fact]
    public async Task Run_RetryFailsTwiceThenSucceeds_SucceededWithThreeAttempts()
    {
        await using var engine = await Engine.StartAsync();
        var yaml = $$"""
            name: retry
            tasks:
              flaky:
                retry: { attempts: 3, backoff: 10ms }
                run: |
            {{Indent(FailsTwiceThenSucceeds, 6)}}
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Succeeded, report.Status);
        var flaky = report.Instance("flaky");
        Assert.Equal(InstanceStatus.Succeeded, flaky.Status);
        Assert.Equal([1, 2, 3], flaky.Attempts.Select(a => a.Number));
        Assert.Equal(["failed", "failed", "succeeded"], flaky.Attempts.Select(a => a.Status));
        Assert.Equal(["attempt 1", "attempt 2", "attempt 3"], engine.Lines("attempts.log"));
        Assert.Equal(3, flaky.Attempts.Select(a => a.Id).Distinct().Count());
    }

    [Fact]
    public async Task Run_RetryAttemptsExhausted_FailedWithAttemptCount()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: retry-exhausted
            tasks:
              doomed:
                retry: { attempts: 2, backoff: 10ms }
                run: |
                  echo "attempt $ORCH_ATTEMPT" >> attempts.log
                  echo "$ORCH_IDEMPOTENCY_KEY $ORCH_ATTEMPT_ID" >> keys.log
                  exit 1
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Failed, report.Status);
        var doomed = report.Instance("doomed");
        Assert.Equal(InstanceStatus.Failed, doomed.Status);
        Assert.Equal(2, doomed.Attempts.Count);
        Assert.All(doomed.Attempts, a => Assert.Equal("failed", a.Status));
        Assert.Equal(["attempt 1", "attempt 2"], engine.Lines("attempts.log"));
        // One idempotency key for both attempts of the instance, a fresh attempt id for each.
        var keys = engine.Lines("keys.log").Select(l => l.Split(' ')).ToList();
        Assert.Equal([$"{report.RunId.Value}/doomed", $"{report.RunId.Value}/doomed"], keys.Select(k => k[0]));
        Assert.Equal(doomed.Attempts.Select(a => a.Id), keys.Select(k => k[1]));
    }

    [Fact]
    public async Task Run_NoRetryBlock_FailingTaskRunsOnce()
    {
        await using var engine = await Engine.StartAsync();
        var yaml = $$"""
            name: no-retry
            tasks:
              flaky:
                run: |
            {{Indent(FailsTwiceThenSucceeds, 6)}}
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Failed, report.Status);
        Assert.Single(report.Instance("flaky").Attempts);
        Assert.Equal(["attempt 1"], engine.Lines("attempts.log"));
    }

    [Fact]
    public async Task Run_DefaultsRetry_AppliesToTasksWithoutTheirOwn()
    {
        await using var engine = await Engine.StartAsync();
        var yaml = $$"""
            name: default-retry
            defaults:
              retry: { attempts: 3, backoff: 10ms }
            tasks:
              flaky:
                run: |
            {{Indent(FailsTwiceThenSucceeds, 6)}}
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Succeeded, report.Status);
        Assert.Equal(3, report.Instance("flaky").Attempts.Count);
    }

    [Fact]
    public async Task Run_BadActionInput_FailsWithoutRetry()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: bad-input
            tasks:
              nap:
                uses: sleep
                with: { ms: -5 }
                retry: { attempts: 3, backoff: 10ms }
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Failed, report.Status);
        var nap = report.Instance("nap");
        Assert.Equal(InstanceStatus.Failed, nap.Status);
        Assert.Single(nap.Attempts);
        Assert.Contains("'ms' must be 0 or more", nap.Error);
    }

    [Fact]
    public async Task Run_ShellTaskTimeout_TimedOutAndWholeProcessGroupKilled()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: shell-timeout
            tasks:
              hang:
                timeout: 200ms
                run: |
                  sleep 30 &
                  echo $! > child.pid
                  echo $$ > leader.pid
                  sleep 5
            """;

        var clock = Stopwatch.StartNew();
        var report = await engine.RunAsync(yaml);

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"a 200ms timeout took {clock.Elapsed}");
        Assert.Equal(RunStatus.Failed, report.Status);
        var hang = report.Instance("hang");
        Assert.Equal("timedout", Assert.Single(hang.Attempts).Status);
        Assert.Contains("timed out after 200ms", hang.Error);
        await Processes.AssertGoneAsync(Engine.ReadLong(engine.At("leader.pid")));
        await Processes.AssertGoneAsync(Engine.ReadLong(engine.At("child.pid")));
    }

    [Fact]
    public async Task Run_ShellTaskTimeoutWithRetry_EveryAttemptTimesOut()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: shell-timeout-retry
            tasks:
              hang:
                timeout: 100ms
                retry: { attempts: 2, backoff: 10ms }
                run: sleep 5
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(["timedout", "timedout"], report.Instance("hang").Attempts.Select(a => a.Status));
    }

    [Fact]
    public async Task Run_ActionTimeout_TimedOut()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: action-timeout
            tasks:
              nap:
                uses: sleep
                with: { ms: 5000 }
                timeout: 200ms
              quick:
                uses: sleep
                with: { ms: 10 }
                timeout: 2s
            """;

        var clock = Stopwatch.StartNew();
        var report = await engine.RunAsync(yaml);

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4));
        Assert.Equal(RunStatus.Failed, report.Status);
        Assert.Equal("timedout", Assert.Single(report.Instance("nap").Attempts).Status);
        Assert.Equal(InstanceStatus.Succeeded, report.Instance("quick").Status);
    }

    internal static string Indent(string text, int spaces) =>
        string.Join("\n", text.Split('\n').Select(line => new string(' ', spaces) + line));
}

internal static class Processes
{
    /// <summary>Waits until no process with <paramref name="pid"/> is alive (gone, or a zombie waiting to be reaped).</summary>
    public static async Task AssertGoneAsync(long pid, TimeSpan? limit = null)
    {
        var deadline = DateTime.UtcNow + (limit ?? TimeSpan.FromSeconds(5));
        while (IsAlive(pid))
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"process {pid} is still running");
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }

    public static bool IsAlive(long pid)
    {
        var stat = $"/proc/{pid}/stat";
        try
        {
            var text = File.ReadAllText(stat);
            var state = text[(text.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state is not ("Z" or "X");
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return false;
        }
    }
}
