using System.Text.Json;
using Orch.Protocol;

namespace Orch.Coordination.Dapr;

/// <summary>
/// Live agents kept in any <see cref="IStateStore"/>: one key <c>{prefix}{agent id}</c> per agent
/// holding its JSON <see cref="AgentInfo"/>. An agent whose last heartbeat is older than the
/// expiry (by the given clock) is not listed. Stale entries are left in place rather than
/// deleted by readers, since the port has no conditional delete and a reader could otherwise
/// remove a heartbeat that arrived meanwhile; they cost one read per listing until the agent
/// unregisters or heartbeats again.
/// </summary>
public sealed class StateStoreAgentRegistry : IAgentRegistry
{
    private readonly IStateStore _store;
    private readonly string _prefix;
    private readonly TimeProvider _time;
    private readonly TimeSpan _expiry;

    /// <param name="store">Holds the agent entries.</param>
    /// <param name="prefix">Starts every agent key.</param>
    /// <param name="time">The clock that decides whether a heartbeat is too old.</param>
    /// <param name="expiry">How long an agent stays listed after its last heartbeat.</param>
    public StateStoreAgentRegistry(IStateStore store, string prefix, TimeProvider time, TimeSpan expiry)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(expiry, TimeSpan.Zero);
        _store = store;
        _prefix = prefix;
        _time = time;
        _expiry = expiry;
    }

    public async ValueTask HeartbeatAsync(AgentInfo agent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(agent);
        await _store.TrySetAsync(_prefix + agent.Id.Value, JsonSerializer.SerializeToUtf8Bytes(agent, CoordinationJson.Options), null, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask UnregisterAsync(AgentId agent, CancellationToken cancellationToken) =>
        await _store.DeleteAsync(_prefix + agent.Value, cancellationToken).ConfigureAwait(false);

    public async ValueTask<IReadOnlyList<AgentInfo>> ListAsync(CancellationToken cancellationToken)
    {
        var keys = await _store.ListKeysAsync(_prefix, cancellationToken).ConfigureAwait(false);
        var entries = await Task.WhenAll(keys.Select(k => _store.GetAsync(k, cancellationToken).AsTask())).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        return entries
            .OfType<VersionedValue>()
            .Select(e => JsonSerializer.Deserialize<AgentInfo>(e.Value, CoordinationJson.Options)!)
            .Where(a => now - a.LastHeartbeat <= _expiry)
            .OrderBy(a => a.Id.Value, StringComparer.Ordinal)
            .ToList();
    }
}
