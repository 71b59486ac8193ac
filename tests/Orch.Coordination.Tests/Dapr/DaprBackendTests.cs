using System.Net;
using System.Net.Sockets;
using Orch.Coordination.Dapr;
using Orch.Coordination.Tests.Conformance;
using Orch.Protocol;

namespace Orch.Coordination.Tests.Dapr;

/// <summary>Connecting the whole backend to a sidecar, and what goes wrong when there is none.</summary>
public abstract class DaprBackendTests
{
    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected abstract Task<DaprSidecar> StartSidecarAsync();

    [Fact]
    public async Task Connect_ExposesEveryPortThroughTheSidecar()
    {
        await using var sidecar = await StartSidecarAsync();
        await using var backend = await DaprBackend.ConnectAsync(sidecar.GrpcEndpoint, sidecar.HttpEndpoint, DaprSidecar.PubSubName, DaprSidecar.StateStoreName, sidecar.Prefix, cancellationToken: Ct);

        Assert.Equal("dapr", backend.Name);
        Assert.Equal(1, await backend.State.TrySetAsync("k", "v"u8.ToArray(), 0, Ct));
        Assert.Equal("v"u8.ToArray(), (await backend.State.GetAsync("k", Ct))!.Value);
        Assert.Equal(["k"], await backend.State.ListKeysAsync("", Ct)); // locks, agents and groups stay out of the listing

        await using var subscription = await backend.Bus.SubscribeAsync<CancelAttempt>(Topics.Control, "agent-1", Ct);
        var cancel = new CancelAttempt(new RunId("r"), new AttemptId("a"), "user asked");
        await backend.Bus.PublishAsync(Topics.Control, cancel, Ct);
        var delivery = await subscription.ReadAsync(Ct).Within();
        Assert.Equal(cancel, delivery.Message);
        await delivery.AckAsync();

        var lease = await backend.Locks.AcquireAsync([new LockRequest("fork:1", 1)], "me", TimeSpan.FromMinutes(1), Ct).AsTask().Within();
        Assert.Equal(["me"], (await backend.Locks.ListAsync(Ct)).Single(s => s.Resource == "fork:1").Holders);
        await backend.Locks.ReleaseAsync(lease.LeaseId, Ct);

        var agent = new AgentInfo(new AgentId("agent-1"), "host", ["linux"], 2, "1.0.0", 0, DateTimeOffset.UtcNow);
        await backend.Agents.HeartbeatAsync(agent, Ct);
        Assert.Equal([agent.Id], (await backend.Agents.ListAsync(Ct)).Select(a => a.Id));
    }

    [Fact]
    public async Task Connect_UnknownStateStore_FailsNamingTheStoreAndTheEndpoint()
    {
        await using var sidecar = await StartSidecarAsync();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            DaprBackend.ConnectAsync(sidecar.GrpcEndpoint, sidecar.HttpEndpoint, DaprSidecar.PubSubName, "no-such-store", cancellationToken: Ct));

        Assert.Contains("no-such-store", error.Message, StringComparison.Ordinal);
        Assert.Contains(sidecar.GrpcEndpoint, error.Message, StringComparison.Ordinal);
    }
}

public sealed class StandInDaprBackendTests : DaprBackendTests
{
    protected override Task<DaprSidecar> StartSidecarAsync() => StandInDaprSidecar.StartAsync();

    [Fact]
    public async Task Connect_NoSidecarListening_FailsNamingTheEndpoint()
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        var endpoint = $"http://127.0.0.1:{port}";

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => DaprBackend.ConnectAsync(endpoint, endpoint, cancellationToken: Ct));

        Assert.Contains(endpoint, error.Message, StringComparison.Ordinal);
    }
}

/// <summary>Against a real daprd; skipped when daprd is not on PATH.</summary>
public sealed class DaprdBackendTests : DaprBackendTests
{
    protected override Task<DaprSidecar> StartSidecarAsync() => RealDaprSidecar.StartAsync();
}
