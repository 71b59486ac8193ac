namespace Orch.Coordination;

/// <summary>The four coordination ports, as one backend (embedded, Redis, Dapr) provides them.</summary>
public interface ICoordinationBackend : IAsyncDisposable
{
    string Name { get; }
    IMessageBus Bus { get; }
    IStateStore State { get; }
    IResourceLocks Locks { get; }
    IAgentRegistry Agents { get; }
}
