using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orch.Coordination.Signing;

/// <summary>
/// What a <see cref="SignedMessageBus"/> puts on the inner bus in place of a message:
/// <c>{"v":1,"payload":"&lt;the message as JSON text&gt;","mac":"&lt;base64 HMAC-SHA256&gt;","key":"&lt;key id&gt;"}</c>.
/// The MAC covers the version, the topic and the payload's UTF-8 bytes (see
/// <see cref="SignedMessageBus"/>); <see cref="KeyId"/> is only a hint for messages about a key
/// mismatch and is not trusted.
/// </summary>
/// <remarks>
/// Reading never fails: whatever JSON value the inner bus holds (an unsigned message, a stray
/// string) reads as an envelope with missing fields, so the verifier can reject it instead of the
/// inner bus failing to deliver it.
/// </remarks>
[JsonConverter(typeof(SignedEnvelopeConverter))]
public sealed record SignedEnvelope(int Version, string? Payload, string? Mac, string? KeyId)
{
    public const int CurrentVersion = 1;
}

internal sealed class SignedEnvelopeConverter : JsonConverter<SignedEnvelope>
{
    public override SignedEnvelope Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object) return new SignedEnvelope(0, null, null, null);
        return new SignedEnvelope(
            root.TryGetProperty("v", out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var version) ? version : 0,
            Text(root, "payload"),
            Text(root, "mac"),
            Text(root, "key"));
    }

    public override void Write(Utf8JsonWriter writer, SignedEnvelope value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteNumber("v", value.Version);
        writer.WriteString("payload", value.Payload);
        writer.WriteString("mac", value.Mac);
        writer.WriteString("key", value.KeyId);
        writer.WriteEndObject();
    }

    private static string? Text(JsonElement root, string name) =>
        root.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
}
