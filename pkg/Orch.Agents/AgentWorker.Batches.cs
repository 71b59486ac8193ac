using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Orch.Coordination;
using Orch.Protocol;

namespace Orch.Agents;

/// <summary>How an agent takes batches of attempts from the bus and reports their results.</summary>
public sealed partial class AgentWorker
{
    /// <summary>
    /// The next batch from the agent's pool or the shared topic, pool first. Polls with TryRead so
    /// that no read is left pending on either (a pending read would take a message this agent
    /// might not have a slot for).
    /// </summary>
    private static async Task<Delivery<TaskBatch>> ReadEitherAsync(IMessageSubscription<TaskBatch> pool, IMessageSubscription<TaskBatch> shared, CancellationToken stopping)
    {
        var pause = TimeSpan.FromMilliseconds(1);
        while (true)
        {
            if (pool.TryRead(out var delivery) || shared.TryRead(out delivery)) return delivery;
            await Task.Delay(pause, stopping).ConfigureAwait(false);
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromMilliseconds(50).Ticks));
        }
    }

    /// <summary>
    /// Claims a batch, then starts its attempts in order as slots free up; called holding one
    /// slot. Returns once the last attempt has started, so no other batch is read meanwhile and
    /// an attempt that takes several slots cannot be starved by others holding part of them.
    /// </summary>
    private async Task StartBatchAsync(Delivery<TaskBatch> delivery, SemaphoreSlim slots, ConcurrentDictionary<Task, byte> inFlight, CancellationToken stopping)
    {
        var batch = delivery.Message;
        if (batch.Attempts is not { Count: > 0 })
        {
            // Nothing to run (no coordinator sends this): drop it rather than hold a slot for it.
            await delivery.AckAsync().ConfigureAwait(false);
            slots.Release();
            return;
        }
        if (!Options.ClaimAttempts)
        {
            // An agent inside orch run cannot be lost apart from its coordinator: nothing to claim,
            // and no other agent a second delivery could go to.
            await delivery.AckAsync().ConfigureAwait(false);
        }
        else if (!await TryClaimAsync(delivery, stopping).ConfigureAwait(false))
        {
            slots.Release();
            return;
        }
        var held = 1;
        for (var i = 0; i < batch.Attempts.Count; i++)
        {
            var dispatch = batch.Attempts[i];
            var taken = Math.Clamp(dispatch.Slots, 1, Options.Slots);
            try
            {
                for (; held < taken; held++) await slots.WaitAsync(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopping before these attempts started: hand them back at once rather than
                // leave them to be found lost once this agent is gone.
                if (held > 0) slots.Release(held);
                foreach (var unstarted in batch.Attempts.Skip(i)) Report(HandedBack(unstarted));
                throw;
            }
            var work = RunAndReleaseAsync(dispatch, slots, taken);
            held = 0;
            if (!work.IsCompleted)
            {
                inFlight.TryAdd(work, 0);
                _ = work.ContinueWith(t => inFlight.TryRemove(t, out _), TaskScheduler.Default);
            }
        }
    }

    /// <summary>
    /// Claims the batch for this agent process and acknowledges its message (the claim guards it
    /// from then on, so the bus will not hand a long-running batch to a second agent); false when
    /// it was claimed or revoked before, or the claim could not be made.
    /// </summary>
    private async Task<bool> TryClaimAsync(Delivery<TaskBatch> delivery, CancellationToken stopping)
    {
        var batch = delivery.Message;
        try
        {
            if (!_taken.Add(batch.Id))
            {
                // This process claimed it already: a copy delivered again (an acknowledgement lost with a connection).
                await delivery.AckAsync().ConfigureAwait(false);
                return false;
            }
            if (!await _claims.TryClaimAsync(batch.RunId, batch.Id, Options.Id, _incarnation, stopping).ConfigureAwait(false)
                && !await ClaimedByThisAgentAsync(batch, stopping).ConfigureAwait(false))
            {
                _logger.LogInformation("Skipped {Count} attempt(s) of run {RunId} ({First}, ...): claimed or revoked before (a redelivered message)", batch.Attempts.Count, batch.RunId, batch.Attempts.FirstOrDefault()?.InstanceKey);
                await delivery.AckAsync().ConfigureAwait(false);
                return false;
            }
            await delivery.AckAsync().ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
        {
            // Unacknowledged, the message goes to an agent again later, this one included.
            _taken.Remove(batch.Id);
            _logger.LogError(ex, "Could not claim {Count} attempt(s) of run {RunId}", batch.Attempts.Count, batch.RunId);
            return false;
        }
    }

    private async Task RunAndReleaseAsync(TaskDispatch dispatch, SemaphoreSlim slots, int taken)
    {
        try
        {
            Report(await ExecuteAsync(dispatch).ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            // Never let one task take the agent down; the coordinator's lease and retry logic cover a lost result.
            _logger.LogError(ex, "Could not run task {TaskId} attempt {Attempt} of run {RunId}", dispatch.InstanceKey, dispatch.Attempt, dispatch.RunId);
        }
        finally
        {
            slots.Release(taken);
        }
    }

    /// <summary>Queues a result for <see cref="ReportResultsAsync"/>.</summary>
    private void Report(TaskResult result) => _outbox.Writer.TryWrite(result);

    /// <summary>
    /// Publishes results as they are queued; those queued while a publish is under way go out
    /// together in the next message. Ends when the outbox is completed and empty.
    /// </summary>
    private async Task ReportResultsAsync()
    {
        var reader = _outbox.Reader;
        var pending = new List<TaskResult>();
        while (await reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
        {
            pending.Clear();
            while (pending.Count < 256 && reader.TryRead(out var next)) pending.Add(next);
            foreach (var run in pending.GroupBy(r => r.RunId))
            {
                try
                {
                    // A backend outage is waited out beneath this call (the agent host wraps shared
                    // backends in a PatientBackend): the batch was acknowledged, so this is the only trace of the work.
                    var message = new ResultBatch { RunId = run.Key, Results = run.ToList() };
                    await Backend.Bus.PublishAsync(Topics.Results(run.Key), message, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    // The coordinator's lease and lost-agent checks cover results that never arrive.
                    _logger.LogError(ex, "Could not report {Count} result(s) of run {RunId}", run.Count(), run.Key);
                }
            }
        }
    }

    /// <summary>The result of an attempt this agent took but will not start because it is shutting down.</summary>
    private TaskResult HandedBack(TaskDispatch dispatch) =>
        Result(dispatch, new Outcome(AttemptStatus.Cancelled, null, null, true, TaskResult.EmptyOutputs), _time.GetUtcNow(), handedBack: true);

    /// <summary>
    /// True when the claim that made ours fail is in fact ours: a claim written just before a
    /// connection dropped reads as failed when it is sent again.
    /// </summary>
    private async Task<bool> ClaimedByThisAgentAsync(TaskBatch batch, CancellationToken stopping) =>
        await _claims.GetAsync(batch.RunId, batch.Id, stopping).ConfigureAwait(false) is { Revoked: false } claim
        && claim.Agent == Options.Id && claim.Incarnation == _incarnation;
}
