using Orch.Pipeline.Diagnostics;
using Orch.Pipeline.Model;
using Orch.Pipeline.Params;

namespace Orch.Pipeline.Tests;

public class ParamResolverTests
{
    private static PipelineDefinition Pipeline() => TestPipelines.Parse(TestPipelines.Wordcount, "wordcount.yml").Pipeline!;

    private static List<KeyValuePair<string, string>> P(params string[] pairs) =>
        pairs.Select(p => p.Split('=', 2)).Select(a => new KeyValuePair<string, string>(a[0], a[1])).ToList();

    [Fact]
    public void Resolve_Overrides_ConvertToDeclaredTypes()
    {
        var r = ParamResolver.Resolve(Pipeline(), P("shards=16", "ratio=0.25", "verbose=true", "tags=x, y", "token=abc", "input=other"));
        Assert.True(r.Succeeded);
        Assert.Empty(r.Diagnostics);
        Assert.Equal(16L, r.Values["shards"]);
        Assert.Equal(0.25, r.Values["ratio"]);
        Assert.Equal(true, r.Values["verbose"]);
        Assert.Equal(new List<object?> { "x", "y" }, r.Values["tags"]);
        Assert.Equal("abc", r.Values["token"]);
        Assert.Equal("other", r.Values["input"]);
    }

    [Fact]
    public void Resolve_NoOverrides_UsesDefaultsAndLastOverrideWins()
    {
        var r = ParamResolver.Resolve(Pipeline(), P("token=t", "shards=1", "shards=2"));
        Assert.True(r.Succeeded);
        Assert.Equal(2L, r.Values["shards"]);
        Assert.Equal("examples/wordcount/corpus", r.Values["input"]);
        Assert.Equal(new List<object?> { "a", "b" }, r.Values["tags"]);
    }

    [Fact]
    public void Resolve_ListAsJsonArray_KeepsElementTypes()
    {
        var r = ParamResolver.Resolve(Pipeline(), P("token=t", "tags=[1, \"two\", true]"));
        Assert.Equal(new List<object?> { 1L, "two", true }, r.Values["tags"]);
    }

    [Fact]
    public void Resolve_BadOverrides_ReportEachWithParamAndValue()
    {
        var r = ParamResolver.Resolve(Pipeline(), P("shard=3", "shards=abc", "verbose=maybe", "tags=[1,"));
        Assert.False(r.Succeeded);
        Assert.All(r.Diagnostics, d => Assert.Equal(DiagnosticCodes.BadParamOverride, d.Code));
        Golden.Assert("param_overrides", DiagnosticFormatter.FormatAll(r.Diagnostics, TestPipelines.Wordcount));
    }
}
