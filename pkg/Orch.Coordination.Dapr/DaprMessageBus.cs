using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using global::Dapr.AppCallback.Autogen.Grpc.v1;
using global::Dapr.Client.Autogen.Grpc.v1;
using Google.Protobuf;
using Grpc.Core;
using Orch.Protocol;
using DaprStub = global::Dapr.Client.Autogen.Grpc.v1.Dapr.DaprClient;
using EventStatus = global::Dapr.AppCallback.Autogen.Grpc.v1.TopicEventResponse.Types.TopicEventResponseStatus;

namespace Orch.Coordination.Dapr;

/// <summary>
/// <see cref="IMessageBus"/> on a Dapr pub/sub component: publish through the sidecar's
/// PublishEvent, consume through its streaming subscription (SubscribeTopicEventsAlpha1), so the
/// process needs no app port. Messages are JSON (<see cref="CoordinationJson.Options"/>).
/// <para><b>Groups.</b> Dapr's own competing-consumer unit is the app id (the pub/sub component's
/// <c>consumerID</c>): every app id gets every message of a topic, instances of one app id share
/// them. The port's groups are finer, so each group gets its own Dapr topic
/// <c>{topic}.group.{group}</c>, and groups are recorded in state (key <c>bus-groups/{topic}</c>
/// of <paramref name="groups"/>); publishing reads that record and publishes once per group. Every
/// process using the bus must therefore consume as the same Dapr consumer group: run them under
/// one app id, or set the pub/sub component's <c>consumerID</c> to one fixed value (as the example
/// component does). A group sees what is published after it was recorded, as the port asks.</para>
/// <para><b>Delivery.</b> A sidecar allows one streaming subscription per topic, so all
/// subscriptions of one group in this process share one stream and take turns on its events.
/// Acknowledging answers SUCCESS; a subscription disposed with deliveries it did not acknowledge
/// answers RETRY for them, as does the last one for events nobody read, and the sidecar
/// redelivers what was not answered when a stream closes. Delivery is therefore at-least-once.
/// With a Redis Streams component a RETRY is redelivered after the component's
/// <c>redeliverInterval</c>.</para>
/// </summary>
public sealed class DaprMessageBus : IMessageBus, IAsyncDisposable
{
    private readonly DaprStub _dapr;
    private readonly string _pubSubName;
    private readonly IStateStore _groups;
    private readonly SemaphoreSlim _streamsGate = new(1, 1);
    private readonly Dictionary<string, GroupStream> _streams = new(StringComparer.Ordinal);

    /// <param name="dapr">The sidecar's gRPC client.</param>
    /// <param name="pubSubName">The pub/sub component's name.</param>
    /// <param name="groups">Where the groups of each topic are recorded; shared by every process using the bus.</param>
    public DaprMessageBus(DaprStub dapr, string pubSubName, IStateStore groups)
    {
        ArgumentNullException.ThrowIfNull(dapr);
        ArgumentException.ThrowIfNullOrEmpty(pubSubName);
        ArgumentNullException.ThrowIfNull(groups);
        _dapr = dapr;
        _pubSubName = pubSubName;
        _groups = groups;
    }

    /// <summary>The Dapr topic that carries <paramref name="topic"/> for <paramref name="group"/>.</summary>
    public static string GroupTopic(string topic, string group) => $"{topic}.group.{group}";

