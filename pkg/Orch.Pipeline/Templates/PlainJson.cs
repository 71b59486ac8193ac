using System.Text.Json;

namespace Orch.Pipeline.Templates;

/// <summary>JSON for the plain values templates and outputs carry (string, long, double, bool, lists, maps).</summary>
public static class PlainJson
{
    public static string Serialize(object? value) => JsonSerializer.Serialize(value, Options);

    /// <summary>Parses JSON into plain values: objects become dictionaries, arrays lists, integers long.</summary>
    public static object? Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return FromElement(document.RootElement);
    }

    public static object? FromElement(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => element.EnumerateObject().ToDictionary(p => p.Name, p => FromElement(p.Value)),
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
