using Microsoft.Extensions.Logging;

namespace Orch.Coordination.Signing;

/// <summary>
/// A backend whose bus signs and verifies every message, and whose agent registry lists only the
/// agents that have the same key (<see cref="ClusterAgentRegistry"/>); state and locks are the
/// inner backend's own.
/// </summary>
public sealed class SignedCoordinationBackend : ICoordinationBackend
{
    private readonly ICoordinationBackend _inner;

    public SignedCoordinationBackend(ICoordinationBackend inner, ClusterKey key, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        Bus = new SignedMessageBus(inner.Bus, key, logger);
        Agents = new ClusterAgentRegistry(inner.Agents, key.Id);
    }

    public string Name => _inner.Name;
    public SignedMessageBus Bus { get; }
    IMessageBus ICoordinationBackend.Bus => Bus;
    public IStateStore State => _inner.State;
    public IResourceLocks Locks => _inner.Locks;
    public ClusterAgentRegistry Agents { get; }
    IAgentRegistry ICoordinationBackend.Agents => Agents;

    public bool IsTransient(Exception error) => _inner.IsTransient(error);

    public ValueTask DisposeAsync() => _inner.DisposeAsync();
}

public static class SigningExtensions
{
    /// <summary>Wraps <paramref name="backend"/> so its bus signs what it publishes and drops what does not verify under <paramref name="key"/>.</summary>
    public static SignedCoordinationBackend WithSigning(this ICoordinationBackend backend, ClusterKey key, ILogger? logger = null) =>
        new(backend, key, logger);
}
