using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Orch.Protocol;

namespace Orch.Coordination.Signing;

/// <summary>
/// Authenticates every message on an inner bus with the <see cref="ClusterKey"/>: whoever can
/// write to the broker but does not hold the key cannot get a message (a task to run, a result,
/// a cancellation) accepted by a subscriber. Works over any <see cref="IMessageBus"/> adapter,
/// since it only publishes and reads <see cref="SignedEnvelope"/> values there.
/// </summary>
/// <remarks>
/// <para>Publishing serialises the message as JSON (<see cref="MessageJson"/>) and sends it as
/// the envelope's payload with HMAC-SHA256 over <c>"orch.bus.v1\n"</c>, the topic's UTF-8 length
/// (4 bytes, big-endian), the topic and the payload's UTF-8 bytes. Binding the topic means a
/// message signed for one topic is rejected on any other.</para>
/// <para>Reading verifies in constant time and hands over only messages that verify and parse.
/// Anything else (unsigned, another key, tampered, another topic, malformed) is logged as a
/// warning naming the topic and the reason, counted in <see cref="Rejected"/>, acknowledged so the
/// broker does not redeliver it forever, and skipped: <c>ReadAsync</c> goes on waiting for the
/// next message and <c>TryRead</c> goes on to the next ready one, returning false only when no
/// acceptable message is ready.</para>
/// <para>The MAC does not stop a replay of a message that was once valid on the same topic; the
/// claims of the protocol do that. Payloads are authenticated, not encrypted.</para>
/// </remarks>
public sealed class SignedMessageBus : IMessageBus
{
    private static ReadOnlySpan<byte> Domain => "orch.bus.v1\n"u8;

    private readonly IMessageBus _inner;
    private readonly ClusterKey _key;
    private readonly ILogger _logger;
    private long _rejected;

