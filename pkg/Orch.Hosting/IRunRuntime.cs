using Orch.Coordination;

namespace Orch.Hosting;

/// <summary>Where a run's tasks go: a coordination backend plus the agents that serve it.</summary>
public interface IRunRuntime : IAsyncDisposable
{
    ICoordinationBackend Backend { get; }

    /// <summary>True when agents are other processes, which can be lost while the run goes on.</summary>
    bool AgentsAreRemote { get; }

    /// <summary>Waits until agents are listening and returns how many slots they offer in all.</summary>
    /// <exception cref="BackendUnavailableException">No agent showed up in time.</exception>
    Task<int> WaitForAgentsAsync(CancellationToken cancellationToken);
}

/// <summary>The backend cannot be reached or has no agents. Its message says where and what to do.</summary>
public sealed class BackendUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
