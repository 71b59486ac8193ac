using Orch.Pipeline.Diagnostics;
using Orch.Pipeline.Model;
using Orch.Pipeline.Templates;

namespace Orch.Pipeline.Tests;

public class TemplateEngineTests
{
    private static readonly SourceLocation At = new("p.yml", 3, 10);

    private static object? Eval(string text, TemplateScope? scope = null) =>
        TemplateEngine.Evaluate(TemplateEngine.Compile(new TemplateText(text, At)), scope ?? new TemplateScope());

    [Theory]
    [InlineData("{{ include 'secrets.txt' }}")]
    [InlineData("{{ include_join ['a', 'b'] }}")]
    public void Render_Include_IsNotAvailable(string text) =>
        Assert.Throws<TemplateRenderException>(() => Eval(text));

    [Fact]
    public void Render_DotNetMembersOfValues_AreNotReachable()
    {
        var scope = new TemplateScope { Params = new Dictionary<string, object?> { ["name"] = "x" } };
        Assert.Throws<TemplateRenderException>(() => Eval("{{ params.name.Length }}", scope));
    }

    [Fact]
    public void Evaluate_SingleExpression_KeepsTheValuesType()
    {
        var scope = new TemplateScope { Params = new Dictionary<string, object?> { ["n"] = 3L } };
        Assert.Equal(new List<object?> { 0L, 1L, 2L }, Eval("{{ 0..(params.n - 1) }}", scope));
        Assert.Equal(4L, Eval("{{ params.n + 1 }}", scope));
        Assert.Equal("n=3", Eval("n={{ params.n }}", scope));
    }

    [Fact]
    public void Evaluate_MissingKey_FailsAtTheTemplatesLocation()
    {
        var scope = new TemplateScope { Tasks = new Dictionary<string, object?> { ["a"] = new Dictionary<string, object?> { ["outputs"] = new Dictionary<string, object?>() } } };
        var error = Assert.Throws<TemplateRenderException>(() => Eval("{{ tasks.a.outputs.missing }}", scope));
        Assert.Equal("p.yml", error.Location.File);
        Assert.Equal(3, error.Location.Line);
        Assert.True(error.Location.Column > At.Column, $"column {error.Location.Column} should point inside the template");
        Assert.Equal(false, Eval("{{ object.has_key tasks.a.outputs 'missing' }}", scope));
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("a b", "'a b'")]
    [InlineData("it's", "'it'\\''s'")]
    [InlineData("$(touch x); `id`", "'$(touch x); `id`'")]
    [InlineData("", "''")]
    public void Sh_QuotesForPosixShells(string value, string quoted)
    {
        var scope = new TemplateScope { Params = new Dictionary<string, object?> { ["v"] = value } };
        Assert.Equal(quoted, Eval("{{ params.v | sh }}", scope));
    }

    [Fact]
    public void Sh_QuotedValue_IsOneLiteralWordForARealShell()
    {
        const string nasty = "a b'c\"d$(echo pwned)`x`;\n\\e";
        var quoted = TemplateEngine.ShellQuote(nasty);
        using var shell = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("/bin/sh", ["-c", $"printf '%s' {quoted}"])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        })!;
        var output = shell.StandardOutput.ReadToEnd();
        shell.WaitForExit();
        Assert.Equal(nasty, output);
    }
}
