using Microsoft.Extensions.Time.Testing;
using Orch.Hosting;
using Orch.Protocol;

namespace Orch.Engine.Tests;

public sealed class ResumeTests
{
    /// <summary>Every task appends its instance key to executions.log, so reruns can be counted.</summary>
    private const string Pipeline = """
        name: resumable
        params:
          flavour: { default: plain }
        tasks:
          prepare:
            run: |
              echo "$ORCH_INSTANCE" >> executions.log
              echo "token=prepared" >> "$ORCH_OUTPUT"
          work:
            needs: [prepare]
            for_each: [a, b, c]
            env: { ITEM: "{{ item }}" }
            run: |
              echo "$ORCH_INSTANCE" >> executions.log
              echo "result=$ITEM-done" >> "$ORCH_OUTPUT"
          flavoured:
            needs: [prepare]
            env: { FLAVOUR: "{{ params.flavour }}" }
            run: echo "$ORCH_INSTANCE" >> executions.log
          flaky:
            needs: [work]
            run: |
              echo "$ORCH_INSTANCE" >> executions.log
              [ -e fixed ]
          report:
            needs: [flaky]
            env:
              TOKEN: "{{ tasks.prepare.outputs.token }}"
              RESULTS: "{{ tasks.work.outputs | array.map 'result' | array.join ',' }}"
            run: |
              echo "$ORCH_INSTANCE" >> executions.log
              echo "$TOKEN $RESULTS" > report.txt
        """;

