using System.Diagnostics;

namespace Orch.Engine.Tests;

public sealed class StopTests
{
    [Fact]
    public async Task Run_RunTimeout_TimedOutAndRunningShellTaskKilled()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: run-timeout
            tasks:
              quick:
                run: echo quick >> ran.log
              long:
                run: |
                  echo $$ > long.pid
                  sleep 30
              after:
                needs: [long]
                run: echo after >> ran.log
            """;

        var clock = Stopwatch.StartNew();
        var report = await engine.RunAsync(yaml, [], s => s with { Timeout = TimeSpan.FromMilliseconds(500) });

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"a 500ms run timeout took {clock.Elapsed}");
        Assert.Equal(RunStatus.TimedOut, report.Status);
        Assert.Equal(InstanceStatus.Succeeded, report.Instance("quick").Status);
        Assert.Equal(InstanceStatus.Cancelled, report.Instance("long").Status);
        Assert.Empty(report.Task("after").Instances); // never started; its status says why (upstream cancelled)
        Assert.NotEqual(InstanceStatus.Succeeded, report.Task("after").Status);
        Assert.Equal(["quick"], engine.Lines("ran.log"));
        await Processes.AssertGoneAsync(Engine.ReadLong(engine.At("long.pid")));
    }

    [Fact]
    public async Task Run_PipelineTimeout_TimedOut()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: pipeline-timeout
            timeout: 300ms
            tasks:
              nap:
                uses: sleep
                with: { ms: 20000 }
            """;
        var pipeline = Engine.Load(yaml);
        Assert.Equal(TimeSpan.FromMilliseconds(300), pipeline.Timeout);

        var report = await engine.RunAsync(yaml, [], s => s with { Timeout = pipeline.Timeout });

        Assert.Equal(RunStatus.TimedOut, report.Status);
        Assert.Equal("cancelled", Assert.Single(report.Instance("nap").Attempts).Status);
    }

    [Fact]
    public async Task Run_CancelledMidRun_CancelledAndShellTaskKilledAndRecordSaved()
    {
        await using var engine = await Engine.StartAsync(slots: 4);
        const string yaml = """
            name: cancel
            tasks:
              first:
                run: echo first >> ran.log
              work:
                needs: [first]
                for_each: [0, 1, 2]
                env: { ITEM: "{{ item }}" }
                run: |
                  if [ "$ITEM" = 0 ]; then echo 0 >> ran.log; exit 0; fi
                  echo $$ > "pid-$ITEM"
                  sleep 30 &
                  echo $! > "child-$ITEM"
                  touch "started-$ITEM"
                  wait
              last:
                needs: [work]
                run: echo last >> ran.log
            """;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var id = new Orch.Protocol.RunId("cancel-run");
        var run = engine.RunCancellableAsync(yaml, [], s => s with { RunId = id, RunDirectory = Path.Combine(engine.StateDirectory, "runs", id.Value) }, null, cts.Token);

        await Engine.WaitForFileAsync(engine.At("started-1"));
        await Engine.WaitForFileAsync(engine.At("started-2"));
        await cts.CancelAsync();
        var report = await run;

        Assert.Equal(RunStatus.Cancelled, report.Status);
        Assert.Equal(InstanceStatus.Succeeded, report.Instance("work[0]").Status);
        Assert.Equal(InstanceStatus.Cancelled, report.Instance("work[1]").Status);
        Assert.Equal(InstanceStatus.Cancelled, report.Instance("work[2]").Status);
        Assert.Empty(report.Task("last").Instances);
        Assert.NotEqual(InstanceStatus.Succeeded, report.Task("last").Status);
        foreach (var item in new[] { 1, 2 })
        {
            await Processes.AssertGoneAsync(Engine.ReadLong(engine.At($"pid-{item}")));
            await Processes.AssertGoneAsync(Engine.ReadLong(engine.At($"child-{item}")));
        }

        var saved = await engine.LoadRecordAsync(id);
        Assert.NotNull(saved);
        Assert.Equal(RunStatus.Cancelled, saved.Status);
        Assert.NotNull(saved.FinishedAt);
        Assert.Equal(InstanceStatus.Succeeded, saved.Instance("first").Status);
        Assert.NotEqual(InstanceStatus.Succeeded, saved.Instance("work[1]").Status);
        Assert.NotEqual(InstanceStatus.Succeeded, saved.Instance("work[2]").Status);
        Assert.Empty(saved.Task("last").Instances);
    }

    [Fact]
    public async Task Run_CancelledWhileWaitingForLocks_WaitersBecomePendingAndNothingLeaks()
    {
        await using var engine = await Engine.StartAsync(slots: 4);
        const string yaml = """
            name: cancel-waiters
            resources:
              m: { capacity: 1 }
            tasks:
              hold:
                for_each: [0, 1, 2, 3]
                locks: [m]
                env: { ITEM: "{{ item }}" }
                run: |
                  touch "holding-$ITEM"
                  sleep 30
            """;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var run = engine.RunCancellableAsync(yaml, [], null, null, cts.Token);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!Directory.EnumerateFiles(engine.Work, "holding-*").Any())
        {
            Assert.True(DateTime.UtcNow < deadline, "no instance ever took the lock");
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }
        await cts.CancelAsync();
        var report = await run;

        Assert.Equal(RunStatus.Cancelled, report.Status);
        var statuses = report.Task("hold").Instances.Select(i => i.Status).ToList();
        Assert.Equal(1, statuses.Count(s => s == InstanceStatus.Cancelled));
        Assert.Equal(3, statuses.Count(s => s == InstanceStatus.Pending));
        Assert.Single(Directory.EnumerateFiles(engine.Work, "holding-*"));
        var locks = await engine.Runtime.Backend.Locks.ListAsync(TestContext.Current.CancellationToken);
        Assert.All(locks, l => Assert.Empty(l.Holders));
        Assert.All(locks, l => Assert.Empty(l.Waiters));
    }

    [Fact]
    public async Task Run_CancelGraceExceeded_ReleasesTheAbandonedInstancesLocks()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: stubborn
            resources:
              m: { capacity: 1 }
            tasks:
              stubborn:
                locks: [m]
                run: |
                  trap '' TERM
                  touch started
                  sleep 1
            """;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var run = engine.RunCancellableAsync(yaml, [], s => s with { CancelGrace = TimeSpan.FromMilliseconds(200) }, null, cts.Token);
        await Engine.WaitForFileAsync(engine.At("started"));
        await cts.CancelAsync();
        var report = await run;

        Assert.Equal(RunStatus.Cancelled, report.Status);
        Assert.Equal(InstanceStatus.Cancelled, report.Instance("stubborn").Status);
        var locks = await engine.Runtime.Backend.Locks.ListAsync(TestContext.Current.CancellationToken);
        Assert.All(locks, l => Assert.Empty(l.Holders));
    }
}
