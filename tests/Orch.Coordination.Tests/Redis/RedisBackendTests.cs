using System.Net;
using System.Net.Sockets;
using Orch.Coordination.Redis;
using Orch.Coordination.Tests.Conformance;
using Orch.Protocol;

namespace Orch.Coordination.Tests.Redis;

public sealed class RedisBackendTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Connect_NoServerListening_FailsNamingTheAddress()
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => RedisBackend.ConnectAsync($"127.0.0.1:{port},connectTimeout=300,password=secret"));

        Assert.Contains($"127.0.0.1:{port}", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_ExposesEveryPortOnTheServer()
    {
        await using var server = await RedisServer.StartAsync();
        await using var backend = await RedisBackend.ConnectAsync(server.ConnectionString, "backend-test");

        Assert.Equal("redis", backend.Name);
        Assert.IsType<RedisResourceLocks>(backend.Locks);

        Assert.Equal(1, await backend.State.TrySetAsync("k", "v"u8.ToArray(), 0, Ct));
        Assert.Equal("v"u8.ToArray(), (await backend.State.GetAsync("k", Ct))!.Value);

        await using var subscription = await backend.Bus.SubscribeAsync<CancelAttempt>(Topics.Control, "agent-1", Ct);
        var cancel = new CancelAttempt(new RunId("r"), new AttemptId("a"), "user asked");
        await backend.Bus.PublishAsync(Topics.Control, cancel, Ct);
        Assert.Equal(cancel, (await subscription.ReadAsync(Ct).Within()).Message);

        var agent = new AgentInfo(new AgentId("agent-1"), "host", ["linux"], 2, "1.0.0", 0, DateTimeOffset.UtcNow);
        await backend.Agents.HeartbeatAsync(agent, Ct);
        Assert.Equal([agent.Id], (await backend.Agents.ListAsync(Ct)).Select(a => a.Id));
    }
}
