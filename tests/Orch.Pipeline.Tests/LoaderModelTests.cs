using Orch.Pipeline.Diagnostics;
using Orch.Pipeline.Model;

namespace Orch.Pipeline.Tests;

public class LoaderModelTests
{
    private static PipelineDefinition LoadWordcount()
    {
        var result = TestPipelines.Parse(TestPipelines.Wordcount, "wordcount.yml");
        Assert.True(result.Succeeded, Orch.Pipeline.Diagnostics.DiagnosticFormatter.FormatAll(result.Diagnostics, result.SourceText));
        Assert.Empty(result.Diagnostics);
        return result.Pipeline!;
    }

    private static int LineOf(string text) =>
        TestPipelines.Wordcount.Split('\n').Select((l, i) => (l, i)).First(x => x.l.Contains(text, StringComparison.Ordinal)).i + 1;

    [Fact]
    public void Parse_FullPipeline_MapsTopLevelFields()
    {
        var p = LoadWordcount();
        Assert.Equal("wordcount", p.Name);
        Assert.Equal("Count words in a corpus", p.Description);
        Assert.Equal("wordcount.yml", p.FilePath);
        Assert.Equal(TimeSpan.FromHours(1), p.Timeout);
        Assert.Equal(["LANG", "INPUT"], p.Env.Select(e => e.Key));
        Assert.Equal("{{ params.input }}", p.Env[1].Value.Text);
        Assert.Equal([new ResourceDefinition("report", 1, new SourceLocation("wordcount.yml", LineOf("report: {"), 3)),
                      new ResourceDefinition("fork", 4, new SourceLocation("wordcount.yml", LineOf("fork: 4"), 3))], p.Resources);
    }

    [Fact]
    public void Parse_FullPipeline_InfersAndChecksParamTypes()
    {
        var p = LoadWordcount();
        var byName = p.Params.ToDictionary(x => x.Name);
        Assert.Equal(ParamType.String, byName["input"].Type);
        Assert.Equal("examples/wordcount/corpus", byName["input"].Default);
        Assert.Equal(ParamType.Int, byName["shards"].Type);
        Assert.Equal(8L, byName["shards"].Default);
        Assert.Equal("number of shards", byName["shards"].Description);
        Assert.Equal(ParamType.Number, byName["ratio"].Type);
        Assert.Equal(0.5, byName["ratio"].Default);
        Assert.Equal(ParamType.Bool, byName["verbose"].Type);
        Assert.Equal(false, byName["verbose"].Default);
        Assert.Equal(ParamType.List, byName["tags"].Type);
        Assert.Equal(new List<object?> { "a", "b" }, byName["tags"].Default);
        Assert.True(byName["token"].Required);
        Assert.Null(byName["token"].Default);
        Assert.Equal(new SourceLocation("wordcount.yml", LineOf("shards: { default"), 3), byName["shards"].Location);
    }

    [Fact]
    public void Parse_FullPipeline_TasksInStableTopologicalOrder()
    {
        var p = LoadWordcount();
        Assert.Equal(["split", "count", "merge", "report"], p.Tasks.Select(t => t.Id));
        Assert.Equal(["split"], p.FindTask("count")!.Needs);
        Assert.Equal(["merge", "count"], p.FindTask("report")!.Needs);
        Assert.Equal(new SourceLocation("wordcount.yml", LineOf("  split:"), 3), p.FindTask("split")!.Location);
    }

    [Fact]
    public void Parse_IndependentTasks_KeepFileOrder()
    {
        var result = TestPipelines.Parse("""
            name: t
            tasks:
              z: { run: echo }
              y: { run: echo, needs: [x] }
              x: { run: echo }
              w: { run: echo }
            """);
        Assert.Equal(["z", "x", "y", "w"], result.Pipeline!.Tasks.Select(t => t.Id));
    }

    [Fact]
    public void Parse_RetryBlocks_MergeOverDefaults()
    {
        var p = LoadWordcount();
        Assert.Equal(new RetryPolicy(1, TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(5)), p.FindTask("merge")!.Retry);
        Assert.Equal(new RetryPolicy(3, TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(5)), p.FindTask("split")!.Retry);
        Assert.Equal(new RetryPolicy(3, TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(1)), p.FindTask("count")!.Retry);
        Assert.Equal(TimeSpan.FromSeconds(30), p.FindTask("merge")!.Timeout);
        Assert.Equal(TimeSpan.FromMinutes(10), p.FindTask("split")!.Timeout);
    }

    [Fact]
    public void Parse_NoRetryAnywhere_RunsOnceWithoutTimeout()
    {
        var result = TestPipelines.Parse("name: t\ntasks:\n  a: { run: echo }\n  b: { run: echo, retry: { backoff: 3s } }\n");
        var a = result.Pipeline!.FindTask("a")!;
        Assert.Same(RetryPolicy.Once, a.Retry);
        Assert.Null(a.Timeout);
        Assert.Equal(new RetryPolicy(3, TimeSpan.FromSeconds(3), TimeSpan.FromMinutes(5)), result.Pipeline.FindTask("b")!.Retry);
    }

