using Microsoft.Extensions.Logging;
using Orch.Coordination;
using Orch.Coordination.Redis;
using Orch.Coordination.Resilience;
using Orch.Coordination.Signing;

namespace Orch.Hosting;

/// <summary>
/// A run over a shared backend: agents are separate <c>orch-agent</c> processes that registered
/// with it. This process only coordinates.
/// </summary>
/// <param name="backend">The connected backend.</param>
/// <param name="address">The backend's address as it may be shown (no password).</param>
/// <param name="agentWait">How long to wait for an agent that serves the run.</param>
/// <param name="keyId">The id of the run's cluster key; empty for an insecure run.</param>
/// <param name="everyAgent">The registry unfiltered by key, to say which keys the agents there have.</param>
public sealed class RemoteRuntime(ICoordinationBackend backend, string address, TimeSpan agentWait, string keyId, IAgentRegistry everyAgent) : IRunRuntime
{
    public ICoordinationBackend Backend => backend;
    public bool AgentsAreRemote => true;

    public async Task<int> WaitForAgentsAsync(CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + agentWait;
        while (true)
        {
            // Only agents with this run's key serve it (a signed backend lists no others; an insecure run wants insecure agents).
            var agents = (await backend.Agents.ListAsync(cancellationToken).ConfigureAwait(false)).Where(a => a.ClusterKeyId == keyId).ToList();
            if (agents.Count > 0) return agents.Sum(a => a.Slots);
            if (DateTime.UtcNow >= deadline) throw new BackendUnavailableException(await NoAgentMessageAsync(cancellationToken).ConfigureAwait(false));
            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Why no agent serves the run: none is there, or those there have another cluster key.</summary>
    private async Task<string> NoAgentMessageAsync(CancellationToken cancellationToken)
    {
        var waited = $"after {agentWait.TotalSeconds:0}s";
        IReadOnlyList<AgentInfo> others;
        try { others = await everyAgent.ListAsync(cancellationToken).ConfigureAwait(false); }
        catch (Exception ex) when (ex is not OperationCanceledException) { others = []; }
        if (others.Count == 0)
            return $"no live agent on {address} {waited}: start one with 'orch-agent --Agent:Backend={address}'";
        var theirs = string.Join("; ", others.GroupBy(a => a.ClusterKeyId).Select(g =>
            $"{string.Join(", ", g.Select(a => a.Id.Value))} {(g.Key.Length == 0 ? "run insecure" : $"have cluster key {g.Key}")}"));
        var ours = keyId.Length == 0 ? "this run is insecure" : $"this run has cluster key {keyId}";
        return $"no live agent on {address} shares this run's cluster key {waited} ({ours}; {theirs}): give orch run the agents' key with --cluster-key-file, or restart the agents with --Agent:ClusterKeyFile naming this run's key";
    }

    public ValueTask DisposeAsync() => backend.DisposeAsync();

    /// <summary>
    /// Connects to a backend address (<c>redis://HOST:PORT</c>). With a <paramref name="key"/> every
    /// bus message is signed and checked with it (see <see cref="SignedMessageBus"/>); without one
    /// messages travel unauthenticated, which only agents started as insecure accept. Once
    /// connected, an outage makes the run wait, reporting through <paramref name="warn"/>, for up
    /// to <paramref name="backendWait"/>.
    /// </summary>
    /// <param name="address">The backend address.</param>
    /// <param name="agentWait">How long to wait for a live agent.</param>
    /// <param name="backendWait">How long one outage of the backend may last.</param>
    /// <param name="warn">Hears about outages and recoveries.</param>
    /// <param name="key">The cluster key; null for no signing.</param>
    /// <param name="logger">Hears about messages that were rejected as unverifiable.</param>
    public static async Task<RemoteRuntime> ConnectAsync(string address, TimeSpan agentWait, TimeSpan backendWait, Action<string> warn, ClusterKey? key, ILogger? logger = null)
    {
        var backend = await BackendAddress.ConnectAsync(address).ConfigureAwait(false);
        return new(new PatientBackend(key is null ? backend : backend.WithSigning(key, logger), backendWait, warn), BackendAddress.Display(address), agentWait, key?.Id ?? "", backend.Agents);
    }
}
