using Orch.Actions;
using Orch.Agents;
using Orch.Coordination;
using Orch.Coordination.Embedded;
using Orch.Protocol;

namespace Orch.Hosting;

/// <summary>
/// The embedded default: the coordination ports in-process and agents running as background
/// loops of this process. Runs go through exactly the same bus, locks and state store as with
/// a remote backend; only the transport differs.
/// </summary>
public sealed class EmbeddedRuntime : IRunRuntime
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _agents = [];

    public EmbeddedRuntime(string stateDirectory, int slots, TimeProvider? time = null)
    {
        Backend = new EmbeddedBackend(stateDirectory, time);
        var actions = ActionRegistry.CreateDefault();
        var worker = new AgentWorker(Backend, actions, new AgentOptions { Id = new AgentId($"embedded@{Environment.MachineName}"), Slots = slots, ClaimAttempts = false }, time);
        // The agent joins the task topic on its own thread; WaitForAgentsAsync waits for that,
        // since the embedded bus drops messages published before a group exists.
        _agents.Add(Task.Run(() => worker.RunAsync(_stop.Token)));
        Slots = slots;
    }

    public ICoordinationBackend Backend { get; }
    public bool AgentsAreRemote => false;
    public int Slots { get; }

    /// <summary>Waits until the in-process agent has joined the task topic.</summary>
    public async Task<int> WaitForAgentsAsync(CancellationToken cancellationToken)
    {
        while ((await Backend.Agents.ListAsync(cancellationToken).ConfigureAwait(false)).Count == 0)
            await Task.Delay(1, cancellationToken).ConfigureAwait(false);
        return Slots;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try { await Task.WhenAll(_agents).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        await Backend.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
