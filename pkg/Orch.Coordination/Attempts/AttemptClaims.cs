using System.Text;
using Orch.Protocol;

namespace Orch.Coordination.Attempts;

/// <summary>
/// Who holds an attempt: the agent that claimed it (with the incarnation of that agent process, so
/// a restarted agent with the same id is not mistaken for the one that claimed), and whether the
/// coordinator has since revoked it.
/// </summary>
public sealed record AttemptClaim(AgentId Agent, string Incarnation, bool Revoked, long Version);

/// <summary>
/// Per-attempt claims in the state store, so that an attempt runs at most once even though the
/// message bus delivers at least once. An agent claims an attempt (compare-and-set on a key that
/// must not exist) before it runs it; a second delivery of the same attempt finds the claim and
/// is dropped. When the claiming agent stops heartbeating, the coordinator revokes the claim and
/// dispatches a new attempt: a redelivered copy of the old one then finds the revoked claim.
/// Claims outlive their attempt for the whole run (a replayed message is dropped too) and are
/// removed when the run ends, except revoked ones.
/// </summary>
public sealed class AttemptClaims(IStateStore state)
{
    private const string RevokedPrefix = "revoked:";

    public static string KeyFor(RunId run, AttemptId attempt) => $"claims/{run.Value}/{attempt.Value}";

    /// <summary>Claims <paramref name="attempt"/> for an agent process; false when it was claimed (or revoked) before.</summary>
    public async ValueTask<bool> TryClaimAsync(RunId run, AttemptId attempt, AgentId agent, string incarnation, CancellationToken cancellationToken) =>
        await state.TrySetAsync(KeyFor(run, attempt), Encode(agent, incarnation, false), 0, cancellationToken).ConfigureAwait(false) is not null;

    /// <summary>The claim on <paramref name="attempt"/>, or null when no agent has taken it yet.</summary>
    public async ValueTask<AttemptClaim?> GetAsync(RunId run, AttemptId attempt, CancellationToken cancellationToken)
    {
        var value = await state.GetAsync(KeyFor(run, attempt), cancellationToken).ConfigureAwait(false);
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
    public async ValueTask<bool> TryRevokeAsync(RunId run, AttemptId attempt, AttemptClaim claim, CancellationToken cancellationToken) =>
        await state.TrySetAsync(KeyFor(run, attempt), Encode(claim.Agent, claim.Incarnation, true), claim.Version, cancellationToken).ConfigureAwait(false) is not null;

    /// <summary>
    /// Marks an attempt that no agent has claimed yet as revoked, so that a copy still in the bus
    /// is dropped when it arrives; false when an agent claimed it meanwhile.
    /// </summary>
    public async ValueTask<bool> TryRevokeUnclaimedAsync(RunId run, AttemptId attempt, CancellationToken cancellationToken) =>
        await state.TrySetAsync(KeyFor(run, attempt), Encoding.UTF8.GetBytes(RevokedPrefix), 0, cancellationToken).ConfigureAwait(false) is not null;

    /// <summary>
    /// Removes the claims of a finished run, except those of <paramref name="keep"/>: attempts that
    /// never answered, whose revoked claims must stay so that a late copy in the bus is dropped.
    /// </summary>
    public async ValueTask ForgetRunAsync(RunId run, IReadOnlySet<AttemptId> keep, CancellationToken cancellationToken)
    {
        var prefix = $"claims/{run.Value}/";
        var keys = (await state.ListKeysAsync(prefix, cancellationToken).ConfigureAwait(false))
            .Where(key => !keep.Contains(new AttemptId(key[prefix.Length..])))
            .ToList();
        // In batches: one round trip per key would make a large run's end slow.
        await state.DeleteManyAsync(keys, cancellationToken).ConfigureAwait(false);
    }

    private static byte[] Encode(AgentId agent, string incarnation, bool revoked) =>
        Encoding.UTF8.GetBytes($"{(revoked ? RevokedPrefix : "")}{incarnation}/{agent.Value}");
}