    [Fact]
    public void Parse_OnLabelsAndSlots_MapToPlacement()
    {
        var result = TestPipelines.Parse("name: t\ntasks:\n  a: { run: echo }\n  b:\n    run: echo\n    on: { labels: [gpu, zone=eu-1, gpu] }\n    slots: 2\n  c: { run: echo, on: { labels: linux } }\n");

        Assert.True(result.Succeeded, DiagnosticFormatter.FormatAll(result.Diagnostics, result.SourceText));
        var a = result.Pipeline!.FindTask("a")!;
        Assert.Empty(a.Labels);
        Assert.Equal(1, a.Slots);
        Assert.Null(a.PlacementLocation);
        var b = result.Pipeline.FindTask("b")!;
        Assert.Equal(["gpu", "zone=eu-1"], b.Labels);
        Assert.Equal(2, b.Slots);
        Assert.Equal((6, 5), (b.PlacementLocation!.Value.Line, b.PlacementLocation.Value.Column));
        Assert.Equal(["linux"], result.Pipeline.FindTask("c")!.Labels);
    }

    [Fact]
    public void Parse_WithValues_KeepYamlTypes()
    {
        var with = LoadWordcount().FindTask("split")!.With.ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal("{{ params.input }}", Assert.IsType<ScalarNode>(with["input"]).Value);
        Assert.True(((ScalarNode)with["input"]).HasTemplate);
        Assert.Equal(8L, Assert.IsType<ScalarNode>(with["shards"]).Value);
        Assert.Equal(1.5, Assert.IsType<ScalarNode>(with["ratio"]).Value);
        Assert.Equal(true, Assert.IsType<ScalarNode>(with["flag"]).Value);
        Assert.Equal("8", Assert.IsType<ScalarNode>(with["quoted"]).Value);
        Assert.Null(Assert.IsType<ScalarNode>(with["nothing"]).Value);
        var nested = Assert.IsType<MappingNode>(with["nested"]);
        var list = Assert.IsType<SequenceNode>(Assert.Single(nested.Entries).Value);
        Assert.Equal(new object?[] { 1L, "two" }, list.Items.Select(i => ((ScalarNode)i).Value));
        // A quoted template's location is its first character inside the quotes.
        Assert.Equal(new SourceLocation("wordcount.yml", LineOf("input: \"{{"), 15), with["input"].Location);
    }

    [Fact]
    public void Parse_ShellTask_MapsRunFields()
    {
        var merge = LoadWordcount().FindTask("merge")!;
        Assert.True(merge.IsShell);
        Assert.Null(merge.Uses);
        Assert.Equal("./merge.sh {{ params.input | sh }}\necho \"total=42\" >> \"$ORCH_OUTPUT\"\n", merge.Run!.Text);
        Assert.Equal(new SourceLocation("wordcount.yml", LineOf("./merge.sh"), 7), merge.Run.Location);
        Assert.Equal("bash", merge.Shell);
        Assert.Equal("out/{{ params.shards }}", merge.WorkingDirectory!.Text);
        Assert.Equal(["report"], merge.Locks.Select(l => l.Text));
        Assert.Equal("{{ params.shards > 0 }}", merge.When!.Text);
        Assert.Equal("v", Assert.Single(merge.Env).Value.Text);
    }

    [Fact]
    public void Parse_FanOutTasks_KeepForEachAsTemplateOrList()
    {
        var p = LoadWordcount();
        var count = p.FindTask("count")!;
        Assert.True(count.IsFanOut);
        Assert.Equal("{{ tasks.split.outputs.shards }}", Assert.IsType<ScalarNode>(count.ForEach).Value);
        Assert.Equal(["fork:{{ item }}"], count.Locks.Select(l => l.Text));
        var report = p.FindTask("report")!;
        Assert.Equal(new object?[] { "x", "y" }, Assert.IsType<SequenceNode>(report.ForEach).Items.Select(i => ((ScalarNode)i).Value));
        Assert.False(p.FindTask("split")!.IsFanOut);
    }

    [Fact]
    public void Parse_TemplateErrorInBlockScalar_PointsAtIndentedColumn()
    {
        var result = TestPipelines.Parse("name: t\ntasks:\n  a:\n    run: |\n      echo 1\n      echo {{ params.nope }}\n");
        var d = Assert.Single(result.Diagnostics);
        Assert.Equal(DiagnosticCodes.UnknownParam, d.Code);
        Assert.Equal(new SourceLocation("test.yml", 6, 15), d.Location);
    }
}
