using System.Text;
using Orch.Protocol;

namespace Orch.Coordination.Attempts;

/// <summary>
/// Who holds a batch of attempts: the agent that claimed it (with the incarnation of that agent process, so
/// a restarted agent with the same id is not mistaken for the one that claimed), and whether the
/// coordinator has since revoked it.
/// </summary>
public sealed record AttemptClaim(AgentId Agent, string Incarnation, bool Revoked, long Version);

/// <summary>
/// Claims on dispatched attempts in the state store, so that an attempt runs at most once even
/// though the message bus delivers at least once. Attempts travel in batches (<see cref="TaskBatch"/>)
/// and are claimed a batch at a time: an agent claims a batch (compare-and-set on a key that must
/// not exist) before it runs any of its attempts; a second delivery of the same batch finds the
/// claim and is dropped. When the claiming agent stops heartbeating, the coordinator revokes the
/// claim and dispatches new attempts for those of the batch that had not reported: a redelivered
/// copy of the old batch then finds the revoked claim. Claims outlive their batch for the whole
/// run (a replayed message is dropped too) and are removed when the run ends, except revoked ones.
/// </summary>
public sealed class AttemptClaims(IStateStore state)
{
    private const string RevokedPrefix = "revoked:";

    public static string KeyFor(RunId run, BatchId batch) => $"claims/{run.Value}/{batch.Value}";

    /// <summary>Claims <paramref name="batch"/> for an agent process; false when it was claimed (or revoked) before.</summary>
    public async ValueTask<bool> TryClaimAsync(RunId run, BatchId batch, AgentId agent, string incarnation, CancellationToken cancellationToken) =>
        await state.TrySetAsync(KeyFor(run, batch), Encode(agent, incarnation, false), 0, cancellationToken).ConfigureAwait(false) is not null;

    /// <summary>The claim on <paramref name="batch"/>, or null when no agent has taken it yet.</summary>
    public async ValueTask<AttemptClaim?> GetAsync(RunId run, BatchId batch, CancellationToken cancellationToken)
    {
        var value = await state.GetAsync(KeyFor(run, batch), cancellationToken).ConfigureAwait(false);
        if (value is null) return null;
        // Stored as "[revoked:]INCARNATION/AGENT": incarnations never contain '/', agent ids may.
        var text = Encoding.UTF8.GetString(value.Value);
        var revoked = text.StartsWith(RevokedPrefix, StringComparison.Ordinal);
        if (revoked) text = text[RevokedPrefix.Length..];
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        return slash < 0
            ? new AttemptClaim(new AgentId(""), "", revoked, value.Version)
            : new AttemptClaim(new AgentId(text[(slash + 1)..]), text[..slash], revoked, value.Version);
    }

    /// <summary>
    /// Revokes <paramref name="claim"/> unless it changed since it was read; false when it did
    /// (then read it again: another agent may have taken over).
    /// </summary>
    public async ValueTask<bool> TryRevokeAsync(RunId run, BatchId batch, AttemptClaim claim, CancellationToken cancellationToken) =>
        await state.TrySetAsync(KeyFor(run, batch), Encode(claim.Agent, claim.Incarnation, true), claim.Version, cancellationToken).ConfigureAwait(false) is not null;

    /// <summary>
    /// Marks a batch that no agent has claimed yet as revoked, so that a copy still in the bus
    /// is dropped when it arrives; false when an agent claimed it meanwhile.
    /// </summary>
    public async ValueTask<bool> TryRevokeUnclaimedAsync(RunId run, BatchId batch, CancellationToken cancellationToken) =>
        await state.TrySetAsync(KeyFor(run, batch), Encoding.UTF8.GetBytes(RevokedPrefix), 0, cancellationToken).ConfigureAwait(false) is not null;

    /// <summary>
    /// Removes the claims of a finished run, except those of <paramref name="keep"/>: batches with attempts that
    /// never answered, whose revoked claims must stay so that a late copy in the bus is dropped.
    /// </summary>
    public async ValueTask ForgetRunAsync(RunId run, IReadOnlySet<BatchId> keep, CancellationToken cancellationToken)
    {
        var prefix = $"claims/{run.Value}/";
        var keys = (await state.ListKeysAsync(prefix, cancellationToken).ConfigureAwait(false))
            .Where(key => !keep.Contains(new BatchId(key[prefix.Length..])))
            .ToList();
        // In batches: one round trip per key would make a large run's end slow.
        await state.DeleteManyAsync(keys, cancellationToken).ConfigureAwait(false);
    }

    private static byte[] Encode(AgentId agent, string incarnation, bool revoked) =>
        Encoding.UTF8.GetBytes($"{(revoked ? RevokedPrefix : "")}{incarnation}/{agent.Value}");
}
