namespace Orch.Coordination.Embedded;

/// <summary>The default backend: every port in-process, run records written under a local directory.</summary>
public sealed class EmbeddedBackend(string? stateDirectory, TimeProvider? time = null) : ICoordinationBackend
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public string Name => "embedded";
    public IMessageBus Bus { get; } = new EmbeddedMessageBus();
    public IStateStore State { get; } = new EmbeddedStateStore(stateDirectory);
    public IResourceLocks Locks => _locks ??= new EmbeddedResourceLocks(_time);
    public IAgentRegistry Agents => _agents ??= new EmbeddedAgentRegistry(_time, TimeSpan.FromSeconds(30));

    private EmbeddedResourceLocks? _locks;
    private EmbeddedAgentRegistry? _agents;

    public ValueTask DisposeAsync()
    {
        _locks?.Dispose();
        return ValueTask.CompletedTask;
    }
}
