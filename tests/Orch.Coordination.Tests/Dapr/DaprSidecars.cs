using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Grpc.Net.Client;
using Orch.Coordination.Tests.Redis;
using Orch.Dapr.StandIn;
using DaprStub = Dapr.Client.Autogen.Grpc.v1.Dapr.DaprClient;

namespace Orch.Coordination.Tests.Dapr;

/// <summary>A sidecar the Dapr adapter's tests talk to, with a client channel to it and a key prefix private to one test.</summary>
public abstract class DaprSidecar : IAsyncDisposable
{
    public const string StateStoreName = "statestore";
    public const string PubSubName = "pubsub";

    private GrpcChannel? _channel;

    public abstract string GrpcEndpoint { get; }
    public abstract string HttpEndpoint { get; }

    /// <summary>The stand-in's memory, or null for a real daprd.</summary>
    public virtual StandInSidecar? StandIn => null;

    public string Prefix { get; } = "test-" + Guid.NewGuid().ToString("N")[..12];

    public DaprStub Client => new((_channel ??= GrpcChannel.ForAddress(GrpcEndpoint)));

    public virtual ValueTask DisposeAsync()
    {
        _channel?.Dispose();
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}

/// <summary>The in-process stand-in for daprd (<see cref="DaprStandIn"/>); always available.</summary>
public sealed class StandInDaprSidecar : DaprSidecar
{
    private readonly DaprStandIn _server;

    private StandInDaprSidecar(DaprStandIn server) => _server = server;

    public static async Task<DaprSidecar> StartAsync() => new StandInDaprSidecar(await DaprStandIn.StartAsync(StateStoreName, PubSubName));

    public override string GrpcEndpoint => _server.GrpcEndpoint;
    public override string HttpEndpoint => _server.HttpEndpoint;
    public override StandInSidecar StandIn => _server.Sidecar;

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await _server.DisposeAsync();
    }
}

/// <summary>
/// A real <c>daprd</c> (no app port) with a Redis state store and Redis Streams pub/sub on a fresh
/// <see cref="RedisServer"/>, components written to a temporary directory. Skips the calling
/// test when daprd is not on PATH.
/// </summary>
public sealed class RealDaprSidecar : DaprSidecar
{
    private readonly Process _process;
    private readonly RedisServer _redis;
    private readonly string _directory;
    private readonly int _grpcPort;
    private readonly int _httpPort;

    private RealDaprSidecar(Process process, RedisServer redis, string directory, int grpcPort, int httpPort)
    {
        _process = process;
        _redis = redis;
        _directory = directory;
        _grpcPort = grpcPort;
        _httpPort = httpPort;
    }

    public override string GrpcEndpoint => $"http://127.0.0.1:{_grpcPort}";
    public override string HttpEndpoint => $"http://127.0.0.1:{_httpPort}";

    public static string? Executable =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "daprd"))
            .FirstOrDefault(File.Exists);

    public static async Task<DaprSidecar> StartAsync()
    {
        if (Executable is null) Assert.Skip("daprd not on PATH: these tests run the Dapr adapter against a real sidecar (install the Dapr runtime binaries to run them)");
        var redis = await RedisServer.StartAsync();
        var directory = Directory.CreateTempSubdirectory("orch-daprd-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(directory, "statestore.yaml"), $"""
                apiVersion: dapr.io/v1alpha1
                kind: Component
                metadata:
                  name: {StateStoreName}
                spec:
                  type: state.redis
                  version: v1
                  metadata:
                  - name: redisHost
                    value: {redis.ConnectionString}
                """);
            // One fixed consumerID, and quick redelivery so that the RETRY tests finish in seconds.
            await File.WriteAllTextAsync(Path.Combine(directory, "pubsub.yaml"), $"""
                apiVersion: dapr.io/v1alpha1
                kind: Component
                metadata:
                  name: {PubSubName}
                spec:
                  type: pubsub.redis
                  version: v1
                  metadata:
                  - name: redisHost
                    value: {redis.ConnectionString}
                  - name: consumerID
                    value: orch
                  - name: redeliverInterval
                    value: 500ms
                  - name: processingTimeout
                    value: 1s
                """);
            int grpcPort = FreePort(), httpPort = FreePort(), internalPort = FreePort(), metricsPort = FreePort();
            var start = new ProcessStartInfo(Executable!) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in new[]
            {
                "--app-id", "orch-test",
                "--dapr-grpc-port", Invariant(grpcPort),
                "--dapr-http-port", Invariant(httpPort),
                "--dapr-internal-grpc-port", Invariant(internalPort),
                "--metrics-port", Invariant(metricsPort),
                "--resources-path", directory,
                "--log-level", "warn",
            })
            {
                start.ArgumentList.Add(argument);
            }
            var process = Process.Start(start) ?? throw new InvalidOperationException("could not start daprd");
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var sidecar = new RealDaprSidecar(process, redis, directory, grpcPort, httpPort);
            await sidecar.WaitHealthyAsync();
            return sidecar;
        }
        catch
        {
            await redis.DisposeAsync();
            throw;
        }
    }

    private async Task WaitHealthyAsync()
    {
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                if ((await http.GetAsync($"{HttpEndpoint}/v1.0/healthz")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline && !_process.HasExited)
            {
            }
            if (DateTime.UtcNow >= deadline || _process.HasExited) throw new InvalidOperationException($"daprd did not become healthy at {HttpEndpoint}");
            await Task.Delay(100);
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        await _redis.DisposeAsync();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    private static string Invariant(int port) => port.ToString(CultureInfo.InvariantCulture);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
