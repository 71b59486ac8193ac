using System.Collections;
using System.Globalization;
using System.Text.Json;

namespace Orch.Actions.WordCount;

/// <summary>Lenient reading of plain input values (numbers may arrive as long, double or string; maps and lists as any collection, or as JSON text).</summary>
internal static class PlainValues
{
    public static long ToInt64(object? value, string what) => value switch
    {
        long l => l,
        int i => i,
        short s => s,
        byte b => b,
        uint u => u,
        ulong u when u <= long.MaxValue => (long)u,
        double d when d == Math.Floor(d) && Math.Abs(d) < 9.2e18 => (long)d,
        float f when f == MathF.Floor(f) && Math.Abs(f) < 9.2e18f => (long)f,
        decimal m when m == decimal.Floor(m) && m >= long.MinValue && m <= long.MaxValue => (long)m,
        string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) => parsed,
        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d == Math.Floor(d) && Math.Abs(d) < 9.2e18 => (long)d,
        JsonElement { ValueKind: JsonValueKind.Number } e when e.TryGetInt64(out var l) => l,
        JsonElement { ValueKind: JsonValueKind.String } e => ToInt64(e.GetString(), what),
        _ => throw new ActionInputException($"{what} must be an integer, got '{Convert.ToString(value, CultureInfo.InvariantCulture)}'"),
    };

    public static string ToText(object? value, string what) => value switch
    {
        string s => s,
        JsonElement { ValueKind: JsonValueKind.String } e => e.GetString()!,
        null => throw new ActionInputException($"{what} is missing"),
        IEnumerable or IDictionary => throw new ActionInputException($"{what} must be a string"),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? throw new ActionInputException($"{what} is missing"),
    };

    /// <summary>A string-keyed map, or null when <paramref name="value"/> is not one.</summary>
    public static Dictionary<string, object?>? AsMap(object? value)
    {
        switch (value)
        {
            case null:
                return null;
            case string s when s.TrimStart().StartsWith('{'):
                return AsMap(ParseJson(s));
            case JsonElement { ValueKind: JsonValueKind.Object } e:
                return e.EnumerateObject().ToDictionary(p => p.Name, p => FromJson(p.Value), StringComparer.Ordinal);
            case IDictionary map:
            {
                var result = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (DictionaryEntry entry in map)
                    result[Convert.ToString(entry.Key, CultureInfo.InvariantCulture) ?? ""] = entry.Value;
                return result;
            }
            case IEnumerable<KeyValuePair<string, object?>> pairs:
                return pairs.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
            default:
                return null;
        }
    }

    /// <summary>The items of a list, or null when <paramref name="value"/> is not one.</summary>
    public static List<object?>? AsList(object? value)
    {
        switch (value)
        {
            case null:
                return null;
            case string s when s.TrimStart().StartsWith('['):
                return AsList(ParseJson(s));
            case string:
                return null;
            case JsonElement { ValueKind: JsonValueKind.Array } e:
                return e.EnumerateArray().Select(FromJson).ToList();
            case IDictionary:
                return null;
            case IEnumerable items:
                return items.Cast<object?>().ToList();
            default:
                return null;
        }
    }

    private static object? ParseJson(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            return FromJson(document.RootElement);
        }
        catch (JsonException e)
        {
            throw new ActionInputException($"invalid JSON input: {e.Message}");
        }
    }

    private static object? FromJson(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => e.EnumerateObject().ToDictionary(p => p.Name, p => FromJson(p.Value), StringComparer.Ordinal),
        JsonValueKind.Array => e.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetInt64(out var l) ? (object)l : e.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };
}
