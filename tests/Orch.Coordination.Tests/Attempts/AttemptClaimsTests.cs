using Orch.Coordination.Attempts;
using Orch.Coordination.Embedded;
using Orch.Protocol;

namespace Orch.Coordination.Tests.Attempts;

/// <summary>Attempt claims on the state store port: one runner per attempt, revocation by compare-and-set.</summary>
public sealed class AttemptClaimsTests
{
    private static readonly RunId Run = new("run-1");
    private static readonly AgentId AgentA = new("agent-a");
    private static readonly AgentId AgentB = new("agent/b");
    private readonly EmbeddedStateStore _state = new();
    private readonly AttemptClaims _claims;

    public AttemptClaimsTests() => _claims = new AttemptClaims(_state);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TryClaim_SecondClaimOfTheSameAttempt_Fails()
    {
        var attempt = BatchId.New();

        Assert.True(await _claims.TryClaimAsync(Run, attempt, AgentA, "inc-1", Ct));
        Assert.False(await _claims.TryClaimAsync(Run, attempt, AgentB, "inc-2", Ct));

        var claim = await _claims.GetAsync(Run, attempt, Ct);
        Assert.Equal(new AttemptClaim(AgentA, "inc-1", false, claim!.Version), claim);
    }

    [Fact]
    public async Task Get_AgentIdWithSlash_RoundTrips()
    {
        var attempt = BatchId.New();
        await _claims.TryClaimAsync(Run, attempt, AgentB, "inc-2", Ct);

        var claim = await _claims.GetAsync(Run, attempt, Ct);

        Assert.Equal(AgentB, claim!.Agent);
        Assert.Equal("inc-2", claim.Incarnation);
    }

    [Fact]
    public async Task TryRevoke_ThenAnotherClaim_Fails()
    {
        var attempt = BatchId.New();
        await _claims.TryClaimAsync(Run, attempt, AgentA, "inc-1", Ct);
        var claim = (await _claims.GetAsync(Run, attempt, Ct))!;

        Assert.True(await _claims.TryRevokeAsync(Run, attempt, claim, Ct));

        Assert.False(await _claims.TryClaimAsync(Run, attempt, AgentB, "inc-2", Ct));
        var revoked = (await _claims.GetAsync(Run, attempt, Ct))!;
        Assert.True(revoked.Revoked);
        Assert.Equal(AgentA, revoked.Agent);
    }

    [Fact]
    public async Task TryRevoke_WithAStaleRead_FailsAndChangesNothing()
    {
        var attempt = BatchId.New();
        await _claims.TryClaimAsync(Run, attempt, AgentA, "inc-1", Ct);
        var stale = (await _claims.GetAsync(Run, attempt, Ct))!;
        Assert.True(await _claims.TryRevokeAsync(Run, attempt, stale, Ct));
        var current = (await _claims.GetAsync(Run, attempt, Ct))!;

        Assert.False(await _claims.TryRevokeAsync(Run, attempt, stale, Ct));
        Assert.Equal(current, await _claims.GetAsync(Run, attempt, Ct));
    }

    [Fact]
    public async Task TryRevokeUnclaimed_StopsALaterClaim_ButNotAnEarlierOne()
    {
        var unclaimed = BatchId.New();
        var claimed = BatchId.New();
        await _claims.TryClaimAsync(Run, claimed, AgentA, "inc-1", Ct);

        Assert.True(await _claims.TryRevokeUnclaimedAsync(Run, unclaimed, Ct));
        Assert.False(await _claims.TryRevokeUnclaimedAsync(Run, claimed, Ct));

        Assert.False(await _claims.TryClaimAsync(Run, unclaimed, AgentA, "inc-1", Ct));
        Assert.True((await _claims.GetAsync(Run, unclaimed, Ct))!.Revoked);
        Assert.False((await _claims.GetAsync(Run, claimed, Ct))!.Revoked);
    }

    [Fact]
    public async Task ForgetRun_RemovesAllButTheKeptClaims_AndNoOtherRunsClaims()
    {
        var attempts = Enumerable.Range(0, 600).Select(_ => BatchId.New()).ToList();
        foreach (var attempt in attempts) await _claims.TryClaimAsync(Run, attempt, AgentA, "inc-1", Ct);
        var otherRun = new RunId("run-10");
        var other = BatchId.New();
        await _claims.TryClaimAsync(otherRun, other, AgentA, "inc-1", Ct);

        await _claims.ForgetRunAsync(Run, new HashSet<BatchId> { attempts[7] }, Ct);

        Assert.Equal([AttemptClaims.KeyFor(Run, attempts[7])], await _state.ListKeysAsync($"claims/{Run.Value}/", Ct));
        Assert.NotNull(await _claims.GetAsync(otherRun, other, Ct));
    }
}