    public async ValueTask PublishAsync<T>(string topic, T message, CancellationToken cancellationToken) where T : class
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentNullException.ThrowIfNull(message);
        var data = ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(message, CoordinationJson.Options));
        foreach (var group in await GroupsAsync(topic, cancellationToken).ConfigureAwait(false))
        {
            await DaprCalls.Rpc(_dapr.PublishEventAsync(new PublishEventRequest
            {
                PubsubName = _pubSubName,
                Topic = GroupTopic(topic, group),
                Data = data,
                DataContentType = "application/json",
            }, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask<IMessageSubscription<T>> SubscribeAsync<T>(string topic, string group, CancellationToken cancellationToken) where T : class
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentException.ThrowIfNullOrEmpty(group);
        await RecordGroupAsync(topic, group, cancellationToken).ConfigureAwait(false);
        var daprTopic = GroupTopic(topic, group);
        await _streamsGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_streams.TryGetValue(daprTopic, out var stream))
            {
                stream = await GroupStream.OpenAsync(_dapr, _pubSubName, daprTopic, cancellationToken).ConfigureAwait(false);
                _streams[daprTopic] = stream;
            }
            stream.Users++;
            return new Subscription<T>(this, stream);
        }
        finally
        {
            _streamsGate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _streamsGate.WaitAsync().ConfigureAwait(false);
        try
        {
            foreach (var stream in _streams.Values) await stream.CloseAsync().ConfigureAwait(false);
            _streams.Clear();
        }
        finally
        {
            _streamsGate.Release();
        }
    }

    private async Task LeaveAsync(GroupStream stream)
    {
        await _streamsGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (--stream.Users > 0) return;
            _streams.Remove(stream.Topic);
            await stream.CloseAsync().ConfigureAwait(false);
        }
        finally
        {
            _streamsGate.Release();
        }
    }

    private static string GroupsKey(string topic) => "bus-groups/" + topic;

    private async Task<IReadOnlyList<string>> GroupsAsync(string topic, CancellationToken cancellationToken)
    {
        var record = await _groups.GetAsync(GroupsKey(topic), cancellationToken).ConfigureAwait(false);
        return record is null ? [] : JsonSerializer.Deserialize<List<string>>(record.Value) ?? [];
    }

    private async Task RecordGroupAsync(string topic, string group, CancellationToken cancellationToken)
    {
        while (true)
        {
            var record = await _groups.GetAsync(GroupsKey(topic), cancellationToken).ConfigureAwait(false);
            var groups = record is null ? [] : JsonSerializer.Deserialize<List<string>>(record.Value) ?? [];
            if (groups.Contains(group, StringComparer.Ordinal)) return;
            groups.Add(group);
            if (await _groups.TrySetAsync(GroupsKey(topic), JsonSerializer.SerializeToUtf8Bytes(groups), record?.Version ?? 0, cancellationToken).ConfigureAwait(false) is not null) return;
        }
    }

    /// <summary>One streaming subscription to the sidecar, shared by this process's subscriptions of one group.</summary>
    private sealed class GroupStream
    {
        private readonly AsyncDuplexStreamingCall<SubscribeTopicEventsRequestAlpha1, SubscribeTopicEventsResponseAlpha1> _call;
        private readonly CancellationTokenSource _stop;
        private readonly SemaphoreSlim _writeGate = new(1, 1);
        private readonly Channel<TopicEventRequest> _events = Channel.CreateUnbounded<TopicEventRequest>(new UnboundedChannelOptions { SingleWriter = true });
        private Task _reader = Task.CompletedTask;
        private bool _closed;

        private GroupStream(string topic, AsyncDuplexStreamingCall<SubscribeTopicEventsRequestAlpha1, SubscribeTopicEventsResponseAlpha1> call, CancellationTokenSource stop)
        {
            Topic = topic;
            _call = call;
            _stop = stop;
        }

        public string Topic { get; }
        public int Users { get; set; }
        public ChannelReader<TopicEventRequest> Events => _events.Reader;

        public static async Task<GroupStream> OpenAsync(DaprStub dapr, string pubSubName, string topic, CancellationToken cancellationToken)
        {
            var stop = new CancellationTokenSource();
            var call = dapr.SubscribeTopicEventsAlpha1(cancellationToken: stop.Token);
            var stream = new GroupStream(topic, call, stop);
            try
            {
                await call.RequestStream.WriteAsync(new SubscribeTopicEventsRequestAlpha1
                {
                    InitialRequest = new SubscribeTopicEventsRequestInitialAlpha1 { PubsubName = pubSubName, Topic = topic },
                }, cancellationToken).ConfigureAwait(false);
                // The sidecar answers the initial request once the subscription is in place.
                if (!await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false) || call.ResponseStream.Current.InitialResponse is null)
                    throw new InvalidOperationException($"the Dapr sidecar did not confirm the subscription to topic '{topic}' on pub/sub '{pubSubName}'");
            }
            catch
            {
                await stop.CancelAsync().ConfigureAwait(false);
                call.Dispose();
                stop.Dispose();
                throw;
            }
            stream._reader = stream.ReadAsync();
            return stream;
        }

        private async Task ReadAsync()
        {
            try
            {
                while (await _call.ResponseStream.MoveNext(_stop.Token).ConfigureAwait(false))
                {
                    if (_call.ResponseStream.Current.EventMessage is { } e) _events.Writer.TryWrite(e);
                }
                _events.Writer.TryComplete(new InvalidOperationException($"the Dapr sidecar closed the subscription to topic '{Topic}'"));
            }
            catch (Exception e) when (e is RpcException or OperationCanceledException)
            {
                _events.Writer.TryComplete(_stop.IsCancellationRequested ? null : new InvalidOperationException($"the subscription to topic '{Topic}' failed: {e.Message}", e));
            }
        }

        /// <summary>Answers the sidecar for one event; after the stream closed there is nobody to answer, and the sidecar redelivers.</summary>
        public async ValueTask AnswerAsync(string id, EventStatus status)
        {
            await _writeGate.WaitAsync().ConfigureAwait(false);
            try
            {
                if (_closed) return;
                await _call.RequestStream.WriteAsync(new SubscribeTopicEventsRequestAlpha1
                {
                    EventProcessed = new SubscribeTopicEventsRequestProcessedAlpha1 { Id = id, Status = new TopicEventResponse { Status = status } },
                }).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RpcException or InvalidOperationException or IOException)
            {
                // The stream is gone; what it did not hear about is redelivered.
            }
            finally
            {
                _writeGate.Release();
            }
        }

        public async Task CloseAsync()
        {
            // Hand back what arrived but nobody read, then end the stream and wait for the sidecar to let go of it.
            while (_events.Reader.TryRead(out var unread)) await AnswerAsync(unread.Id, EventStatus.Retry).ConfigureAwait(false);
            await _writeGate.WaitAsync().ConfigureAwait(false);
            try
            {
                if (_closed) return;
                _closed = true;
                try
                {
                    await _call.RequestStream.CompleteAsync().ConfigureAwait(false);
                }
                catch (Exception e) when (e is RpcException or InvalidOperationException or IOException)
                {
                }
            }
            finally
            {
                _writeGate.Release();
            }
            await Task.WhenAny(_reader, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
            await _stop.CancelAsync().ConfigureAwait(false);
            await _reader.ConfigureAwait(false);
            _call.Dispose();
            _stop.Dispose();
        }
    }

    private sealed class Subscription<T>(DaprMessageBus bus, GroupStream stream) : IMessageSubscription<T> where T : class
    {
        private readonly ConcurrentDictionary<string, bool> _unacknowledged = new(StringComparer.Ordinal);
        private int _disposed;

        public async ValueTask<Delivery<T>> ReadAsync(CancellationToken cancellationToken)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            while (true)
            {
                var e = await stream.Events.ReadAsync(cancellationToken).ConfigureAwait(false);
                if (await ToDeliveryAsync(e).ConfigureAwait(false) is { } delivery) return delivery;
            }
        }

        public bool TryRead(out Delivery<T> delivery)
        {
            while (Volatile.Read(ref _disposed) == 0 && stream.Events.TryRead(out var e))
            {
                var made = ToDeliveryAsync(e);
                // Only an unreadable event needs an answer before returning, and that is written in the background.
                if (made.IsCompleted && made.Result is { } ready)
                {
                    delivery = ready;
                    return true;
                }
                _ = made.AsTask();
            }
            delivery = default;
            return false;
        }

        private async ValueTask<Delivery<T>?> ToDeliveryAsync(TopicEventRequest e)
        {
            T? message;
            try
            {
                message = JsonSerializer.Deserialize<T>(e.Data.Span, CoordinationJson.Options);
            }
            catch (JsonException)
            {
                message = null;
            }
            if (message is null)
            {
                // Retrying cannot make it readable: DROP sends it to the dead-letter topic if one is set.
                await stream.AnswerAsync(e.Id, EventStatus.Drop).ConfigureAwait(false);
                return null;
            }
            _unacknowledged[e.Id] = true;
            return new Delivery<T>(message, () => AckAsync(e.Id));
        }

        private ValueTask AckAsync(string id) =>
            _unacknowledged.TryRemove(id, out _) ? stream.AnswerAsync(id, EventStatus.Success) : ValueTask.CompletedTask;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            foreach (var id in _unacknowledged.Keys)
            {
                if (_unacknowledged.TryRemove(id, out _)) await stream.AnswerAsync(id, EventStatus.Retry).ConfigureAwait(false);
            }
            await bus.LeaveAsync(stream).ConfigureAwait(false);
        }
    }
}
