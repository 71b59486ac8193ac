using Orch.Protocol;

namespace Orch.Coordination;

/// <summary>What an agent says about itself when it registers and heartbeats.</summary>
public sealed record AgentInfo(
    AgentId Id,
    string Host,
    IReadOnlyList<string> Labels,
    int Slots,
    string Version,
    int Running,
    DateTimeOffset LastHeartbeat);

/// <summary>Live agents. An agent whose heartbeat is older than the registry's expiry is not listed.</summary>
public interface IAgentRegistry
{
    /// <summary>Registers or refreshes an agent (a heartbeat is a re-registration with a new timestamp).</summary>
    ValueTask HeartbeatAsync(AgentInfo agent, CancellationToken cancellationToken);

    ValueTask UnregisterAsync(AgentId agent, CancellationToken cancellationToken);

    ValueTask<IReadOnlyList<AgentInfo>> ListAsync(CancellationToken cancellationToken);
}
