using Orch.Coordination;
using Orch.Coordination.Attempts;
using Orch.Coordination.Resilience;
using Orch.Engine.Planning;
using Orch.Protocol;

namespace Orch.Engine;

public sealed partial class RunCoordinator
{
    /// <summary>The run's dealings with agents it does not share a process with: placement by label, lost agents, attempt claims.</summary>
    private sealed partial class RunState
    {
        /// <summary>
        /// Where a task's dispatches go: the shared task topic, or for a task that asks for labels
        /// the pool of one of the live agents that has them (and enough slots), taking pools in
        /// turn; null when no live agent fits.
        /// </summary>
        private string? TopicFor(Orch.Pipeline.Model.TaskDefinition definition)
        {
            if (definition.Labels.Count == 0) return Topics.Tasks;
            var pools = _placement
                .Where(p => p.Agent.CanRun(definition.Labels, definition.Slots))
                .Select(p => p.Pool)
                .Distinct(StringComparer.Ordinal)
                .ToList();
            return pools.Count == 0 ? null : pools[_poolTurn++ % pools.Count];
        }

        /// <summary>Notes the live agents and their pool topics (hashed once here, not per dispatch).</summary>
        private void PlaceOn(IReadOnlyList<AgentInfo> agents) =>
            _placement = agents.Select(a => (a, Topics.Pool(a.Labels))).OrderBy(p => p.Item2, StringComparer.Ordinal).ToList();

        /// <summary>
        /// Finds batches claimed by an agent that stopped heartbeating (or by an earlier run of an
        /// agent process that restarted), revokes their claims and runs their unfinished attempts
        /// again. The revoke is a compare-and-set, so a batch is never both revoked and taken over
        /// by another agent, and a late result from a lost attempt is ignored like any other stale result.
        /// </summary>
        private async ValueTask CheckAgentsAsync()
        {
            if (_stopReason is not null || (_running.Count == 0 && !_placesByLabel)) return;
            IReadOnlyList<AgentInfo> agents;
            AttemptClaim?[] claims;
            var batches = _running.GroupBy(i => i.CurrentBatch!.Value).ToList();
            try
            {
                agents = await _backend.Agents.ListAsync(CancellationToken.None).ConfigureAwait(false);
                if (_placesByLabel) PlaceOn(agents);
                claims = await Task.WhenAll(batches.Select(b => _claims.GetAsync(_settings.RunId, b.Key, CancellationToken.None).AsTask())).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _observer.Warning($"cannot check on agents: {ex.Message}");
                return;
            }
            var now = _time.GetUtcNow();
            // Heartbeats missed while the backend was unreachable say nothing about the agents:
            // give them their full allowance again after an outage.
            if (_backend is PatientBackend { LastRecoveredAt: { } recovered })
            {
                var allowance = agents.Count == 0 ? TimeSpan.FromSeconds(15) : agents.Max(a => a.HeartbeatInterval) * AgentInfo.MissedHeartbeatsWhenLost;
                if (now - recovered < allowance) return;
            }
            for (var i = 0; i < batches.Count; i++)
            {
                if (claims[i] is not { Revoked: false } claim) continue;
                var agent = agents.FirstOrDefault(a => a.Id == claim.Agent && a.Incarnation == claim.Incarnation);
                if (agent is not null && !agent.IsLost(now)) continue;
                if (!await _claims.TryRevokeAsync(_settings.RunId, batches[i].Key, claim, CancellationToken.None).ConfigureAwait(false)) continue;
                var why = agent is null
                    ? $"agent {claim.Agent} is gone (no heartbeat from the process that took the attempt)"
                    : $"agent {claim.Agent} stopped heartbeating ({(now - agent.LastHeartbeat).TotalSeconds:0.#}s since the last one)";
                foreach (var instance in batches[i])
                {
                    if (_running.Contains(instance) && instance.CurrentBatch == batches[i].Key) await OnAttemptLostAsync(instance, claim.Agent, why).ConfigureAwait(false);
                }
            }
        }

