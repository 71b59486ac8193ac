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
    DateTimeOffset LastHeartbeat)
{
    /// <summary>How often the agent heartbeats; others judge it lost by this, not by their own settings.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Identifies this run of the agent process: a restarted agent keeps its id but not this.</summary>
    public string Incarnation { get; init; } = "";

    /// <summary>
    /// The id of the cluster key the agent checks messages with (<c>ClusterKey.Id</c>, a
    /// fingerprint that reveals nothing of the key); empty for an agent that runs insecure.
    /// </summary>
    public string ClusterKeyId { get; init; } = "";

    /// <summary>Heartbeats an agent may miss before it counts as lost.</summary>
    public const int MissedHeartbeatsWhenLost = 3;

    /// <summary>True when the agent has all of <paramref name="labels"/> and at least <paramref name="slots"/> slots.</summary>
    public bool CanRun(IReadOnlyList<string> labels, int slots) =>
        Slots >= slots && labels.All(label => Labels.Contains(label, StringComparer.Ordinal));

    /// <summary>True when the agent has missed <see cref="MissedHeartbeatsWhenLost"/> heartbeats by <paramref name="now"/>.</summary>
    public bool IsLost(DateTimeOffset now) => now - LastHeartbeat > HeartbeatInterval * MissedHeartbeatsWhenLost;
}

/// <summary>Live agents. An agent whose heartbeat is older than the registry's expiry is not listed.</summary>
public interface IAgentRegistry
{
    /// <summary>Registers or refreshes an agent (a heartbeat is a re-registration with a new timestamp).</summary>
    ValueTask HeartbeatAsync(AgentInfo agent, CancellationToken cancellationToken);

    ValueTask UnregisterAsync(AgentId agent, CancellationToken cancellationToken);

    ValueTask<IReadOnlyList<AgentInfo>> ListAsync(CancellationToken cancellationToken);
}
