using global::Dapr.Client;
using global::Dapr.Client.Autogen.Grpc.v1;
using Grpc.Core;
using Grpc.Net.Client;
using DaprStub = global::Dapr.Client.Autogen.Grpc.v1.Dapr.DaprClient;

namespace Orch.Coordination.Dapr;

/// <summary>
/// The four coordination ports through a Dapr sidecar: state on a state store component
/// (<see cref="DaprStateStore"/>), the bus on a pub/sub component (<see cref="DaprMessageBus"/>),
/// and locks and agents as records in that state store (<see cref="StateStoreResourceLocks"/>,
/// <see cref="StateStoreAgentRegistry"/>). Processes whose sidecars use the same components and
/// the same prefix share everything.
/// </summary>
public sealed class DaprBackend : ICoordinationBackend
{
    /// <summary>The prefix used unless another is given.</summary>
    public const string DefaultPrefix = "orch";

    private readonly GrpcChannel _channel;
    private readonly DaprClient _client;
    private readonly DaprMessageBus _bus;

    private DaprBackend(GrpcChannel channel, DaprClient client, string pubSubName, string stateStoreName, string prefix, TimeProvider time, TimeSpan agentExpiry)
    {
        _channel = channel;
        _client = client;
        var dapr = new DaprStub(channel);
        State = new DaprStateStore(dapr, stateStoreName, prefix + "-state");
        // Locks, agents and bus groups get stores of their own, so they never show in State's key listings.
        var internals = new DaprStateStore(dapr, stateStoreName, prefix + "-internal");
        _bus = new DaprMessageBus(dapr, pubSubName, internals);
        Locks = new StateStoreResourceLocks(internals, "locks", time);
        Agents = new StateStoreAgentRegistry(internals, "agents/", time, agentExpiry);
    }

    /// <summary>
    /// Connects to the sidecar at <paramref name="grpcEndpoint"/> (and its HTTP API at
    /// <paramref name="httpEndpoint"/> for the health check) and checks that it serves
    /// <paramref name="stateStoreName"/>.
    /// </summary>
    /// <param name="grpcEndpoint">daprd's gRPC API, e.g. <c>http://127.0.0.1:50001</c>.</param>
    /// <param name="httpEndpoint">daprd's HTTP API, e.g. <c>http://127.0.0.1:3500</c>.</param>
    /// <param name="pubSubName">The pub/sub component's name.</param>
    /// <param name="stateStoreName">The state store component's name (must support etags and first-write saves).</param>
    /// <param name="prefix">Starts every state key the backend writes.</param>
    /// <param name="time">The clock for lease and heartbeat expiry; the system clock unless given.</param>
    /// <param name="agentExpiry">How long an agent stays listed after its last heartbeat; 30 s unless given.</param>
    /// <exception cref="InvalidOperationException">The sidecar could not be reached or lacks the state store; the message names the endpoint.</exception>
    public static async Task<DaprBackend> ConnectAsync(
        string grpcEndpoint,
        string httpEndpoint,
        string pubSubName = "pubsub",
        string stateStoreName = "statestore",
        string prefix = DefaultPrefix,
        TimeProvider? time = null,
        TimeSpan? agentExpiry = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(grpcEndpoint);
        ArgumentException.ThrowIfNullOrEmpty(httpEndpoint);
        ArgumentException.ThrowIfNullOrEmpty(pubSubName);
        ArgumentException.ThrowIfNullOrEmpty(stateStoreName);
        ArgumentException.ThrowIfNullOrEmpty(prefix);

        var client = new DaprClientBuilder().UseGrpcEndpoint(grpcEndpoint).UseHttpEndpoint(httpEndpoint).Build();
        var channel = GrpcChannel.ForAddress(grpcEndpoint, new GrpcChannelOptions { ThrowOperationCanceledOnCancellation = true });
        try
        {
            await CheckAsync(client, channel, grpcEndpoint, httpEndpoint, stateStoreName, prefix, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            client.Dispose();
            channel.Dispose();
            throw;
        }
        return new DaprBackend(channel, client, pubSubName, stateStoreName, prefix, time ?? TimeProvider.System, agentExpiry ?? TimeSpan.FromSeconds(30));
    }

    private static async Task CheckAsync(DaprClient client, GrpcChannel channel, string grpcEndpoint, string httpEndpoint, string stateStoreName, string prefix, CancellationToken cancellationToken)
    {
        bool healthy;
        try
        {
            healthy = await client.CheckHealthAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new InvalidOperationException($"could not reach the Dapr sidecar at {httpEndpoint}: {e.Message}", e);
        }
        if (!healthy) throw new InvalidOperationException($"the Dapr sidecar at {httpEndpoint} is not reachable or not healthy (GET /v1.0/healthz failed)");

        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(TimeSpan.FromSeconds(10));
            await new DaprStub(channel).GetStateAsync(new GetStateRequest { StoreName = stateStoreName, Key = prefix + "-internal/connect-check" }, cancellationToken: deadline.Token).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.InvalidArgument or StatusCode.FailedPrecondition or StatusCode.NotFound)
        {
            throw new InvalidOperationException($"the Dapr sidecar at {grpcEndpoint} has no usable state store '{stateStoreName}': {e.Status.Detail}", e);
        }
        catch (RpcException e)
        {
            throw new InvalidOperationException($"could not reach the Dapr sidecar's gRPC API at {grpcEndpoint}: {e.Status.StatusCode} {e.Status.Detail}", e);
        }
    }

    public string Name => "dapr";

    /// <summary>The sidecar cannot be reached or is overloaded for now.</summary>
    public bool IsTransient(Exception error) => error switch
    {
        RpcException e => e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.ResourceExhausted,
        HttpRequestException or IOException => true,
        _ => error.InnerException is { } inner && IsTransient(inner),
    };
    public IMessageBus Bus => _bus;
    public IStateStore State { get; }
    public IResourceLocks Locks { get; }
    public IAgentRegistry Agents { get; }

    public async ValueTask DisposeAsync()
    {
        await _bus.DisposeAsync().ConfigureAwait(false);
        _client.Dispose();
        _channel.Dispose();
    }
}
