namespace Orch.Engine.Tests;

public sealed class DagAndFanOutTests
{
    [Fact]
    public async Task Run_Diamond_TaskNeverStartsBeforeItsNeedsFinish()
    {
        await using var engine = await Engine.StartAsync(slots: 4);
        const string yaml = """
            name: diamond
            tasks:
              a:
                run: &step |
                  echo "start $ORCH_TASK" >> order.log
                  sleep 0.05
                  echo "end $ORCH_TASK" >> order.log
              b: { needs: [a], run: *step }
              c: { needs: [a], run: *step }
              d: { needs: [b, c], run: *step }
              e: { needs: [d], run: *step }
              lone: { run: *step }
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Succeeded, report.Status);
        var log = engine.Lines("order.log").ToList();
        Assert.Equal(12, log.Count);
        var needs = new Dictionary<string, string[]>
        {
            ["b"] = ["a"], ["c"] = ["a"], ["d"] = ["b", "c"], ["e"] = ["d"],
        };
        foreach (var (task, upstream) in needs)
        {
            var started = log.IndexOf($"start {task}");
            foreach (var need in upstream)
                Assert.True(log.IndexOf($"end {need}") < started, $"{task} started before {need} finished:\n{string.Join("\n", log)}");
        }
        // b and c share no dependency on each other: they may run side by side, and lone runs with a.
        Assert.True(log.IndexOf("start lone") < log.IndexOf("end e"));
    }

    [Fact]
    public async Task Run_FanOutOverStaticList_FanInSeesOutputsInItemOrder()
    {
        await using var engine = await Engine.StartAsync(slots: 4);
        // Later items finish first, so completion order is the reverse of item order.
        const string yaml = """
            name: static-fan-out
            tasks:
              fan:
                for_each: [a, b, c, d, e, f]
                env:
                  ITEM: "{{ item }}"
                  INDEX: "{{ index }}"
                  NAP: "{{ (5 - index) * 0.03 }}"
                run: |
                  sleep "$NAP"
                  echo "$ITEM $INDEX" >> done.log
                  echo "value=$ITEM-$INDEX" >> "$ORCH_OUTPUT"
              fan_in:
                needs: [fan]
                env:
                  ALL: "{{ tasks.fan.outputs | array.map 'value' | array.join ',' }}"
                run: echo "$ALL" > fan-in.txt
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Succeeded, report.Status);
        Assert.Equal("a-0,b-1,c-2,d-3,e-4,f-5", File.ReadAllText(engine.At("fan-in.txt")).Trim());
        Assert.Equal(6, report.Task("fan").Instances.Count);
        Assert.Equal(["fan[0]", "fan[1]", "fan[2]", "fan[3]", "fan[4]", "fan[5]"], report.Task("fan").Instances.Select(i => i.Key));
        Assert.Equal([0, 1, 2, 3, 4, 5], report.Task("fan").Instances.Select(i => i.Index ?? -1));
        Assert.NotEqual("a 0", engine.Lines("done.log")[0]); // items really finished out of order
    }

    [Fact]
    public async Task Run_FanOutOverListParam_OneInstancePerValue()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: param-fan-out
            params:
              names: { default: [x], type: list }
            tasks:
              greet:
                for_each: "{{ params.names }}"
                env: { NAME: "{{ item }}", INDEX: "{{ index }}" }
                run: echo "out=$INDEX:$NAME" >> "$ORCH_OUTPUT"
              collect:
                needs: [greet]
                env: { ALL: "{{ tasks.greet.outputs | array.map 'out' | array.join ' ' }}" }
                run: echo "$ALL" > all.txt
            """;

        var report = await engine.RunAsync(yaml, ("names", "p,q,r"));

        Assert.Equal(RunStatus.Succeeded, report.Status);
        Assert.Equal("0:p 1:q 2:r", File.ReadAllText(engine.At("all.txt")).Trim());
    }

    [Fact]
    public async Task Run_FanOutOverIntN_ItemsAreZeroToNMinusOne()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: int-fan-out
            params:
              n: { default: 2, type: int }
            tasks:
              count:
                for_each: "{{ params.n }}"
                env: { ITEM: "{{ item }}", INDEX: "{{ index }}" }
                run: echo "pair=$ITEM/$INDEX" >> "$ORCH_OUTPUT"
              collect:
                needs: [count]
                env: { ALL: "{{ tasks.count.outputs | array.map 'pair' | array.join ' ' }}" }
                run: echo "$ALL" > all.txt
            """;

        var report = await engine.RunAsync(yaml, ("n", "5"));

        Assert.Equal(RunStatus.Succeeded, report.Status);
        Assert.Equal("0/0 1/1 2/2 3/3 4/4", File.ReadAllText(engine.At("all.txt")).Trim());
    }

    [Fact]
    public async Task Run_FanOutOverUpstreamJsonListOutput_OneInstancePerElement()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: json-fan-out
            tasks:
              plan:
                run: |
                  echo 'files=["alpha.txt","beta.txt","gamma.txt"]' >> "$ORCH_OUTPUT"
              make:
                needs: [plan]
                for_each: "{{ tasks.plan.outputs.files }}"
                env: { FILE: "{{ item }}" }
                run: |
                  echo "$ORCH_INSTANCE" > "$FILE"
                  echo "made=$FILE" >> "$ORCH_OUTPUT"
              check:
                needs: [make]
                env: { MADE: "{{ tasks.make.outputs | array.map 'made' | array.join ',' }}" }
                run: echo "$MADE" > made.txt
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Succeeded, report.Status);
        Assert.Equal("make[0]", File.ReadAllText(engine.At("alpha.txt")).Trim());
        Assert.Equal("make[2]", File.ReadAllText(engine.At("gamma.txt")).Trim());
        Assert.Equal("alpha.txt,beta.txt,gamma.txt", File.ReadAllText(engine.At("made.txt")).Trim());
    }

    [Fact]
    public async Task Run_FanOutOverUpstreamJsonObjects_ItemFieldsAreReadable()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: structured-json-fan-out
            tasks:
              plan:
                run: |
                  echo 'jobs=[{"name":"one","size":1},{"name":"two","size":22},{"name":"three","size":333}]' >> "$ORCH_OUTPUT"
              work:
                needs: [plan]
                for_each: "{{ tasks.plan.outputs.jobs }}"
                env: { LINE: "{{ index }}:{{ item.name }}:{{ item.size * 2 }}" }
                run: echo "line=$LINE" >> "$ORCH_OUTPUT"
              again:
                needs: [work]
                for_each: "{{ tasks.work.outputs }}"
                env: { LINE: "{{ item.line }}" }
                run: echo "$LINE" >> again.log
              collect:
                needs: [work]
                env: { ALL: "{{ tasks.work.outputs | array.map 'line' | array.join ' ' }}" }
                run: echo "$ALL" > all.txt
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Succeeded, report.Status);
        Assert.Equal("0:one:2 1:two:44 2:three:666", File.ReadAllText(engine.At("all.txt")).Trim());
        // A fan-out over a fan-out's outputs: each item is that instance's output map.
        Assert.Equal(["0:one:2", "1:two:44", "2:three:666"], engine.Lines("again.log").Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("\"{{ params.none }}\"")]
    [InlineData("\"{{ tasks.plan.outputs.list }}\"")]
    public async Task Run_EmptyFanOut_SucceedsAndDownstreamSeesNoOutputs(string forEach)
    {
        await using var engine = await Engine.StartAsync();
        var yaml = $$$"""
            name: empty-fan-out
            params:
              none: { default: [], type: list }
            tasks:
              plan:
                run: echo 'list=[]' >> "$ORCH_OUTPUT"
              fan:
                needs: [plan]
                for_each: {{{forEach}}}
                run: echo ran >> fan.log
              after:
                needs: [fan]
                env: { N: "{{ tasks.fan.outputs | array.size }}" }
                run: echo "$N" > count.txt
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Succeeded, report.Status);
        Assert.Empty(report.Task("fan").Instances);
        Assert.Equal(InstanceStatus.Succeeded, report.Task("fan").Status);
        Assert.False(File.Exists(engine.At("fan.log")));
        Assert.Equal("0", File.ReadAllText(engine.At("count.txt")).Trim());
    }

    [Fact]
    public async Task Run_TemplatesSeeEveryAncestor_ThroughOtherTasksToo_AndNoOtherTask()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: ancestry
            tasks:
              root:
                run: echo "word=from-root" >> "$ORCH_OUTPUT"
              middle:
                needs: [root]
                run: echo "word=from-middle" >> "$ORCH_OUTPUT"
              aside:
                run: echo "word=aside" >> "$ORCH_OUTPUT"
              leaf:
                needs: [middle, aside]
                env:
                  GRANDPARENT: "{{ tasks.root.outputs.word }}"
                  ROOT_STATUS: "{{ tasks.root.status }}"
                run: printf '%s %s' "$GRANDPARENT" "$ROOT_STATUS" > leaf.txt
              tail:
                needs: [middle]
                env:
                  SEEN: "{{ tasks | object.keys | array.sort | array.join ',' }}"
                run: printf '%s' "$SEEN" > seen.txt
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Succeeded, report.Status);
        Assert.Equal("from-root succeeded", File.ReadAllText(engine.At("leaf.txt")));
        // root comes through middle; aside is not upstream of tail.
        Assert.Equal("middle,root", File.ReadAllText(engine.At("seen.txt")));
    }

    [Fact]
    public async Task Run_ShellOutputs_KeyValueAndHeredocReachDownstreamTemplates()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: outputs
            tasks:
              produce:
                run: |
                  echo "simple=hello world" >> "$ORCH_OUTPUT"
                  echo "with_equals=a=b=c" >> "$ORCH_OUTPUT"
                  {
                    echo "text<<EOF"
                    echo "first line"
                    echo "second = line"
                    echo ""
                    echo "fourth"
                    echo "EOF"
                  } >> "$ORCH_OUTPUT"
              consume:
                needs: [produce]
                env:
                  SIMPLE: "{{ tasks.produce.outputs.simple }}"
                  EQUALS: "{{ tasks.produce.outputs.with_equals }}"
                  TEXT: "{{ tasks.produce.outputs.text }}"
                run: |
                  printf '%s' "$SIMPLE" > simple.txt
                  printf '%s' "$EQUALS" > equals.txt
                  printf '%s' "$TEXT" > text.txt
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Succeeded, report.Status);
        Assert.Equal("hello world", File.ReadAllText(engine.At("simple.txt")));
        Assert.Equal("a=b=c", File.ReadAllText(engine.At("equals.txt")));
        Assert.Equal("first line\nsecond = line\n\nfourth", File.ReadAllText(engine.At("text.txt")));
        var outputs = report.Instance("produce").Outputs!;
        Assert.Equal("hello world", outputs["simple"]);
        Assert.Equal("first line\nsecond = line\n\nfourth", outputs["text"]);
    }

    [Fact]
    public async Task Run_MalformedOutputFile_FailsTheInstanceWithoutRetry()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: bad-outputs
            tasks:
              produce:
                retry: { attempts: 3, backoff: 10ms }
                run: echo "no equals sign here" >> "$ORCH_OUTPUT"
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Failed, report.Status);
        var produce = report.Instance("produce");
        Assert.Equal(InstanceStatus.Failed, produce.Status);
        Assert.Single(produce.Attempts);
        Assert.Contains("line 1", produce.Error);
    }
}
