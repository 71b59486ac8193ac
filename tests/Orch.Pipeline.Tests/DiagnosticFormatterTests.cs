using Orch.Pipeline.Diagnostics;

namespace Orch.Pipeline.Tests;

public class DiagnosticFormatterTests
{
    private const string Source = "name: wordcount\ntasks:\n  count:\n    nedes: [split]\n";

    [Fact]
    public void Format_ErrorWithSource_ShowsLineCaretAndHint()
    {
        var d = new Diagnostic("ORCH003", DiagnosticSeverity.Error, new SourceLocation("wordcount.yml", 4, 5), "unknown key 'nedes' in task 'count'", "did you mean 'needs'?");
        Assert.Equal("""
            wordcount.yml:4:5: error ORCH003: unknown key 'nedes' in task 'count'
                4 |     nedes: [split]
                  |     ^^^^^
              hint: did you mean 'needs'?

            """.Replace("\r\n", "\n", StringComparison.Ordinal), DiagnosticFormatter.Format(d, Source));
    }

    [Fact]
    public void Format_WarningWithoutSource_OmitsSourceLines()
    {
        var d = new Diagnostic("ORCH024", DiagnosticSeverity.Warning, new SourceLocation("p.yml", 4, 5), "careful");
        Assert.Equal("p.yml:4:5: warning ORCH024: careful\n", DiagnosticFormatter.Format(d, null));
    }

    [Fact]
    public void Format_LineZero_PrintsFileOnly()
    {
        var d = new Diagnostic("ORCH050", DiagnosticSeverity.Error, SourceLocation.None("p.yml"), "not found", "check the path");
        Assert.Equal("p.yml: error ORCH050: not found\n  hint: check the path\n", DiagnosticFormatter.Format(d, Source));
    }

    [Theory]
    [InlineData(4, 12, "[split]")]
    [InlineData(1, 7, "wordcount")]
    [InlineData(3, 3, "count")]
    [InlineData(4, 99, "^")]
    public void Format_Caret_CoversToken(int line, int column, string token)
    {
        var d = new Diagnostic("ORCH999", DiagnosticSeverity.Error, new SourceLocation("p.yml", line, column), "m");
        var caretLine = DiagnosticFormatter.Format(d, Source).Split('\n')[2];
        Assert.EndsWith(" " + new string('^', token == "^" ? 1 : token.Length), caretLine);
    }

    [Fact]
    public void Format_LineBeyondText_OmitsSourceLines()
    {
        var d = new Diagnostic("ORCH001", DiagnosticSeverity.Error, new SourceLocation("p.yml", 40, 1), "m");
        Assert.Equal("p.yml:40:1: error ORCH001: m\n", DiagnosticFormatter.Format(d, Source));
    }

    [Fact]
    public void FormatAll_EndsWithCounts()
    {
        var diagnostics = new[]
        {
            new Diagnostic("ORCH003", DiagnosticSeverity.Error, SourceLocation.None("p.yml"), "a"),
            new Diagnostic("ORCH010", DiagnosticSeverity.Error, SourceLocation.None("p.yml"), "b"),
            new Diagnostic("ORCH024", DiagnosticSeverity.Warning, SourceLocation.None("p.yml"), "c"),
        };
        var text = DiagnosticFormatter.FormatAll(diagnostics, null);
        Assert.EndsWith("\n2 errors, 1 warning\n", text);
        Assert.Equal("1 error, 0 warnings\n", DiagnosticFormatter.FormatAll([], null).Replace("0 errors", "1 error", StringComparison.Ordinal));
    }
}
