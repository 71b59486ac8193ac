using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Orch.Dapr.StandIn;

/// <summary>
/// A STAND-IN for the Dapr sidecar (daprd), not Dapr itself: an in-process gRPC server speaking
/// <c>dapr.proto.runtime.v1.Dapr</c> for exactly the calls the orch Dapr adapter makes, with
/// daprd's observable behaviour for one state store and one pub/sub component backed by memory
/// (see <see cref="StandInDaprService"/> for which component behaviour it copies). It lets the
/// adapter's tests run where no daprd binary is installed; the same tests also run against a
/// real daprd when one is on PATH.
/// </summary>
public sealed class DaprStandIn : IAsyncDisposable
{
    private readonly WebApplication _app;

    private DaprStandIn(WebApplication app, StandInSidecar sidecar, int grpcPort, int httpPort)
    {
        _app = app;
        Sidecar = sidecar;
        GrpcEndpoint = $"http://127.0.0.1:{grpcPort}";
        HttpEndpoint = $"http://127.0.0.1:{httpPort}";
    }

    /// <summary>The gRPC (h2c) address, as daprd's <c>--dapr-grpc-port</c> would give.</summary>
    public string GrpcEndpoint { get; }

    /// <summary>The HTTP address answering <c>/v1.0/healthz</c>, as daprd's <c>--dapr-http-port</c> would give.</summary>
    public string HttpEndpoint { get; }

    /// <summary>The in-memory state and topics behind the server, for tests that look underneath.</summary>
    public StandInSidecar Sidecar { get; }

    /// <summary>Starts a stand-in on two free loopback ports, serving <paramref name="stateStore"/> and <paramref name="pubSub"/>.</summary>
    public static async Task<DaprStandIn> StartAsync(string stateStore = "statestore", string pubSub = "pubsub")
    {
        var sidecar = new StandInSidecar(stateStore, pubSub);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(sidecar);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2);
            kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http1);
        });
        var app = builder.Build();
        app.MapGrpcService<StandInDaprService>();
        app.MapGet("/v1.0/healthz", () => Results.NoContent());
        app.MapGet("/v1.0/healthz/outbound", () => Results.NoContent());
        await app.StartAsync().ConfigureAwait(false);

        var addresses = app.Urls.Select(u => new Uri(u).Port).ToList();
        // Listen order is kept: the first endpoint is h2c, the second HTTP/1.
        return new DaprStandIn(app, sidecar, addresses[0], addresses[1]);
    }

    public async ValueTask DisposeAsync()
    {
        Sidecar.Shutdown();
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