    private static Dictionary<string, int> Count(IEnumerable<string> lines) =>
        lines.GroupBy(l => l, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

    [Fact]
    public async Task Resume_WithPreviousRecord_ReusesSucceededAndRerunsTheFailedAndItsDependents()
    {
        await using var engine = await Engine.StartAsync();
        var id = new RunId("resume-1");
        RunSettings Same(RunSettings s) => s with { RunId = id, RunDirectory = Path.Combine(engine.StateDirectory, "runs", id.Value) };

        var first = await engine.RunAsync(Pipeline, [], Same);
        Assert.Equal(RunStatus.Failed, first.Status);
        Assert.Equal(InstanceStatus.Failed, first.Instance("flaky").Status);
        Assert.Equal(InstanceStatus.UpstreamFailed, first.Task("report").Status);

        File.WriteAllText(engine.At("fixed"), "");
        var previous = await engine.LoadRecordAsync(id);
        Assert.NotNull(previous);
        var second = await engine.RunAsync(Pipeline, [], s => Same(s) with { Previous = previous });

        Assert.Equal(RunStatus.Succeeded, second.Status);
        var runs = Count(engine.Lines("executions.log"));
        Assert.Equal(1, runs["prepare"]);
        Assert.Equal(1, runs["work[0]"]);
        Assert.Equal(1, runs["work[1]"]);
        Assert.Equal(1, runs["work[2]"]);
        Assert.Equal(1, runs["flavoured"]);
        Assert.Equal(2, runs["flaky"]);
        Assert.Equal(1, runs["report"]);
        Assert.True(second.Instance("prepare").Reused);
        Assert.True(second.Instance("work[1]").Reused);
        Assert.False(second.Instance("flaky").Reused);
        Assert.False(second.Instance("report").Reused);
        // Reused instances keep their outputs, so downstream templates still see them.
        Assert.Equal("prepared a-done,b-done,c-done", File.ReadAllText(engine.At("report.txt")).Trim());
        Assert.Equal("prepared", second.Instance("prepare").Outputs!["token"]);
    }

    [Fact]
    public async Task Resume_ChangedParam_RerunsOnlyInstancesWhoseRenderedInputsChanged()
    {
        await using var engine = await Engine.StartAsync();
        var id = new RunId("resume-2");
        RunSettings Same(RunSettings s) => s with { RunId = id, RunDirectory = Path.Combine(engine.StateDirectory, "runs", id.Value) };

        await engine.RunAsync(Pipeline, [("flavour", "plain")], Same);
        File.WriteAllText(engine.At("fixed"), "");
        var previous = await engine.LoadRecordAsync(id);
        var second = await engine.RunAsync(Pipeline, [("flavour", "spicy")], s => Same(s) with { Previous = previous });

        Assert.Equal(RunStatus.Succeeded, second.Status);
        var runs = Count(engine.Lines("executions.log"));
        Assert.Equal(2, runs["flavoured"]);
        Assert.False(second.Instance("flavoured").Reused);
        Assert.Equal(1, runs["prepare"]);
        Assert.Equal(1, runs["work[0]"]);
    }

    [Fact]
    public async Task Resume_EverythingSucceededBefore_RunsNothing()
    {
        await using var engine = await Engine.StartAsync();
        File.WriteAllText(engine.At("fixed"), "");
        var id = new RunId("resume-3");
        RunSettings Same(RunSettings s) => s with { RunId = id, RunDirectory = Path.Combine(engine.StateDirectory, "runs", id.Value) };
        var first = await engine.RunAsync(Pipeline, [], Same);
        Assert.Equal(RunStatus.Succeeded, first.Status);
        var before = engine.Lines("executions.log").Length;

        var second = await engine.RunAsync(Pipeline, [], s => Same(s) with { Previous = first.Record });

        Assert.Equal(RunStatus.Succeeded, second.Status);
        Assert.Equal(before, engine.Lines("executions.log").Length);
        Assert.All(second.Record.Tasks.SelectMany(t => t.Instances), i => Assert.True(i.Reused, $"{i.Key} was not reused"));
    }

    [Fact]
    public async Task Resume_AfterCancel_RerunsTheCancelledAndUnstartedInstances()
    {
        await using var engine = await Engine.StartAsync(slots: 4);
        const string yaml = """
            name: cancel-then-resume
            tasks:
              fan:
                for_each: [0, 1, 2]
                env: { ITEM: "{{ item }}" }
                run: |
                  echo "$ORCH_INSTANCE" >> executions.log
                  if [ "$ITEM" != 0 ] && [ ! -e go ]; then touch "waiting-$ITEM"; sleep 30; fi
              after:
                needs: [fan]
                run: echo "$ORCH_INSTANCE" >> executions.log
            """;
        var id = new RunId("cancel-resume");
        RunSettings Same(RunSettings s) => s with { RunId = id, RunDirectory = Path.Combine(engine.StateDirectory, "runs", id.Value) };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var first = engine.RunCancellableAsync(yaml, [], Same, null, cts.Token);
        await Engine.WaitForFileAsync(engine.At("waiting-1"));
        await Engine.WaitForFileAsync(engine.At("waiting-2"));
        await cts.CancelAsync();
        Assert.Equal(RunStatus.Cancelled, (await first).Status);

        File.WriteAllText(engine.At("go"), "");
        var previous = await engine.LoadRecordAsync(id);
        var second = await engine.RunAsync(yaml, [], s => Same(s) with { Previous = previous });

        Assert.Equal(RunStatus.Succeeded, second.Status);
        var runs = Count(engine.Lines("executions.log"));
        Assert.Equal(1, runs["fan[0]"]);
        Assert.Equal(2, runs["fan[1]"]);
        Assert.Equal(2, runs["fan[2]"]);
        Assert.Equal(1, runs["after"]);
        Assert.True(second.Instance("fan[0]").Reused);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RunService_ResumeByIdOrLast_ReusesSucceededInstances(bool byLast)
    {
        await using var engine = await Engine.StartAsync();
        var file = Path.Combine(engine.Root, "resumable.yml");
        File.WriteAllText(file, Pipeline);
        var service = new RunService();
        RunRequest Request(string? resume, params (string, string)[] p) => new()
        {
            PipelineFile = file,
            WorkingDirectory = engine.Work,
            StateDirectory = engine.StateDirectory,
            MaxParallel = 4,
            Resume = resume,
            Params = p.Select(x => new KeyValuePair<string, string>(x.Item1, x.Item2)).ToList(),
        };

        var first = Assert.IsType<RunCompleted>(await service.RunAsync(Request(null, ("flavour", "sour")), null, null, TestContext.Current.CancellationToken)).Report;
        Assert.Equal(RunStatus.Failed, first.Status);
        Assert.True(File.Exists(Path.Combine(first.RunDirectory, "state.json")));
        File.WriteAllText(engine.At("fixed"), "");

        var outcome = await service.RunAsync(Request(byLast ? "last" : first.RunId.Value), null, null, TestContext.Current.CancellationToken);

        var second = Assert.IsType<RunCompleted>(outcome).Report;
        Assert.Equal(first.RunId, second.RunId);
        Assert.Equal(RunStatus.Succeeded, second.Status);
        Assert.Equal("sour", second.Record.Params["flavour"]); // a resumed run keeps its params
        var runs = Count(engine.Lines("executions.log"));
        Assert.Equal(1, runs["prepare"]);
        Assert.Equal(1, runs["work[2]"]);
        Assert.Equal(1, runs["flavoured"]);
        Assert.Equal(2, runs["flaky"]);
        Assert.Equal(1, runs["report"]);
    }

    [Fact]
    public async Task RunService_ResumeUnknownRun_IsRejectedAndNothingRuns()
    {
        await using var engine = await Engine.StartAsync();
        var file = Path.Combine(engine.Root, "resumable.yml");
        File.WriteAllText(file, Pipeline);

        var outcome = await new RunService().RunAsync(new RunRequest
        {
            PipelineFile = file,
            WorkingDirectory = engine.Work,
            StateDirectory = engine.StateDirectory,
            Resume = "no-such-run",
        }, null, null, TestContext.Current.CancellationToken);

        var invalid = Assert.IsType<RequestInvalid>(outcome);
        Assert.Contains("no-such-run", invalid.Diagnostics[0].Message);
        Assert.Empty(engine.Lines("executions.log"));
    }

    [Fact]
    public async Task RunService_ResumeLast_TwoRunsInTheSameSecond_PicksTheNewer()
    {
        await using var engine = await Engine.StartAsync();
        var file = Path.Combine(engine.Root, "quick.yml");
        File.WriteAllText(file, """
            name: quick
            tasks:
              only:
                uses: noop
            """);
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 12, 0, 0, TimeSpan.Zero));
        var service = new RunService(time);
        var request = new RunRequest { PipelineFile = file, WorkingDirectory = engine.Work, StateDirectory = engine.StateDirectory, MaxParallel = 2 };

        // With the clock standing still every run starts "in the same second"; a few pairs make a wrong pick certain in practice.
        for (var pair = 0; pair < 8; pair++)
        {
            await service.RunAsync(request, null, null, TestContext.Current.CancellationToken);
            var newer = Assert.IsType<RunCompleted>(await service.RunAsync(request, null, null, TestContext.Current.CancellationToken)).Report;
            Assert.Equal(newer.RunId.Value, RunService.LatestRun(engine.StateDirectory, "quick"));
        }
    }

