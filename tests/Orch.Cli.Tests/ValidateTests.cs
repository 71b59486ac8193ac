using System.Text.Json;
using Orch.Cli.Tests.Infrastructure;

namespace Orch.Cli.Tests;

public sealed class ValidateTests
{
    [Fact]
    public async Task BrokenPipeline_ReportsEveryErrorWithSourceCaretAndHint()
    {
        using var dir = new TempDir();
        dir.Write("broken.yml", Pipelines.Broken);

        var result = await OrchCli.RunAsync(dir.Path, "validate", "broken.yml");

        Assert.True(result.ExitCode == 11, result.ToString());
        Assert.Equal("", result.Stdout);
        var stderr = result.Stderr;
        // file:line:col: error ORCHxxx: message, then the source line, a caret line and a hint.
        Assert.Matches(@"(?m)^broken\.yml:8:5: error ORCH003: unknown key 'nedes' in task 'second'$", stderr);
        Assert.Matches(@"(?m)^ +8 \|     nedes: \[first\]\n +\|     \^{5}\n  hint: did you mean 'needs'\?$", stderr);
        Assert.Matches(@"(?m)^broken\.yml:\d+:\d+: error ORCH022: .*'cuont'", stderr);
        Assert.Matches(@"(?m)^broken\.yml:11:\d+: error ORCH010: .*'frist'", stderr);
        Assert.Matches(@"(?m)^broken\.yml:12:\d+: error ORCH014: .*'no/such-action'", stderr);
        Assert.Contains("4 errors, 0 warnings", stderr, StringComparison.Ordinal);
        Golden.Verify("validate-broken.stderr.txt", stderr);
    }

    [Fact]
    public async Task Cycle_Exits12AndPrintsTheCycle()
    {
        using var dir = new TempDir();
        dir.Write("cycle.yml", Pipelines.Cycle);

        var result = await OrchCli.RunAsync(dir.Path, "validate", "cycle.yml");

        Assert.True(result.ExitCode == 12, result.ToString());
        Assert.Matches(@"(?m)^cycle\.yml:\d+:\d+: error ORCH011: .*\b(a -> c -> b -> a|b -> a -> c -> b|c -> b -> a -> c)\b", result.Stderr);
        Assert.Contains("hint:", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingFile_Exits10()
    {
        using var dir = new TempDir();

        var result = await OrchCli.RunAsync(dir.Path, "validate", "does-not-exist.yml");

        Assert.True(result.ExitCode == 10, result.ToString());
        Assert.Contains("does-not-exist.yml", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("ORCH050", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_IsParseableWithCodeLineAndColumn()
    {
        using var dir = new TempDir();
        dir.Write("broken.yml", Pipelines.Broken);

        var result = await OrchCli.RunAsync(dir.Path, "validate", "broken.yml", "--json");

        Assert.True(result.ExitCode == 11, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var items = json.RootElement.EnumerateArray().ToList();
        Assert.Equal(4, items.Count);
        var first = items.Single(d => d.GetProperty("code").GetString() == "ORCH003");
        Assert.Equal(8, first.GetProperty("line").GetInt32());
        Assert.Equal(5, first.GetProperty("column").GetInt32());
        Assert.Equal("error", first.GetProperty("severity").GetString());
        Assert.Equal("broken.yml", first.GetProperty("file").GetString());
        Assert.Contains("nedes", first.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(["ORCH003", "ORCH010", "ORCH014", "ORCH022"], items.Select(d => d.GetProperty("code").GetString()!).Order(StringComparer.Ordinal));
        Assert.All(items, d => Assert.True(d.GetProperty("line").GetInt32() > 0 && d.GetProperty("column").GetInt32() > 0));
    }

    [Fact]
    public async Task MissingFile_Json_HasTheCode()
    {
        using var dir = new TempDir();

        var result = await OrchCli.RunAsync(dir.Path, "validate", "nope.yml", "--json");

        Assert.True(result.ExitCode == 10, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Equal("ORCH050", json.RootElement[0].GetProperty("code").GetString());
    }

    [Fact]
    public async Task ValidFile_Exits0AndSaysOk()
    {
        using var dir = new TempDir();
        dir.Write("valid.yml", Pipelines.Valid);

        var result = await OrchCli.RunAsync(dir.Path, "validate", "valid.yml");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches(@"^valid\.yml: ok\b", result.Stdout);
        Assert.Equal("", result.Stderr);
    }

    [Fact]
    public async Task ShippedPipelines_AreValid()
    {
        using var dir = new TempDir();
        foreach (var name in new[] { "wordcount.yml", "philosophers.yml", "bank.yml" })
        {
            var result = await OrchCli.RunAsync(dir.Path, "validate", Repo.Pipeline(name), "--json");
            Assert.True(result.ExitCode == 0, $"{name}: {result}");
            using var json = JsonDocument.Parse(result.Stdout);
            Assert.Equal(0, json.RootElement.GetArrayLength());
        }
    }
}
