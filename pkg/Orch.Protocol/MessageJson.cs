using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Orch.Protocol;

/// <summary>
/// The JSON that protocol messages travel as wherever they are serialised (a broker, a signed
/// envelope). Values typed <see cref="object"/> (action inputs, task outputs) come back as plain
/// values (<see cref="PlainJson"/>), never <see cref="JsonElement"/>; identifiers are bare strings
/// and enums are written by name.
/// </summary>
public static class MessageJson
{
    public static JsonSerializerOptions Options { get; } = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.General)
        {
            AllowOutOfOrderMetadataProperties = true,
            // Generated at build time for the messages (no reflection, no run-time code generation,
            // so a process starts with far less JIT work); reflection for anything else.
            TypeInfoResolver = JsonTypeInfoResolver.Combine(ProtocolJsonContext.Default, new DefaultJsonTypeInfoResolver()),
            Converters =
            {
                new PlainValueConverter(),
                new JsonStringEnumConverter(),
                new IdConverter<RunId>(v => new RunId(v), id => id.Value),
                new IdConverter<AgentId>(v => new AgentId(v), id => id.Value),
                new IdConverter<AttemptId>(v => new AttemptId(v), id => id.Value),
            },
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }

    private sealed class IdConverter<T>(Func<string, T> create, Func<T, string> text) : JsonConverter<T>
    {
        public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            create(reader.GetString() ?? throw new JsonException($"{typeof(T).Name} must be a string"));

        public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WriteStringValue(text(value));
    }
}

/// <summary>Serialisation code generated at build time for the protocol's messages and the plain values they carry.</summary>
[JsonSerializable(typeof(TaskBatch))]
[JsonSerializable(typeof(ResultBatch))]
[JsonSerializable(typeof(CancelAttempt))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(long))]
[JsonSerializable(typeof(double))]
[JsonSerializable(typeof(bool))]
[JsonSerializable(typeof(List<object?>))]
[JsonSerializable(typeof(Dictionary<string, object?>))]
public sealed partial class ProtocolJsonContext : JsonSerializerContext;
