using System.Collections.Concurrent;
using Dapr.AppCallback.Autogen.Grpc.v1;
using Dapr.Client.Autogen.Grpc.v1;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace Orch.Dapr.StandIn;

/// <summary>
/// The gRPC face of the stand-in. Dapr.Protos ships the message types and the client stub but
/// no server base class, so the service is bound by hand: <see cref="BindService"/> declares the
/// RPCs of <c>dapr.proto.runtime.v1.Dapr</c> that the adapter calls, and Grpc.AspNetCore finds
/// each handler as the public virtual method of the same name. Status codes follow daprd:
/// an etag mismatch on SaveState or DeleteState is ABORTED, a malformed etag INVALID_ARGUMENT, other store
/// errors and any failed transaction INTERNAL, an unknown component INVALID_ARGUMENT.
/// </summary>
[BindServiceMethod(typeof(StandInDaprService), nameof(BindService))]
public class StandInDaprService(StandInSidecar sidecar)
{
    private const string ServiceName = "dapr.proto.runtime.v1.Dapr";

    public static void BindService(ServiceBinderBase binder, StandInDaprService? service)
    {
        ArgumentNullException.ThrowIfNull(binder);
        binder.AddMethod(Unary<GetStateRequest, GetStateResponse>(nameof(GetState)), (UnaryServerMethod<GetStateRequest, GetStateResponse>?)null);
        binder.AddMethod(Unary<GetBulkStateRequest, GetBulkStateResponse>(nameof(GetBulkState)), (UnaryServerMethod<GetBulkStateRequest, GetBulkStateResponse>?)null);
        binder.AddMethod(Unary<SaveStateRequest, Empty>(nameof(SaveState)), (UnaryServerMethod<SaveStateRequest, Empty>?)null);
        binder.AddMethod(Unary<DeleteStateRequest, Empty>(nameof(DeleteState)), (UnaryServerMethod<DeleteStateRequest, Empty>?)null);
        binder.AddMethod(Unary<ExecuteStateTransactionRequest, Empty>(nameof(ExecuteStateTransaction)), (UnaryServerMethod<ExecuteStateTransactionRequest, Empty>?)null);
        binder.AddMethod(Unary<PublishEventRequest, Empty>(nameof(PublishEvent)), (UnaryServerMethod<PublishEventRequest, Empty>?)null);
        binder.AddMethod(
            new Method<SubscribeTopicEventsRequestAlpha1, SubscribeTopicEventsResponseAlpha1>(
                MethodType.DuplexStreaming, ServiceName, nameof(SubscribeTopicEventsAlpha1),
                Marshaller(SubscribeTopicEventsRequestAlpha1.Parser), Marshaller(SubscribeTopicEventsResponseAlpha1.Parser)),
            (DuplexStreamingServerMethod<SubscribeTopicEventsRequestAlpha1, SubscribeTopicEventsResponseAlpha1>?)null);
    }

    public virtual Task<GetStateResponse> GetState(GetStateRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        CheckStore(request.StoreName);
        var (data, etag) = sidecar.Get(request.Key);
        var response = new GetStateResponse { Data = data };
        if (etag is not null) response.Etag = etag;
        return Task.FromResult(response);
    }

    public virtual Task<GetBulkStateResponse> GetBulkState(GetBulkStateRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        CheckStore(request.StoreName);
        var response = new GetBulkStateResponse();
        foreach (var key in request.Keys)
        {
            var (data, etag) = sidecar.Get(key);
            var item = new BulkStateItem { Key = key, Data = data };
            if (etag is not null) item.Etag = etag;
            response.Items.Add(item);
        }
        return Task.FromResult(response);
    }

    /// <summary>daprd saves the items of one request one by one (a bulk save is not a transaction).</summary>
    public virtual Task<Empty> SaveState(SaveStateRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        CheckStore(request.StoreName);
        foreach (var item in request.States)
        {
            sidecar.BeforeSave?.Invoke(item.Key);
            if (sidecar.Apply([ToChange(item, delete: false)]) is { } failure)
            {
                var code = failure.Kind switch
                {
                    StateFailure.EtagMismatch => StatusCode.Aborted,
                    StateFailure.InvalidEtag => StatusCode.InvalidArgument,
                    _ => StatusCode.Internal,
                };
                throw new RpcException(new Status(code, $"failed saving state in state store {request.StoreName}: {failure.Message}"));
            }
        }
        return Task.FromResult(new Empty());
    }

    public virtual Task<Empty> DeleteState(DeleteStateRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        CheckStore(request.StoreName);
        var change = new StandInSidecar.Change(request.Key, true, ByteString.Empty, request.Etag?.Value, request.Options?.Concurrency == StateOptions.Types.StateConcurrency.ConcurrencyFirstWrite);
        if (sidecar.Apply([change]) is { } failure)
        {
            var code = failure.Kind == StateFailure.InvalidEtag ? StatusCode.InvalidArgument : StatusCode.Aborted;
            throw new RpcException(new Status(code, $"failed deleting state with key {request.Key}: {failure.Message}"));
        }
        return Task.FromResult(new Empty());
    }

