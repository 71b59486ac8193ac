using Microsoft.Extensions.Time.Testing;
using Orch.Protocol;

namespace Orch.Coordination.Tests.Conformance;

/// <summary>
/// What every <see cref="IAgentRegistry"/> adapter must do: list agents that heartbeat, hide
/// those whose last heartbeat is older than the expiry, and forget unregistered ones. Agent ids
/// are unique per test and only this test's agents are looked at, so a shared server is fine.
/// </summary>
public abstract class AgentRegistryConformance : IAsyncLifetime
{
    protected static readonly TimeSpan Expiry = TimeSpan.FromSeconds(30);

    private IAgentRegistry? _registry;
    private readonly string _scope = "conformance-" + Guid.NewGuid().ToString("N")[..12];

    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2030, 1, 1, 12, 0, 0, TimeSpan.Zero));

    /// <summary>Makes the registry under test, reading the clock from <paramref name="time"/> and hiding agents silent for longer than <paramref name="expiry"/>.</summary>
    protected abstract IAgentRegistry CreateRegistry(TimeProvider time, TimeSpan expiry);

    /// <summary>Moves the adapter's clock forward.</summary>
    protected virtual ValueTask AdvanceAsync(TimeSpan by)
    {
        Time.Advance(by);
        return ValueTask.CompletedTask;
    }

    protected IAgentRegistry Registry => _registry ?? throw new InvalidOperationException("used before InitializeAsync");

    public virtual ValueTask InitializeAsync()
    {
        _registry = CreateRegistry(Time, Expiry);
        return ValueTask.CompletedTask;
    }

    public virtual async ValueTask DisposeAsync()
    {
        switch (_registry)
        {
            case IAsyncDisposable a: await a.DisposeAsync(); break;
            case IDisposable d: d.Dispose(); break;
        }
        GC.SuppressFinalize(this);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private AgentId Id(string name) => new($"{_scope}-{name}");

    private AgentInfo Agent(string name, int running = 0) =>
        new(Id(name), "host-" + name, ["linux", "x64"], 4, "1.2.3", running, Time.GetUtcNow())
        {
            HeartbeatInterval = TimeSpan.FromSeconds(2),
            Incarnation = "incarnation-" + name,
            ClusterKeyId = "0123456789abcdef",
        };

    private Task Heartbeat(AgentInfo agent) => Registry.HeartbeatAsync(agent, Ct).AsTask();

    /// <summary>This test's live agents, by id.</summary>
    private async Task<List<AgentInfo>> Live() =>
        (await Registry.ListAsync(Ct)).Where(a => a.Id.Value.StartsWith(_scope, StringComparison.Ordinal)).OrderBy(a => a.Id.Value, StringComparer.Ordinal).ToList();

    [Fact]
    public async Task List_Empty_WhenNoAgentHeartbeat()
    {
        Assert.Empty(await Live());
    }

    [Fact]
    public async Task Heartbeat_ListsTheAgentWithWhatItReported()
    {
        await Heartbeat(Agent("a", running: 2));

        var agent = Assert.Single(await Live());
        Assert.Equal(Id("a"), agent.Id);
        Assert.Equal("host-a", agent.Host);
        Assert.Equal(["linux", "x64"], agent.Labels);
        Assert.Equal(4, agent.Slots);
        Assert.Equal("1.2.3", agent.Version);
        Assert.Equal(2, agent.Running);
        Assert.Equal(TimeSpan.FromSeconds(2), agent.HeartbeatInterval);
        Assert.Equal("incarnation-a", agent.Incarnation);
        Assert.Equal("0123456789abcdef", agent.ClusterKeyId);
    }

    [Fact]
    public async Task Heartbeat_Again_UpdatesTheSameEntry()
    {
        await Heartbeat(Agent("a", running: 0));
        await AdvanceAsync(TimeSpan.FromSeconds(5));
        await Heartbeat(Agent("a", running: 3));

        var agent = Assert.Single(await Live());
        Assert.Equal(3, agent.Running);
        Assert.Equal(Time.GetUtcNow(), agent.LastHeartbeat);
    }

    [Fact]
    public async Task Heartbeat_SeveralAgents_AllListed()
    {
        await Heartbeat(Agent("a"));
        await Heartbeat(Agent("b"));
        await Heartbeat(Agent("c"));

        Assert.Equal([Id("a"), Id("b"), Id("c")], (await Live()).Select(a => a.Id));
    }

    [Fact]
    public async Task Expiry_AgentSilentLongerThanExpiry_IsNotListed()
    {
        await Heartbeat(Agent("stale"));
        await AdvanceAsync(Expiry - TimeSpan.FromSeconds(1));
        await Heartbeat(Agent("fresh"));
        Assert.Equal(2, (await Live()).Count);

        await AdvanceAsync(TimeSpan.FromSeconds(2));

        Assert.Equal([Id("fresh")], (await Live()).Select(a => a.Id));
    }

    [Fact]
    public async Task Expiry_StaleAgentThatHeartbeatsAgain_IsListedAgain()
    {
        await Heartbeat(Agent("a"));
        await AdvanceAsync(Expiry + TimeSpan.FromSeconds(5));
        Assert.Empty(await Live());

        await Heartbeat(Agent("a"));

        Assert.Single(await Live());
    }

    [Fact]
    public async Task Unregister_RemovesTheAgentAtOnce()
    {
        await Heartbeat(Agent("leaving"));
        await Heartbeat(Agent("staying"));

        await Registry.UnregisterAsync(Id("leaving"), Ct);

        Assert.Equal([Id("staying")], (await Live()).Select(a => a.Id));
    }

    [Fact]
    public async Task Unregister_UnknownAgent_IsHarmless()
    {
        await Heartbeat(Agent("a"));
        await Registry.UnregisterAsync(Id("never-seen"), Ct);
        Assert.Single(await Live());
    }
}