    [Fact]
    public async Task RunService_ResumeLast_PipelineNameWithSpace_FindsTheRun()
    {
        await using var engine = await Engine.StartAsync();
        var file = Path.Combine(engine.Root, "spaced.yml");
        File.WriteAllText(file, """
            name: nightly build
            tasks:
              only:
                uses: noop
            """);
        var service = new RunService();
        var request = new RunRequest { PipelineFile = file, WorkingDirectory = engine.Work, StateDirectory = engine.StateDirectory, MaxParallel = 2 };
        var first = Assert.IsType<RunCompleted>(await service.RunAsync(request, null, null, TestContext.Current.CancellationToken)).Report;

        var resumed = await service.RunAsync(request with { Resume = "last" }, null, null, TestContext.Current.CancellationToken);

        Assert.Equal(first.RunId, Assert.IsType<RunCompleted>(resumed).Report.RunId);
    }

    [Fact]
    public async Task RunService_ResumeLast_DoesNotPickARunOfAnotherPipeline()
    {
        await using var engine = await Engine.StartAsync();
        string Write(string name)
        {
            var path = Path.Combine(engine.Root, name + ".yml");
            File.WriteAllText(path, $"name: {name}\ntasks:\n  only:\n    uses: noop\n");
            return path;
        }
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 12, 0, 0, TimeSpan.Zero));
        var service = new RunService(time);
        var mine = Assert.IsType<RunCompleted>(await service.RunAsync(new RunRequest { PipelineFile = Write("a"), WorkingDirectory = engine.Work, StateDirectory = engine.StateDirectory, MaxParallel = 2 }, null, null, TestContext.Current.CancellationToken)).Report;
        time.Advance(TimeSpan.FromMinutes(1));
        await service.RunAsync(new RunRequest { PipelineFile = Write("b-a"), WorkingDirectory = engine.Work, StateDirectory = engine.StateDirectory, MaxParallel = 2 }, null, null, TestContext.Current.CancellationToken);

        Assert.Equal(mine.RunId.Value, RunService.LatestRun(engine.StateDirectory, "a"));
    }
}
