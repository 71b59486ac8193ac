using System.Text.Json;
using Orch.Cli.Tests.Infrastructure;

namespace Orch.Cli.Tests;

/// <summary>
/// <c>orch run --backend redis://...</c> with two <c>orch-agent</c> processes and a real
/// redis-server: tasks leave this process, results and locks travel through Redis.
/// </summary>
public sealed class DistributedRunTests : RedisClusterTests
{
    protected override void StartAgents(RedisCluster cluster)
    {
        foreach (var id in new[] { "agent-a", "agent-b" }) cluster.StartAgent(id);
    }

    [Fact]
    public async Task WordCount_OverRedisWithTwoAgents_MatchesIndependentCountAndRunsOnTheAgents()
    {
        using var dir = new TempDir();

        var result = await OrchCli.RunAsync(dir.Path, "run", Repo.Pipeline("wordcount.yml"), "--backend", Backend, "--cluster-key-file", KeyFile, "--json",
            "-p", $"input={Repo.Corpus}", "-p", "output=out.json", "-p", "counts=counts.tsv");

        Assert.True(result.ExitCode == 0, result.ToString());
        WordCountTests.AssertMatches(WordCountOracle.OfPath(Repo.Corpus), dir, top: 20);
        using var summary = JsonDocument.Parse(result.Stdout);
        var agents = summary.RootElement.GetProperty("agents").EnumerateArray().Select(a => a.GetString()).ToList();
        Assert.NotEmpty(agents);
        Assert.All(agents, a => Assert.Contains(a, new[] { "agent-a", "agent-b" }));
    }

    [Fact]
    public async Task Bank_OverRedisLocks_ConservesBalances()
    {
        using var dir = new TempDir();

        var result = await OrchCli.RunAsync(dir.Path, "run", Repo.Pipeline("bank.yml"), "--backend", Backend, "--cluster-key-file", KeyFile,
            "-p", $"vault={Path.Combine(dir.Path, "vault")}", "-p", "transfers=40");

        Assert.True(result.ExitCode == 0, result.ToString());
        var total = Directory.GetFiles(Path.Combine(dir.Path, "vault")).Sum(f => long.Parse(File.ReadAllText(f).Trim(), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(6 * 1000, total);
    }

    [Fact]
    public async Task Agents_ListsBothLiveAgentsWithTheirSlots()
    {
        using var dir = new TempDir();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        List<(string? Id, int Slots)> agents;
        do
        {
            var result = await OrchCli.RunAsync(dir.Path, "agents", "--backend", Backend, "--json");
            Assert.True(result.ExitCode == 0, result.ToString());
            using var json = JsonDocument.Parse(result.Stdout);
            agents = json.RootElement.EnumerateArray().Select(a => (a.GetProperty("id").GetString(), a.GetProperty("slots").GetInt32())).ToList();
        } while (agents.Count < 2 && DateTime.UtcNow < deadline);

        Assert.Equal([("agent-a", 2), ("agent-b", 2)], agents.OrderBy(a => a.Id, StringComparer.Ordinal).ToList());
    }

    [Fact]
    public async Task Locks_AfterABankRun_ShowsTheAccountsAndNobodyHoldingThem()
    {
        using var dir = new TempDir();
        var run = await OrchCli.RunAsync(dir.Path, "run", Repo.Pipeline("bank.yml"), "--backend", Backend, "--cluster-key-file", KeyFile,
            "-p", $"vault={Path.Combine(dir.Path, "vault")}", "-p", "transfers=12");
        Assert.True(run.ExitCode == 0, run.ToString());

        var result = await OrchCli.RunAsync(dir.Path, "locks", "--backend", Backend, "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var accounts = json.RootElement.EnumerateArray().Where(l => l.GetProperty("resource").GetString()!.StartsWith("account:", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(accounts);
        Assert.All(accounts, l => Assert.Equal(0, l.GetProperty("holders").GetArrayLength()));
    }

    [Fact]
    public async Task Timeout_WithABacklog_AttemptsNoAgentTookEndAtOnceAndTheRunningOnesAreStopped()
    {
        using var dir = new TempDir();
        // Four slots in all, twenty long tasks: most of them wait in the bus when the run times out.
        var pipeline = dir.Write("backlog.yml", """
            name: backlog
            tasks:
              nap:
                for_each: "{{ 20 }}"
                run: sleep 60
            """);

        var result = await OrchCli.RunAsync(dir.Path, "run", pipeline, "--backend", Backend, "--cluster-key-file", KeyFile, "--timeout", "3s", "--json");

        Assert.True(result.ExitCode == 124, result + Cluster.Logs());
        using var summary = JsonDocument.Parse(result.Stdout);
        var errors = summary.RootElement.GetProperty("failures").EnumerateArray().Select(f => f.GetProperty("error").GetString()).ToList();
        Assert.Equal(20, errors.Count);
        // Those an agent took were stopped by it; the rest were never handed to one and need no grace period.
        Assert.InRange(errors.Count(e => e == "cancelled"), 1, 4);
        Assert.Equal(20 - errors.Count(e => e == "cancelled"), errors.Count(e => e == "cancelled before an agent took it"));
    }

    [Theory]
    [InlineData("agents")]
    [InlineData("locks")]
    public async Task AgentsAndLocks_WithoutABackend_AreUsageErrors(string command)
    {
        using var dir = new TempDir();
        var result = await OrchCli.RunAsync(dir.Path, command);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("--backend", result.Stderr + result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnreachableBackend_Exits30NamingTheAddress()
    {
        using var dir = new TempDir();

        var result = await OrchCli.RunAsync(dir.Path, "run", Repo.Pipeline("wordcount.yml"), "--backend", "redis://127.0.0.1:1", "--cluster-key-file", KeyFile);

        Assert.True(result.ExitCode == 30, result.ToString());
        Assert.Contains("127.0.0.1:1", result.Stderr, StringComparison.Ordinal);
        Assert.False(dir.Exists(".orch/runs"), "no run may start without a backend");
    }
}
