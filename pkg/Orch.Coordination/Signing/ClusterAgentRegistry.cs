namespace Orch.Coordination.Signing;

/// <summary>
/// The agents of one cluster on a shared registry: a heartbeat carries the id of the cluster key
/// the agent signs with, and only agents with the same key id are listed. An agent with another
/// key drops every message of this cluster, so counting it as live would only make runs wait for
/// it; <see cref="ListEveryClusterAsync"/> still shows it, to say why no agent serves a run.
/// </summary>
public sealed class ClusterAgentRegistry(IAgentRegistry inner, string keyId) : IAgentRegistry
{
    /// <summary>The key id this registry's agents have (<see cref="ClusterKey.Id"/>).</summary>
    public string KeyId => keyId;

    public ValueTask HeartbeatAsync(AgentInfo agent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(agent);
        return inner.HeartbeatAsync(agent with { ClusterKeyId = keyId }, cancellationToken);
    }

    public ValueTask UnregisterAsync(Orch.Protocol.AgentId agent, CancellationToken cancellationToken) =>
        inner.UnregisterAsync(agent, cancellationToken);

    public async ValueTask<IReadOnlyList<AgentInfo>> ListAsync(CancellationToken cancellationToken) =>
        (await inner.ListAsync(cancellationToken).ConfigureAwait(false)).Where(a => a.ClusterKeyId == keyId).ToList();

    /// <summary>Every live agent of the registry, whatever key it has.</summary>
    public ValueTask<IReadOnlyList<AgentInfo>> ListEveryClusterAsync(CancellationToken cancellationToken) =>
        inner.ListAsync(cancellationToken);
}