    public SignedMessageBus(IMessageBus inner, ClusterKey key, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(key);
        _inner = inner;
        _key = key;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The bus the envelopes travel on.</summary>
    public IMessageBus Inner => _inner;

    /// <summary>How many messages subscribers of this bus have rejected and dropped so far.</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    public ValueTask PublishAsync<T>(string topic, T message, CancellationToken cancellationToken) where T : class
    {
        ArgumentNullException.ThrowIfNull(message);
        return _inner.PublishAsync(topic, Seal(topic, message), cancellationToken);
    }

    public ValueTask PublishBatchAsync<T>(string topic, IReadOnlyList<T> messages, CancellationToken cancellationToken) where T : class
    {
        ArgumentNullException.ThrowIfNull(messages);
        var sealedMessages = new SignedEnvelope[messages.Count];
        for (var i = 0; i < sealedMessages.Length; i++)
            sealedMessages[i] = Seal(topic, messages[i] ?? throw new ArgumentException("a message is null", nameof(messages)));
        return _inner.PublishBatchAsync(topic, sealedMessages, cancellationToken);
    }

    public async ValueTask<IMessageSubscription<T>> SubscribeAsync<T>(string topic, string group, CancellationToken cancellationToken) where T : class
    {
        var inner = await _inner.SubscribeAsync<SignedEnvelope>(topic, group, cancellationToken).ConfigureAwait(false);
        return new Subscription<T>(this, topic, group, inner);
    }

    /// <summary>The envelope <see cref="PublishAsync{T}"/> sends for <paramref name="message"/> on <paramref name="topic"/>.</summary>
    public SignedEnvelope Seal<T>(string topic, T message) where T : class
    {
        ArgumentNullException.ThrowIfNull(topic);
        // Serialised straight to UTF-8, the bytes the MAC covers; the envelope carries them as text.
        var payload = JsonSerializer.SerializeToUtf8Bytes(message, MessageJson.Options);
        var mac = Mac(topic, payload);
        return new SignedEnvelope(SignedEnvelope.CurrentVersion, Encoding.UTF8.GetString(payload), Convert.ToBase64String(mac), _key.Id);
    }

    /// <summary>The message in <paramref name="envelope"/> when it verifies for <paramref name="topic"/>; otherwise null and why not.</summary>
    private T? Open<T>(string topic, SignedEnvelope? envelope, out string? problem) where T : class
    {
        if (envelope is not { Payload: { } payload, Mac: { } macText })
        {
            problem = "not a signed message (unsigned or malformed)";
            return null;
        }
        if (envelope.Version != SignedEnvelope.CurrentVersion)
        {
            problem = $"unknown envelope version {envelope.Version}";
            return null;
        }
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        if (!Convert.TryFromBase64String(macText, mac, out var written) || written != mac.Length)
        {
            problem = "the signature is malformed";
            return null;
        }
        var bytes = Encoding.UTF8.GetBytes(payload);
        if (!CryptographicOperations.FixedTimeEquals(mac, Mac(topic, bytes)))
        {
            problem = envelope.KeyId is { } id && id != _key.Id
                ? $"signed with another cluster key (key id {Printable(id)}, this process has {_key.Id})"
                : "the signature does not match (changed in transit, or signed for another topic)";
            return null;
        }
        try
        {
            var message = JsonSerializer.Deserialize<T>(bytes, MessageJson.Options);
            problem = message is null ? $"the payload is not a {typeof(T).Name}" : null;
            return message;
        }
        catch (JsonException)
        {
            problem = $"the payload is not a {typeof(T).Name}";
            return null;
        }
    }

    private byte[] Mac(string topic, ReadOnlySpan<byte> payload)
    {
        var topicLength = Encoding.UTF8.GetByteCount(topic);
        var data = new byte[Domain.Length + 4 + topicLength + payload.Length];
        var span = data.AsSpan();
        Domain.CopyTo(span);
        span = span[Domain.Length..];
        BinaryPrimitives.WriteInt32BigEndian(span, topicLength);
        span = span[4..];
        Encoding.UTF8.GetBytes(topic, span);
        payload.CopyTo(span[topicLength..]);
        return _key.Mac(data);
    }

    private void Reject(string topic, string group, string problem)
    {
        Interlocked.Increment(ref _rejected);
        _logger.LogWarning("Rejected an unverifiable message on topic {Topic} (group {Group}): {Reason}; it was acknowledged and dropped",
            topic, group, problem);
    }

    /// <summary>A key id from the wire, cut short and stripped of anything that is not a hex digit, so it cannot forge log lines.</summary>
    private static string Printable(string id) => new(id.Where(char.IsAsciiHexDigit).Take(16).ToArray());

    private sealed class Subscription<T>(SignedMessageBus bus, string topic, string group, IMessageSubscription<SignedEnvelope> inner) : IMessageSubscription<T> where T : class
    {
        public async ValueTask<Delivery<T>> ReadAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                var delivery = await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
                if (Accept(delivery, out var accepted)) return accepted;
                await delivery.AckAsync().ConfigureAwait(false);
            }
        }

        public bool TryRead(out Delivery<T> delivery)
        {
            while (inner.TryRead(out var raw))
            {
                if (Accept(raw, out delivery)) return true;
                // TryRead is synchronous; the acknowledgement completes before the next read.
                var ack = raw.AckAsync();
                if (!ack.IsCompletedSuccessfully) ack.AsTask().GetAwaiter().GetResult();
            }
            delivery = default;
            return false;
        }

        public async ValueTask<DeliveryBatch<T>> ReadBatchAsync(int max, CancellationToken cancellationToken)
        {
            while (true)
            {
                var raw = await inner.ReadBatchAsync(max, cancellationToken).ConfigureAwait(false);
                var accepted = new List<Delivery<T>>(raw.Count);
                foreach (var delivery in raw.Deliveries)
                {
                    if (Accept(delivery, out var message)) accepted.Add(message);
                    else await delivery.AckAsync().ConfigureAwait(false);
                }
                if (accepted.Count > 0) return new DeliveryBatch<T>(accepted, raw.AckAsync);
            }
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();

        private bool Accept(Delivery<SignedEnvelope> raw, out Delivery<T> delivery)
        {
            var message = bus.Open<T>(topic, raw.Message, out var problem);
            if (message is null)
            {
                bus.Reject(topic, group, problem ?? "unreadable");
                delivery = default;
                return false;
            }
            delivery = new Delivery<T>(message, raw.Ack);
            return true;
        }
    }
}
