using Orch.Pipeline.Diagnostics;

namespace Orch.Pipeline.Tests;

public class RobustnessTests
{
    public static TheoryData<string> Garbage => new()
    {
        "\0\u0001\u0002",
        "[",
        "{{",
        "}}}: {{{",
        ": :",
        "- - -",
        "name: [",
        "'unterminated",
        "name: x\ntasks:\n\t a: 1\n",
        "&a [*a]",
        "*nothing",
        "name: x\n---\nname: y\n",
        "name: !!binary AAAA\ntasks: 7\n",
        "name: x\ntasks: { a: { needs: [a, a, b], run: 1, uses: 2, for_each: {}, locks: {}, env: [], retry: [], timeout: [] } }\n",
        "name: x\ntasks:\n  a:\n    run: \"{{ " + new string('(', 400) + "1" + new string(')', 400) + " }}\"\n",
        new string('[', 2000) + new string(']', 2000),
        "name: x\nparams: { a: { default: { b: 1 } }, 'b c': 1, d: { type: [] } }\ntasks: { a: { run: \"{{ params[1] }} {{ tasks[0] }} {{ tasks }}\" } }\n",
        "? [a]\n: b\n",
        "name: x\ntasks:\n  a:\n    uses: wordcount/split\n    with: { ? [x] : y }\n",
        "a: &x [1, 2]\nb: &y [*x, *x, *x, *x, *x, *x, *x, *x, *x, *x]\nc: &z [*y, *y, *y, *y, *y, *y, *y, *y, *y, *y]\nd: &w [*z, *z, *z, *z, *z, *z, *z, *z, *z, *z]\ne: [*w, *w, *w, *w, *w, *w, *w, *w, *w, *w]\nf: [*w, *w, *w, *w, *w, *w, *w, *w, *w, *w]\n",
    };

    [Theory]
    [MemberData(nameof(Garbage))]
    public void Parse_Garbage_ReportsDiagnosticsWithoutThrowing(string yaml)
    {
        var result = Orch.Pipeline.Loading.PipelineLoader.Parse(yaml, "g.yml", TestPipelines.Options);
        Assert.Null(result.Pipeline);
        Assert.Contains(result.Diagnostics, d => d.IsError);
        Assert.All(result.Diagnostics, d => Assert.Equal("g.yml", d.Location.File));
        var text = DiagnosticFormatter.FormatAll(result.Diagnostics, result.SourceText);
        Assert.Contains(" error ORCH", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_AliasBomb_StopsWithSyntaxError()
    {
        var lines = new List<string> { "a0: &a0 [x, x, x, x, x, x, x, x, x, x]" };
        for (var i = 1; i < 9; i++)
            lines.Add($"a{i}: &a{i} [{string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10))}]");
        var result = Orch.Pipeline.Loading.PipelineLoader.Parse(string.Join("\n", lines), "bomb.yml", TestPipelines.Options);
        var d = Assert.Single(result.Diagnostics);
        Assert.Equal(DiagnosticCodes.YamlSyntax, d.Code);
        Assert.Contains("too large", d.Message, StringComparison.Ordinal);
    }
}
