namespace Orch.Coordination;

/// <summary>The four coordination ports, as one backend (embedded, Redis, Dapr) provides them.</summary>
public interface ICoordinationBackend : IAsyncDisposable
{
    string Name { get; }
    IMessageBus Bus { get; }
    IStateStore State { get; }
    IResourceLocks Locks { get; }
    IAgentRegistry Agents { get; }

    /// <summary>
    /// True when <paramref name="error"/>, thrown by one of these ports, means the backend is
    /// unreachable for now (worth waiting for) rather than a lasting failure.
    /// </summary>
    bool IsTransient(Exception error) => false;
}
