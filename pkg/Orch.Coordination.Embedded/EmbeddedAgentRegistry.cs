using System.Collections.Concurrent;
using Orch.Protocol;

namespace Orch.Coordination.Embedded;

/// <summary>In-process agent registry; agents whose last heartbeat is older than <paramref name="expiry"/> are not listed.</summary>
public sealed class EmbeddedAgentRegistry(TimeProvider time, TimeSpan expiry) : IAgentRegistry
{
    private readonly ConcurrentDictionary<AgentId, AgentInfo> _agents = new();

    public ValueTask HeartbeatAsync(AgentInfo agent, CancellationToken cancellationToken)
    {
        _agents[agent.Id] = agent;
        return ValueTask.CompletedTask;
    }

    public ValueTask UnregisterAsync(AgentId agent, CancellationToken cancellationToken)
    {
        _agents.TryRemove(agent, out _);
        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<AgentInfo>> ListAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        IReadOnlyList<AgentInfo> live = _agents.Values.Where(a => now - a.LastHeartbeat <= expiry).OrderBy(a => a.Id.Value, StringComparer.Ordinal).ToList();
        return ValueTask.FromResult(live);
    }
}
