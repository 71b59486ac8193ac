using Orch.Cli.Tests.Infrastructure;

namespace Orch.Cli.Tests;

public sealed class GraphTests
{
    [Theory]
    [InlineData(null, "graph-wordcount.mermaid.txt")]
    [InlineData("mermaid", "graph-wordcount.mermaid.txt")]
    [InlineData("dot", "graph-wordcount.dot.txt")]
    public async Task Wordcount_MatchesGolden(string? format, string golden)
    {
        using var dir = new TempDir();
        string[] args = format is null ? ["graph", Repo.Pipeline("wordcount.yml")] : ["graph", Repo.Pipeline("wordcount.yml"), "--format", format];

        var result = await OrchCli.RunAsync(dir.Path, args);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("", result.Stderr);
        Golden.Verify(golden, result.Stdout);
    }

    [Fact]
    public async Task Dot_HasEveryTaskAndEdge()
    {
        using var dir = new TempDir();

        var result = await OrchCli.RunAsync(dir.Path, "graph", Repo.Pipeline("wordcount.yml"), "--format", "dot");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.StartsWith("digraph", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"split\" -> \"count\"", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"count\" -> \"merge\"", result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("\"split\" -> \"merge\"", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownFormat_Exits2()
    {
        using var dir = new TempDir();

        var result = await OrchCli.RunAsync(dir.Path, "graph", Repo.Pipeline("wordcount.yml"), "--format", "svg");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("svg", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidPipeline_PrintsDiagnosticsAndNoGraph()
    {
        using var dir = new TempDir();
        dir.Write("cycle.yml", Pipelines.Cycle);

        var result = await OrchCli.RunAsync(dir.Path, "graph", "cycle.yml");

        Assert.True(result.ExitCode == 12, result.ToString());
        Assert.Equal("", result.Stdout);
        Assert.Contains("ORCH011", result.Stderr, StringComparison.Ordinal);
    }
}
