using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orch.Protocol;

/// <summary>
/// JSON for the plain values that templates, action inputs and task outputs carry: string,
/// <see cref="long"/> for integers, <see cref="double"/> for other numbers, bool, lists and
/// string-keyed maps. Whatever stores or ships such values reads them back through here, so they
/// never come back as <see cref="JsonElement"/>.
/// </summary>
public static class PlainJson
{
    public static string Serialize(object? value) => JsonSerializer.Serialize(value, Options);

    /// <summary>Parses JSON into plain values.</summary>
    public static object? Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return FromElement(document.RootElement);
    }

    public static object? FromElement(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => element.EnumerateObject().ToDictionary(p => p.Name, p => FromElement(p.Value), StringComparer.Ordinal),
        JsonValueKind.Array => element.EnumerateArray().Select(FromElement).ToList(),
        JsonValueKind.String => element.GetString(),
        JsonValueKind.Number => element.TryGetInt64(out var l) ? (object?)l : element.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

    private static readonly JsonSerializerOptions Options = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}

/// <summary>Reads <see cref="object"/>-typed members as plain values; writes them by their runtime type.</summary>
public sealed class PlainValueConverter : JsonConverter<object>
{
    public override object? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        return PlainJson.FromElement(document.RootElement);
    }

    public override void Write(Utf8JsonWriter writer, object value, JsonSerializerOptions options)
    {
        var type = value.GetType();
        if (type == typeof(object))
        {
            writer.WriteStartObject();
            writer.WriteEndObject();
            return;
        }
        JsonSerializer.Serialize(writer, value, type, options);
    }
}