        /// <summary>
        /// When the run stops: attempts whose batch no agent has claimed yet are not running
        /// anywhere. Their claims are revoked (a compare-and-set, so no agent takes one meanwhile,
        /// and a copy still in the bus is dropped) and they end as cancelled at once, instead of
        /// after the cancel grace period.
        /// </summary>
        private async ValueTask EndUntakenAttemptsAsync()
        {
            foreach (var batch in _running.GroupBy(i => i.CurrentBatch!.Value).ToList())
            {
                try
                {
                    if (!await _claims.TryRevokeUnclaimedAsync(_settings.RunId, batch.Key, CancellationToken.None).ConfigureAwait(false)) continue;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    return; // the cancel grace period covers them as before
                }
                _revoked.Add(batch.Key);
                var now = _time.GetUtcNow();
                foreach (var instance in batch)
                {
                    await OnResultAsync(new TaskResult
                    {
                        RunId = _settings.RunId,
                        InstanceKey = instance.Key,
                        Attempt = instance.Attempt,
                        AttemptId = instance.CurrentAttempt!.Value,
                        AgentId = default,
                        Status = AttemptStatus.Cancelled,
                        Error = "cancelled before an agent took it",
                        StartedAt = now,
                        FinishedAt = now,
                    }).ConfigureAwait(false);
                }
            }
        }

        private async ValueTask OnAttemptLostAsync(InstanceNode instance, AgentId agent, string why)
        {
            _running.Remove(instance);
            var attemptId = instance.CurrentAttempt!.Value;
            _revoked.Add(instance.CurrentBatch!.Value);
            // If the agent is only cut off, this stops the attempt once it hears again.
            await _backend.Bus.PublishAsync(Topics.Control, new CancelAttempt(_settings.RunId, attemptId, "handed to another agent: " + why), CancellationToken.None).ConfigureAwait(false);
            await ReleaseLeaseAsync(instance).ConfigureAwait(false);
            var now = _time.GetUtcNow();
            var attempt = instance.Attempts[^1];
            attempt.Status = StatusNames[(int)AttemptStatus.Lost];
            attempt.Agent = agent.Value;
            attempt.Error = why;
            attempt.FinishedAt = now;
            var lost = new TaskResult
            {
                RunId = _settings.RunId,
                InstanceKey = instance.Key,
                Attempt = attempt.Number,
                AttemptId = attemptId,
                AgentId = agent,
                Status = AttemptStatus.Lost,
                Error = why,
                StartedAt = attempt.StartedAt ?? now,
                FinishedAt = now,
            };
            RunElsewhere(instance, lost);
        }

        /// <summary>
        /// Queues again an attempt that ended for reasons of its agent, not of the task (lost, or
        /// handed back at shutdown), without using up the task's retries; repeated often, it fails.
        /// </summary>
        private void RunElsewhere(InstanceNode instance, TaskResult result)
        {
            _running.Remove(instance);
            instance.LostAttempts++;
            var again = instance.LostAttempts < _settings.MaxLostAttempts;
            _observer.AttemptFinished(instance.Key, result, again, again ? TimeSpan.Zero : null);
            if (!again)
            {
                Complete(instance, InstanceStatus.Failed, $"its agent went away {instance.LostAttempts} times; last: {result.Error}");
                return;
            }
            SetStatus(instance, InstanceStatus.Pending);
            Enqueue(instance);
        }

        /// <summary>
        /// Removes the run's claims. Batches with lost attempts or attempts that never answered keep a
        /// revoked claim, so a copy of their message still waiting in the bus is dropped instead of run after the run ended.
        /// </summary>
        private async ValueTask ForgetClaimsAsync()
        {
            try
            {
                foreach (var batch in _revoked)
                {
                    if (await _claims.TryRevokeUnclaimedAsync(_settings.RunId, batch, CancellationToken.None).ConfigureAwait(false)) continue;
                    if (await _claims.GetAsync(_settings.RunId, batch, CancellationToken.None).ConfigureAwait(false) is { Revoked: false } claim)
                        await _claims.TryRevokeAsync(_settings.RunId, batch, claim, CancellationToken.None).ConfigureAwait(false);
                }
                await _claims.ForgetRunAsync(_settings.RunId, _revoked, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _observer.Warning($"could not clear the run's attempt claims: {ex.Message}");
            }
        }
    }
}
