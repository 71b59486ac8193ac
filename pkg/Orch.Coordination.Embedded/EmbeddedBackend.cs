namespace Orch.Coordination.Embedded;

/// <summary>The default backend: every port in-process, run records written under a local directory.</summary>
public sealed class EmbeddedBackend(string? stateDirectory, TimeProvider? time = null) : ICoordinationBackend
{
    private readonly EmbeddedResourceLocks _locks = new(time ?? TimeProvider.System);

    public string Name => "embedded";
    public IMessageBus Bus { get; } = new EmbeddedMessageBus();
    public IStateStore State { get; } = new EmbeddedStateStore(stateDirectory);
    public IResourceLocks Locks => _locks;
    public IAgentRegistry Agents { get; } = new EmbeddedAgentRegistry(time ?? TimeProvider.System, TimeSpan.FromSeconds(30));

    public ValueTask DisposeAsync()
    {
        _locks.Dispose();
        return ValueTask.CompletedTask;
    }
}
