using Orch.Cli.Tests.Infrastructure;
using Orch.Coordination;
using Orch.Coordination.Redis;
using Orch.Coordination.Signing;
using Orch.Coordination.Tests.Redis;
using Orch.Protocol;

namespace Orch.Cli.Tests;

/// <summary>
/// Tasks on a shared backend are signed with the cluster key: agents run only what verifies, so
/// write access to the broker alone cannot run commands. Real redis-server, real orch-agent processes.
/// </summary>
public sealed class SigningTests : IAsyncLifetime
{
    private const string Rejected = "Rejected an unverifiable message on topic orch.tasks";

    private const string Pipeline = """
        name: signed
        tasks:
          hello:
            run: echo signed > ran.txt
        """;

    private RedisServer? _redis;
    private readonly TempDir _dir = new();
    private readonly List<AgentProcess> _agents = [];

    private string Backend => $"redis://127.0.0.1:{_redis!.Port}";

    public async ValueTask InitializeAsync() => _redis = await RedisServer.StartAsync();

    public async ValueTask DisposeAsync()
    {
        foreach (var agent in _agents) await agent.DisposeAsync();
        if (_redis is not null) await _redis.DisposeAsync();
        _dir.Dispose();
    }

    private AgentProcess StartAgent(string id, params string[] settings) =>
        Track(AgentProcess.Start([$"--Agent:Backend={Backend}", "--Agent:Slots=1", $"--Agent:Id={id}", .. settings]));

    private AgentProcess Track(AgentProcess agent)
    {
        _agents.Add(agent);
        return agent;
    }

