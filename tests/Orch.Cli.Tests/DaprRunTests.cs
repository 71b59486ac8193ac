using System.Text.Json;
using Orch.Cli.Tests.Infrastructure;
using Orch.Dapr.StandIn;

namespace Orch.Cli.Tests;

/// <summary>
/// <c>orch run --backend dapr://...</c> with an <c>orch-agent</c> process, both talking to the
/// Dapr sidecar's gRPC API. The sidecar here is the in-process stand-in for daprd (see
/// tests/Orch.Dapr.StandIn), not Dapr itself; the coordination kit also runs against a real daprd
/// when one is on PATH.
/// </summary>
public sealed class DaprRunTests : IAsyncLifetime
{
    private DaprStandIn? _sidecar;
    private AgentProcess? _agent;
    private readonly TempDir _keys = new();
    private string KeyFile => _keys["cluster.key"];

    private string Backend
    {
        get
        {
            var grpc = new Uri(_sidecar!.GrpcEndpoint);
            var http = new Uri(_sidecar.HttpEndpoint);
            return $"dapr://{grpc.Host}:{grpc.Port}?http-port={http.Port}";
        }
    }

    public async ValueTask InitializeAsync()
    {
        _sidecar = await DaprStandIn.StartAsync();
        ClusterKeyFiles.Write(KeyFile);
        _agent = AgentProcess.StartServing(Backend, "dapr-agent", KeyFile, slots: 2);
    }

    public async ValueTask DisposeAsync()
    {
        if (_agent is not null) await _agent.DisposeAsync();
        if (_sidecar is not null) await _sidecar.DisposeAsync();
        _keys.Dispose();
    }

    [Fact]
    public async Task WordCount_OverTheDaprSidecarApi_MatchesIndependentCountAndRunsOnTheAgent()
    {
        using var dir = new TempDir();

        var result = await OrchCli.RunAsync(dir.Path, TimeSpan.FromSeconds(120), "run", Repo.Pipeline("wordcount.yml"), "--backend", Backend, "--cluster-key-file", KeyFile, "--json",
            "-p", $"input={Repo.Corpus}", "-p", "output=out.json", "-p", "counts=counts.tsv");

        Assert.True(result.ExitCode == 0, result + "\n--- agent ---\n" + _agent!.Output);
        WordCountTests.AssertMatches(WordCountOracle.OfPath(Repo.Corpus), dir, top: 20);
        using var summary = JsonDocument.Parse(result.Stdout);
        Assert.Equal(["dapr-agent"], summary.RootElement.GetProperty("agents").EnumerateArray().Select(a => a.GetString()));
    }

    [Fact]
    public async Task UnreachableSidecar_Exits30NamingTheEndpoint()
    {
        using var dir = new TempDir();

        var result = await OrchCli.RunAsync(dir.Path, "run", Repo.Pipeline("wordcount.yml"), "--backend", "dapr://127.0.0.1:1?http-port=1", "--cluster-key-file", KeyFile);

        Assert.True(result.ExitCode == 30, result.ToString());
        Assert.Contains("127.0.0.1:1", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("daprd", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MalformedDaprAddress_IsAUsageErrorSayingWhatToWrite()
    {
        using var dir = new TempDir();

        var result = await OrchCli.RunAsync(dir.Path, "run", Repo.Pipeline("wordcount.yml"), "--backend", "dapr://127.0.0.1:50001?colour=blue");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("http-port=N, pubsub=NAME, state=NAME", result.Stderr + result.Stdout, StringComparison.Ordinal);
    }
}
