namespace Orch.Engine.Tests;

public sealed class TemplateFailureTests
{
    [Fact]
    public async Task Run_MissingOutputKey_FailsInstanceWithFileLineColAndRunContinues()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: missing-output
            tasks:
              produce:
                run: echo "present=1" >> "$ORCH_OUTPUT"
              consume:
                needs: [produce]
                env:
                  VALUE: "{{ tasks.produce.outputs.absent }}"
                run: echo "got $VALUE" >> ran.log
              after:
                needs: [consume]
                run: echo after >> ran.log
              independent:
                run: echo independent >> ran.log
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Failed, report.Status);
        var consume = report.Instance("consume");
        Assert.Equal(InstanceStatus.Failed, consume.Status);
        Assert.Empty(consume.Attempts);
        Assert.Matches(@"^test\.yml:8:\d+: ", consume.Error);
        Assert.Contains("absent", consume.Error);
        Assert.Equal(InstanceStatus.UpstreamFailed, report.Task("after").Status);
        Assert.Equal(["independent"], engine.Lines("ran.log"));
    }

    [Fact]
    public async Task Run_TemplateErrorInRunScript_NamesTheLineInsideTheBlock()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: script-error
            tasks:
              produce:
                run: echo "x=1" >> "$ORCH_OUTPUT"
              consume:
                needs: [produce]
                run: |
                  echo first
                  echo "{{ tasks.produce.outputs.x | string.nosuchfunction }}"
            """;

        var report = await engine.RunAsync(yaml);

        var consume = report.Instance("consume");
        Assert.Equal(InstanceStatus.Failed, consume.Status);
        Assert.Matches(@"^test\.yml:9:\d+: ", consume.Error);
    }

    [Fact]
    public async Task Run_TemplateErrorInLocks_FailsInstanceAndReleasesNothing()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: lock-error
            resources:
              slot: { capacity: 1 }
            tasks:
              fan:
                for_each: [a, b]
                locks: ["slot:{{ item | string.nosuchfunction }}"]
                run: echo ran >> ran.log
              independent:
                run: echo independent >> ran.log
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Failed, report.Status);
        Assert.All(report.Task("fan").Instances, i =>
        {
            Assert.Equal(InstanceStatus.Failed, i.Status);
            Assert.Matches(@"^test\.yml:7:\d+: ", i.Error);
        });
        Assert.Equal(["independent"], engine.Lines("ran.log"));
        Assert.All(await engine.Runtime.Backend.Locks.ListAsync(TestContext.Current.CancellationToken), l => Assert.Empty(l.Holders));
    }

    [Fact]
    public async Task Run_ForEachNotAList_FailsTheTaskWithLocation()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: bad-for-each
            tasks:
              produce:
                run: echo "n=1.5" >> "$ORCH_OUTPUT"
              fan:
                needs: [produce]
                for_each: "{{ tasks.produce.outputs.n | string.to_float }}"
                run: echo ran >> ran.log
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Failed, report.Status);
        var fan = Assert.Single(report.Task("fan").Instances);
        Assert.Equal(InstanceStatus.Failed, fan.Status);
        Assert.Matches(@"^test\.yml:7:\d+: for_each: ", fan.Error);
        Assert.Empty(engine.Lines("ran.log"));
    }

    [Fact]
    public async Task Run_MissingKeyInWhen_FailsInstance()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: bad-when
            tasks:
              produce:
                run: "true"
              gated:
                needs: [produce]
                when: "{{ tasks.produce.outputs.ready == 'yes' }}"
                run: echo ran >> ran.log
            """;

        var report = await engine.RunAsync(yaml);

        var gated = report.Instance("gated");
        Assert.Equal(InstanceStatus.Failed, gated.Status);
        Assert.Matches(@"^test\.yml:7:\d+: ", gated.Error);
    }

    [Fact]
    public async Task Run_ForEachOverMalformedJsonOutput_FailsTheTaskInsteadOfThrowing()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: malformed-json
            tasks:
              produce:
                run: echo 'list=[1, 2,' >> "$ORCH_OUTPUT"
              fan:
                needs: [produce]
                for_each: "{{ tasks.produce.outputs.list }}"
                run: echo ran >> ran.log
              independent:
                run: echo independent >> ran.log
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Failed, report.Status);
        var fan = Assert.Single(report.Task("fan").Instances);
        Assert.Equal(InstanceStatus.Failed, fan.Status);
        Assert.Matches(@"^test\.yml:7:\d+: for_each: ", fan.Error);
        Assert.Equal(InstanceStatus.Succeeded, report.Instance("independent").Status);
    }
}
