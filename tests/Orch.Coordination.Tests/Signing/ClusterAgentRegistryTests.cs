using Orch.Coordination.Embedded;
using Orch.Coordination.Signing;
using Orch.Protocol;

namespace Orch.Coordination.Tests.Signing;

/// <summary>A signed backend's registry: agents carry their key's id, and each cluster sees only its own.</summary>
public sealed class ClusterAgentRegistryTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static AgentInfo Agent(string id) => new(new AgentId(id), "host", [], 2, "1.0.0", 0, DateTimeOffset.UtcNow);

    [Fact]
    public async Task Heartbeat_CarriesTheKeyId_AndEachClusterListsOnlyItsOwnAgents()
    {
        await using var shared = new EmbeddedBackend(stateDirectory: null);
        var blue = ClusterKey.Generate();
        var green = ClusterKey.Generate();
        var blueBackend = shared.WithSigning(blue);
        var greenBackend = shared.WithSigning(green);

        await blueBackend.Agents.HeartbeatAsync(Agent("blue-1"), Ct);
        await greenBackend.Agents.HeartbeatAsync(Agent("green-1"), Ct);
        await shared.Agents.HeartbeatAsync(Agent("insecure-1"), Ct);

        var seenByBlue = Assert.Single(await blueBackend.Agents.ListAsync(Ct));
        Assert.Equal(("blue-1", blue.Id), (seenByBlue.Id.Value, seenByBlue.ClusterKeyId));
        Assert.Equal(["green-1"], (await greenBackend.Agents.ListAsync(Ct)).Select(a => a.Id.Value));
        var everyone = (await blueBackend.Agents.ListEveryClusterAsync(Ct)).ToDictionary(a => a.Id.Value, a => a.ClusterKeyId);
        Assert.Equal(new Dictionary<string, string> { ["blue-1"] = blue.Id, ["green-1"] = green.Id, ["insecure-1"] = "" }, everyone);
    }

    [Fact]
    public async Task Heartbeat_OverridesWhateverKeyIdTheAgentClaimed()
    {
        await using var shared = new EmbeddedBackend(stateDirectory: null);
        var key = ClusterKey.Generate();
        var signed = shared.WithSigning(key);

        await signed.Agents.HeartbeatAsync(Agent("a") with { ClusterKeyId = "ffffffffffffffff" }, Ct);

        Assert.Equal(key.Id, Assert.Single(await shared.Agents.ListAsync(Ct)).ClusterKeyId);
    }
}
