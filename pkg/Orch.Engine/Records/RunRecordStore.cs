using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using Orch.Coordination;
using Orch.Protocol;

namespace Orch.Engine;

/// <summary>Reads and writes run records through the state store port.</summary>
public sealed class RunRecordStore(IStateStore state)
{
    // One buffer reused across saves: a big run's record is tens of MB, and serialising into
    // fresh or pooled arrays each time would keep several copies of it alive.
    private readonly ArrayBufferWriter<byte> _buffer = new(64 * 1024);

    public static string KeyFor(RunId run) => $"runs/{run.Value}/state.json";

    public async ValueTask SaveAsync(RunRecord record, CancellationToken cancellationToken)
    {
        _buffer.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(_buffer))
        {
            JsonSerializer.Serialize(writer, record, Options);
        }
        await state.TrySetAsync(KeyFor(new RunId(record.RunId)), _buffer.WrittenMemory, null, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<RunRecord?> LoadAsync(RunId run, CancellationToken cancellationToken)
    {
        var value = await state.GetAsync(KeyFor(run), cancellationToken).ConfigureAwait(false);
        if (value is null) return null;
        return JsonSerializer.Deserialize<RunRecord>(value.Value, Options)
            ?? throw new InvalidDataException($"run record {KeyFor(run)} is empty");
    }

    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = false,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower), new PlainValueConverter() },
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        // Generated at build time: no reflection or run-time code generation when a run starts.
        TypeInfoResolver = System.Text.Json.Serialization.Metadata.JsonTypeInfoResolver.Combine(
            RunRecordJsonContext.Default, ProtocolJsonContext.Default, new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver()),
    };
}

[JsonSerializable(typeof(RunRecord))]
internal sealed partial class RunRecordJsonContext : JsonSerializerContext;