    [Fact]
    public async Task Run_AgentWithTheSameKey_Succeeds_AndNeitherLogsTheKey()
    {
        var keyFile = _dir["cluster.key"];
        var keyText = ClusterKeyFiles.Write(keyFile);
        // The agent takes the key from the environment, the run from the file.
        var agent = Track(AgentProcess.Start(new Dictionary<string, string> { ["ORCH_CLUSTER_KEY"] = keyText },
            $"--Agent:Backend={Backend}", "--Agent:Slots=1", "--Agent:Id=agent-signed"));
        var pipeline = _dir.Write("signed.yml", Pipeline);

        var result = await OrchCli.RunAsync(_dir.Path, "run", pipeline, "--backend", Backend, "--cluster-key-file", keyFile);

        Assert.True(result.ExitCode == 0, result + "\n--- agent ---\n" + agent.Output);
        Assert.Equal("signed", _dir.Read("ran.txt").Trim());
        Assert.DoesNotContain(keyText, result.Stdout + result.Stderr + agent.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Rejected", agent.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_OnlyAgentsWithAnotherKey_Exits30NamingBothKeysAndNothingRuns()
    {
        var runKey = _dir["run.key"];
        ClusterKeyFiles.Write(runKey);
        var agentKey = _dir["agent.key"];
        ClusterKeyFiles.Write(agentKey);
        var agent = StartAgent("agent-stranger", $"--Agent:ClusterKeyFile={agentKey}");
        var pipeline = _dir.Write("signed.yml", Pipeline);

        var result = await OrchCli.RunAsync(_dir.Path, "run", pipeline, "--backend", Backend, "--cluster-key-file", runKey);

        Assert.True(result.ExitCode == 30, result + "\n--- agent ---\n" + agent.Output);
        Assert.Contains("no live agent on " + Backend + " shares this run's cluster key", result.Stderr, StringComparison.Ordinal);
        Assert.Contains($"this run has cluster key {ClusterKey.FromFile(runKey).Id}", result.Stderr, StringComparison.Ordinal);
        Assert.Contains($"agent-stranger have cluster key {ClusterKey.FromFile(agentKey).Id}", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("--cluster-key-file", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        Assert.False(_dir.Exists("ran.txt"), "a task ran");
    }

    [Fact]
    public async Task Agents_ListsEachAgentWithTheIdOfItsClusterKey()
    {
        var keyFile = _dir["cluster.key"];
        ClusterKeyFiles.Write(keyFile);
        var signed = StartAgent("agent-keyed", $"--Agent:ClusterKeyFile={keyFile}");
        var insecure = StartAgent("agent-open", "--Agent:Insecure=true");
        await using var broker = await RedisBackend.ConnectAsync(_redis!.ConnectionString);
        await WaitForAgentsAsync(broker, 2, signed, insecure);

        var result = await OrchCli.RunAsync(_dir.Path, "agents", "--backend", Backend, "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var listed = System.Text.Json.JsonDocument.Parse(result.Stdout);
        var keys = listed.RootElement.EnumerateArray().ToDictionary(a => a.GetProperty("id").GetString()!, a => a.GetProperty("cluster_key_id").GetString());
        Assert.Equal(ClusterKey.FromFile(keyFile).Id, keys["agent-keyed"]);
        Assert.Null(keys["agent-open"]);
    }

    [Fact]
    public async Task ForgedDispatch_WrittenStraightIntoRedis_IsNotRun_WhileASignedOneIs()
    {
        var keyFile = _dir["cluster.key"];
        ClusterKeyFiles.Write(keyFile);
        var agent = StartAgent("agent-guard", $"--Agent:ClusterKeyFile={keyFile}");
        await using var broker = await RedisBackend.ConnectAsync(_redis!.ConnectionString);
        await WaitForAgentsAsync(broker, 1, agent);
        var forgedMarker = _dir["forged-ran"];
        var signedMarker = _dir["signed-ran"];

        // Someone with write access to Redis but not the key: a well-formed dispatch, unsigned, and one signed with another key.
        await broker.Bus.PublishAsync(Topics.Tasks, Dispatch($"echo ran > '{forgedMarker}'"), CancellationToken.None);
        await broker.WithSigning(ClusterKey.Generate()).Bus.PublishAsync(Topics.Tasks, Dispatch($"echo ran > '{forgedMarker}'"), CancellationToken.None);
        // The same through the signing bus with the cluster key: this one must run, which shows the agent was listening.
        await broker.WithSigning(ClusterKey.FromFile(keyFile)).Bus.PublishAsync(Topics.Tasks, Dispatch($"echo ran > '{signedMarker}'"), CancellationToken.None);

        await Processes.WaitForFileAsync(signedMarker, TimeSpan.FromSeconds(20), () => agent.Output);
        await agent.WaitForOutputAsync(Rejected, TimeSpan.FromSeconds(10));
        Assert.Contains("not a signed message", agent.Output, StringComparison.Ordinal);
        await agent.WaitForOutputAsync("another cluster key", TimeSpan.FromSeconds(10));
        Assert.False(File.Exists(forgedMarker), "a task written straight into the broker ran");
    }

    [Fact]
    public async Task Agent_OnRedisWithoutKey_Exits2SayingHowToMakeOne()
    {
        var agent = Track(AgentProcess.Start("--Agent:Backend=redis://127.0.0.1:1"));

        var exit = await agent.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.True(exit == 2, agent.Output);
        Assert.Contains("Agent:ClusterKeyFile", agent.Output, StringComparison.Ordinal);
        Assert.Contains("ORCH_CLUSTER_KEY", agent.Output, StringComparison.Ordinal);
        Assert.Contains("head -c 32 /dev/urandom | base64 > cluster.key", agent.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", agent.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agent_WithAShortKey_Exits2NamingTheFile()
    {
        var keyFile = _dir.Write("short.key", Convert.ToBase64String(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 }));
        var agent = Track(AgentProcess.Start("--Agent:Backend=redis://127.0.0.1:1", $"--Agent:ClusterKeyFile={keyFile}"));

        var exit = await agent.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.True(exit == 2, agent.Output);
        Assert.Contains("short.key", agent.Output, StringComparison.Ordinal);
        Assert.Contains("has 16 bytes", agent.Output, StringComparison.Ordinal);
        Assert.Single(agent.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Insecure_AgentAndRunWithoutKey_RunWithLoudWarnings()
    {
        var agent = StartAgent("agent-insecure", "--Agent:Insecure=true");
        var pipeline = _dir.Write("signed.yml", Pipeline);

        var result = await OrchCli.RunAsync(_dir.Path, "run", pipeline, "--backend", Backend, "--insecure");

        Assert.True(result.ExitCode == 0, result + "\n--- agent ---\n" + agent.Output);
        Assert.Contains("warning: --insecure", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("INSECURE", agent.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_OnRedisWithoutKey_IsAUsageErrorSayingHowToMakeOne()
    {
        var result = await OrchCli.RunAsync(_dir.Path, "run", Repo.Pipeline("wordcount.yml"), "--backend", "redis://127.0.0.1:1");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("--cluster-key-file", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("head -c 32 /dev/urandom | base64 > cluster.key", result.Stderr, StringComparison.Ordinal);
        Assert.False(_dir.Exists(".orch/runs"), "no run may start without a key");
    }

    [Fact]
    public async Task Run_WithAKeyAndInsecure_IsAUsageError()
    {
        var keyFile = _dir["cluster.key"];
        ClusterKeyFiles.Write(keyFile);

        var result = await OrchCli.RunAsync(_dir.Path, "run", Repo.Pipeline("wordcount.yml"), "--backend", "redis://127.0.0.1:1", "--cluster-key-file", keyFile, "--insecure");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("--insecure", result.Stderr, StringComparison.Ordinal);
    }

    /// <summary>Waits until the agents are listed, which they are only once they listen for tasks.</summary>
    private static async Task WaitForAgentsAsync(ICoordinationBackend backend, int count, params AgentProcess[] agents)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while ((await backend.Agents.ListAsync(CancellationToken.None)).Count < count)
        {
            if (DateTime.UtcNow > deadline || agents.Any(a => a.HasExited))
                Assert.Fail($"the agents did not register; they logged:\n{string.Join("\n---\n", agents.Select(a => a.Output))}");
            await Task.Delay(50, CancellationToken.None);
        }
    }

    private TaskBatch Dispatch(string script)
    {
        var run = new RunId("20300101-000000-forged-0001");
        return new TaskBatch
        {
            Id = BatchId.New(),
            RunId = run,
            Attempts =
            [
                new TaskDispatch
                {
                    RunId = run,
                    InstanceKey = "evil",
                    TaskId = "evil",
                    Attempt = 1,
                    AttemptId = AttemptId.New(),
                    Body = new ShellBody(null, script, new Dictionary<string, string>()),
                    LogPath = _dir["evil.log"],
                    ArtifactDirectory = _dir["artifacts"],
                    WorkingDirectory = _dir.Path,
                },
            ],
        };
    }
}
