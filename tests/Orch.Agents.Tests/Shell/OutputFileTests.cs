using Orch.Agents.Shell;

namespace Orch.Agents.Tests.Shell;

public sealed class OutputFileTests
{
    private static IReadOnlyDictionary<string, string> ParseText(string text)
    {
        using var dir = new TempDirectory();
        var path = dir.File("output");
        File.WriteAllText(path, text);
        return OutputFile.Parse(path);
    }

    [Fact]
    public void KeyValueLines()
    {
        var outputs = ParseText("a=1\nb=x=y\nempty=\n\nc = spaced \n");

        Assert.Equal(4, outputs.Count);
        Assert.Equal("1", outputs["a"]);
        Assert.Equal("x=y", outputs["b"]);
        Assert.Equal(string.Empty, outputs["empty"]);
        Assert.Equal(" spaced ", outputs["c "]);
    }

    [Fact]
    public void LaterKeysWinAndCrLfIsAccepted()
    {
        var outputs = ParseText("a=1\r\na=2\r\nb=3");

        Assert.Equal(2, outputs.Count);
        Assert.Equal("2", outputs["a"]);
        Assert.Equal("3", outputs["b"]);
    }

    [Fact]
    public void MultiLineValuesUseADelimiter()
    {
        var outputs = ParseText("before=1\nbody<<EOF\nline one\nkey=not an output\n\nEOF-not\nEOF\nempty<<END\nEND\nafter=2\n");

        Assert.Equal(4, outputs.Count);
        Assert.Equal("line one\nkey=not an output\n\nEOF-not", outputs["body"]);
        Assert.Equal(string.Empty, outputs["empty"]);
        Assert.Equal("1", outputs["before"]);
        Assert.Equal("2", outputs["after"]);
    }

    [Fact]
    public void DelimiterMayContainEquals()
    {
        var outputs = ParseText("k<<ghadelimiter_a=b\nv\nghadelimiter_a=b\n");

        Assert.Equal("v", Assert.Single(outputs).Value);
    }

    [Fact]
    public void EmptyFileHasNoOutputs() => Assert.Empty(ParseText(string.Empty));

    [Fact]
    public void MissingFileHasNoOutputs()
    {
        using var dir = new TempDirectory();
        Assert.Empty(OutputFile.Parse(dir.File("missing")));
        Assert.Empty(OutputFile.Parse(dir.File("missing-dir/output")));
    }

    [Fact]
    public void MalformedLineNamesItsNumber()
    {
        var error = Assert.Throws<FormatException>(() => ParseText("a=1\n\njust text\n"));
        Assert.Contains("line 3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingKeyIsMalformed()
    {
        var error = Assert.Throws<FormatException>(() => ParseText("a=1\n=2\n"));
        Assert.Contains("line 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnterminatedDelimiterIsMalformed()
    {
        var error = Assert.Throws<FormatException>(() => ParseText("a=1\nbody<<EOF\ntext\n"));
        Assert.Contains("line 2", error.Message, StringComparison.Ordinal);
        Assert.Contains("EOF", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EmptyDelimiterIsMalformed()
    {
        var error = Assert.Throws<FormatException>(() => ParseText("body<<\n\n"));
        Assert.Contains("line 1", error.Message, StringComparison.Ordinal);
    }
}
