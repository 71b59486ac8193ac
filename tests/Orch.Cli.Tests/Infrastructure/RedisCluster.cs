using Orch.Coordination.Tests.Redis;

namespace Orch.Cli.Tests.Infrastructure;

/// <summary>
/// A real redis-server on a loopback port, a fresh cluster key, and the <c>orch-agent</c>
/// processes a test starts against them; all stopped and removed on dispose.
/// </summary>
public sealed class RedisCluster : IAsyncDisposable
{
    private readonly TempDir _keys = new();

    private RedisCluster(RedisServer redis)
    {
        Redis = redis;
        KeyFile = _keys["cluster.key"];
        ClusterKeyFiles.Write(KeyFile);
    }

    public RedisServer Redis { get; }

    /// <summary>The cluster key file agents and runs share.</summary>
    public string KeyFile { get; }

    public string Backend => $"redis://127.0.0.1:{Redis.Port}";

    public List<AgentProcess> Agents { get; } = [];

    /// <param name="appendOnly">Redis keeps an append-only file synced on every write, so a restart loses nothing.</param>
    public static async Task<RedisCluster> StartAsync(bool appendOnly = false) => new(await RedisServer.StartAsync(appendOnly: appendOnly));

    /// <summary>Starts an agent with this cluster's backend and key; <paramref name="settings"/> are extra <c>--Agent:Name=value</c> arguments.</summary>
    public AgentProcess StartAgent(string id, int slots = 2, params string[] settings)
    {
        var agent = AgentProcess.StartServing(Backend, id, KeyFile, slots, settings);
        Agents.Add(agent);
        return agent;
    }

    /// <summary>What every agent logged, for assertion messages.</summary>
    public string Logs() => string.Concat(Agents.Select(a => $"\n--- {a.Id} ---\n{a.Output}"));

    public async ValueTask DisposeAsync()
    {
        foreach (var agent in Agents) await agent.DisposeAsync();
        await Redis.DisposeAsync();
        _keys.Dispose();
    }
}

/// <summary>A test class whose tests share one <see cref="RedisCluster"/>, started with the agents it asks for.</summary>
public abstract class RedisClusterTests : IAsyncLifetime
{
    protected RedisCluster Cluster { get; private set; } = null!;

    /// <summary>Whether Redis keeps a synced append-only file (tests that restart it).</summary>
    protected virtual bool AppendOnly => false;

    /// <summary>Starts the agents the tests use.</summary>
    protected abstract void StartAgents(RedisCluster cluster);

    protected string Backend => Cluster.Backend;
    protected string KeyFile => Cluster.KeyFile;
    protected List<AgentProcess> Agents => Cluster.Agents;
    protected string Logs() => Cluster.Logs();

    public async ValueTask InitializeAsync()
    {
        Cluster = await RedisCluster.StartAsync(AppendOnly);
        StartAgents(Cluster);
    }

    public async ValueTask DisposeAsync() => await Cluster.DisposeAsync();
}
