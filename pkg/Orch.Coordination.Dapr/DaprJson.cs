using System.Text.Json;
using System.Text.Json.Serialization;
using Orch.Protocol;

namespace Orch.Coordination.Dapr;

/// <summary>
/// The JSON used for everything the Dapr adapters store or publish: plain values come back as
/// plain values (<see cref="PlainValueConverter"/>), enums as names, identifiers as bare strings,
/// the same shape the Redis adapter writes.
/// </summary>
public static class DaprJson
{
    public static JsonSerializerOptions Options { get; } = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.General)
        {
            AllowOutOfOrderMetadataProperties = true,
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