    public virtual Task<Empty> ExecuteStateTransaction(ExecuteStateTransactionRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        CheckStore(request.StoreName);
        var changes = new List<StandInSidecar.Change>();
        foreach (var operation in request.Operations)
        {
            var delete = operation.OperationType switch
            {
                "upsert" => false,
                "delete" => true,
                _ => throw new RpcException(new Status(StatusCode.Unimplemented, $"operation type {operation.OperationType} not supported")),
            };
            changes.Add(ToChange(operation.Request, delete));
        }
        if (sidecar.Apply(changes) is { } failure)
            throw new RpcException(new Status(StatusCode.Internal, $"error while executing state transaction: {failure.Message}"));
        return Task.FromResult(new Empty());
    }

    public virtual Task<Empty> PublishEvent(PublishEventRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        CheckPubSub(request.PubsubName);
        if (string.IsNullOrEmpty(request.Topic)) throw new RpcException(new Status(StatusCode.InvalidArgument, "topic is empty in pubsub " + request.PubsubName));
        sidecar.Publish(request.Topic, request.Data, string.IsNullOrEmpty(request.DataContentType) ? "application/json" : request.DataContentType);
        return Task.FromResult(new Empty());
    }

    /// <summary>
    /// A streaming subscription: the first request names the pub/sub and topic, the answer is an
    /// initial response, then events flow out and SUCCESS/RETRY/DROP answers flow in. Events not
    /// answered when the stream ends are redelivered.
    /// </summary>
    public virtual async Task SubscribeTopicEventsAlpha1(
        IAsyncStreamReader<SubscribeTopicEventsRequestAlpha1> requestStream,
        IServerStreamWriter<SubscribeTopicEventsResponseAlpha1> responseStream,
        ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(requestStream);
        ArgumentNullException.ThrowIfNull(responseStream);
        ArgumentNullException.ThrowIfNull(context);
        if (!await requestStream.MoveNext(context.CancellationToken).ConfigureAwait(false))
            return;
        var initial = requestStream.Current.InitialRequest
            ?? throw new RpcException(new Status(StatusCode.InvalidArgument, "initial request is required"));
        CheckPubSub(initial.PubsubName);
        if (string.IsNullOrEmpty(initial.Topic)) throw new RpcException(new Status(StatusCode.InvalidArgument, "topic is required"));
        if (!sidecar.TryClaimStream(initial.Topic))
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"streamer already subscribed to pubsub \"{initial.PubsubName}\" topic \"{initial.Topic}\""));

        var inFlight = new ConcurrentDictionary<string, StandInSidecar.Event>(StringComparer.Ordinal);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, sidecar.ShuttingDown);
        try
        {
            await responseStream.WriteAsync(new SubscribeTopicEventsResponseAlpha1 { InitialResponse = new SubscribeTopicEventsResponseInitialAlpha1() }, done.Token).ConfigureAwait(false);
            var sender = SendAsync(initial, responseStream, inFlight, done.Token);
            try
            {
                while (await requestStream.MoveNext(done.Token).ConfigureAwait(false))
                {
                    var processed = requestStream.Current.EventProcessed;
                    if (processed is null || !inFlight.TryRemove(processed.Id, out var e)) continue;
                    sidecar.Settle(e, redeliver: processed.Status?.Status == TopicEventResponse.Types.TopicEventResponseStatus.Retry);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or RpcException)
            {
                // The app went away: what it did not answer is redelivered below.
            }
            await done.CancelAsync().ConfigureAwait(false);
            try
            {
                await sender.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException or RpcException)
            {
            }
        }
        finally
        {
            foreach (var id in inFlight.Keys)
            {
                if (inFlight.TryRemove(id, out var e)) sidecar.Settle(e, redeliver: true);
            }
            sidecar.ReleaseStream(initial.Topic);
        }
    }

    private async Task SendAsync(
        SubscribeTopicEventsRequestInitialAlpha1 initial,
        IServerStreamWriter<SubscribeTopicEventsResponseAlpha1> responses,
        ConcurrentDictionary<string, StandInSidecar.Event> inFlight,
        CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var e = await sidecar.TakeAsync(initial.Topic, cancellationToken).ConfigureAwait(false);
            inFlight[e.Id] = e;
            await responses.WriteAsync(new SubscribeTopicEventsResponseAlpha1
            {
                EventMessage = new TopicEventRequest
                {
                    Id = e.Id,
                    Source = "orch-standin",
                    Type = "com.dapr.event.sent",
                    SpecVersion = "1.0",
                    DataContentType = e.ContentType,
                    Data = e.Data,
                    Topic = e.Topic,
                    PubsubName = initial.PubsubName,
                },
            }, cancellationToken).ConfigureAwait(false);
        }
    }

    private static StandInSidecar.Change ToChange(StateItem item, bool delete) =>
        new(item.Key, delete, item.Value, item.Etag?.Value, item.Options?.Concurrency == StateOptions.Types.StateConcurrency.ConcurrencyFirstWrite);

    private void CheckStore(string name)
    {
        if (name != sidecar.StateStoreName)
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"state store {name} is not found"));
    }

    private void CheckPubSub(string name)
    {
        if (name != sidecar.PubSubName)
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"pubsub {name} is not found"));
    }

    private static Method<TRequest, TResponse> Unary<TRequest, TResponse>(string name)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>, new() =>
        new(MethodType.Unary, ServiceName, name, Marshaller(new MessageParser<TRequest>(() => new TRequest())), Marshaller(new MessageParser<TResponse>(() => new TResponse())));

    private static Marshaller<T> Marshaller<T>(MessageParser<T> parser) where T : IMessage<T> =>
        Marshallers.Create(m => m.ToByteArray(), parser.ParseFrom);
}
