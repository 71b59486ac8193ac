using Orch.Cli.Tests.Infrastructure;

namespace Orch.Cli.Tests;

/// <summary><c>orch run</c> refusing to start: a bad pipeline, bad -p values, a bad command line.</summary>
public sealed class RunDiagnosticsTests
{
    [Fact]
    public async Task InvalidPipeline_SameDiagnosticsAsValidate_AndNothingRuns()
    {
        using var dir = new TempDir();
        dir.Write("broken.yml", Pipelines.Broken);

        var run = await OrchCli.RunAsync(dir.Path, "run", "broken.yml");
        var validate = await OrchCli.RunAsync(dir.Path, "validate", "broken.yml");

        Assert.True(run.ExitCode == 11, run.ToString());
        Assert.Equal(validate.Stderr, run.Stderr);
        Assert.False(dir.Exists("ran-first.txt"), "a task of an invalid pipeline ran");
        Assert.Empty(dir.RunDirectories());
    }

    [Fact]
    public async Task CyclicPipeline_Exits12AndNothingRuns()
    {
        using var dir = new TempDir();
        dir.Write("cycle.yml", Pipelines.Cycle);

        var run = await OrchCli.RunAsync(dir.Path, "run", "cycle.yml");

        Assert.True(run.ExitCode == 12, run.ToString());
        Assert.Contains("ORCH011", run.Stderr, StringComparison.Ordinal);
        Assert.False(dir.Exists("ran-a.txt"));
        Assert.Empty(dir.RunDirectories());
    }

    [Fact]
    public async Task MissingPipeline_Exits10()
    {
        using var dir = new TempDir();

        var run = await OrchCli.RunAsync(dir.Path, "run", "nowhere.yml");

        Assert.True(run.ExitCode == 10, run.ToString());
        Assert.Contains("nowhere.yml", run.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("nosuch=1", "nosuch")]
    [InlineData("shards=many", "shards")]
    [InlineData("top=1.5", "top")]
    public async Task BadParam_Exits13NamingTheParam(string param, string name)
    {
        using var dir = new TempDir();

        var run = await OrchCli.RunAsync(dir.Path, "run", Repo.Pipeline("wordcount.yml"), "-p", param, "-p", "output=out.json");

        Assert.True(run.ExitCode == 13, run.ToString());
        Assert.Matches($@"error ORCH040: .*'{name}'", run.Stderr);
        Assert.False(dir.Exists("out.json"));
        Assert.Empty(dir.RunDirectories());
    }

    [Theory]
    [InlineData("shards")]
    [InlineData("=8")]
    public async Task ParamWithoutKeyEqualsValue_Exits2(string param)
    {
        using var dir = new TempDir();

        var run = await OrchCli.RunAsync(dir.Path, "run", Repo.Pipeline("wordcount.yml"), "-p", param);

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains("KEY=VALUE", run.Stderr, StringComparison.Ordinal);
        Assert.Empty(dir.RunDirectories());
    }

    [Theory]
    [InlineData("--no-such-option")]
    [InlineData("--frobnicate", "--run")]
    public async Task UnknownGlobalOption_Exits2(params string[] args)
    {
        using var dir = new TempDir();

        var run = await OrchCli.RunAsync(dir.Path, args);

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains("orch --help", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownRunOption_Exits2_AndNothingRuns()
    {
        using var dir = new TempDir();
        dir.Write("valid.yml", Pipelines.Valid);

        // A misspelt --resume must not silently start a fresh run.
        var run = await OrchCli.RunAsync(dir.Path, "run", "valid.yml", "--resum", "last");

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains("resum", run.Stderr, StringComparison.Ordinal);
        Assert.Empty(dir.RunDirectories());
    }

    [Fact]
    public async Task UnknownValidateOption_Exits2()
    {
        using var dir = new TempDir();
        dir.Write("valid.yml", Pipelines.Valid);

        var run = await OrchCli.RunAsync(dir.Path, "validate", "valid.yml", "--bogus");

        Assert.True(run.ExitCode == 2, run.ToString());
    }

    [Theory]
    [InlineData("--max-parallel", "0", "--max-parallel")]
    [InlineData("--timeout", "soon", "--timeout")]
    public async Task BadOptionValue_Exits2(string option, string value, string mentioned)
    {
        using var dir = new TempDir();
        dir.Write("valid.yml", Pipelines.Valid);

        var run = await OrchCli.RunAsync(dir.Path, "run", "valid.yml", option, value);

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains(mentioned, run.Stderr, StringComparison.Ordinal);
        Assert.Empty(dir.RunDirectories());
    }

    [Fact]
    public async Task MissingFileArgument_Exits2()
    {
        using var dir = new TempDir();

        var run = await OrchCli.RunAsync(dir.Path, "run");

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains("FILE", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_Exits0AndListsTheCommands()
    {
        using var dir = new TempDir();

        var run = await OrchCli.RunAsync(dir.Path, "--help");

        Assert.True(run.ExitCode == 0, run.ToString());
        foreach (var command in new[] { "run", "validate", "graph" })
            Assert.Matches($@"(?m)^\s+{command} <FILE>", run.Stdout);
    }

    [Fact]
    public async Task RunHelp_ListsTheRunOptions()
    {
        using var dir = new TempDir();

        var run = await OrchCli.RunAsync(dir.Path, "run", "--help");

        Assert.True(run.ExitCode == 0, run.ToString());
        foreach (var option in new[] { "--param", "--resume", "--junit", "--json", "--max-parallel", "--timeout", "--plain" })
            Assert.Contains(option, run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Version_PrintsAVersion()
    {
        using var dir = new TempDir();

        var run = await OrchCli.RunAsync(dir.Path, "--version");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Matches(@"^\d+\.\d+\.\d+\S*\n$", run.Stdout);
    }

    [Fact]
    public async Task ResumeUnknownRun_Exits13()
    {
        using var dir = new TempDir();
        dir.Write("valid.yml", Pipelines.Valid);

        var run = await OrchCli.RunAsync(dir.Path, "run", "valid.yml", "--resume", "20200101-000000-valid-abcd");

        Assert.True(run.ExitCode == 13, run.ToString());
        Assert.Contains("20200101-000000-valid-abcd", run.Stderr, StringComparison.Ordinal);
        Assert.Empty(dir.RunDirectories());
    }

    [Fact]
    public async Task ResumeLastWithoutAnyRun_Exits13()
    {
        using var dir = new TempDir();
        dir.Write("valid.yml", Pipelines.Valid);

        var run = await OrchCli.RunAsync(dir.Path, "run", "valid.yml", "--resume", "last");

        Assert.True(run.ExitCode == 13, run.ToString());
        Assert.Contains("valid", run.Stderr, StringComparison.Ordinal);
    }
}
