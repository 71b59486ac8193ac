using System.Globalization;
using System.Text.Json;
using Orch.Pipeline.Diagnostics;
using Orch.Pipeline.Model;
using Orch.Pipeline.Validation;

namespace Orch.Pipeline.Params;

/// <summary>The param values for one run, and the problems found in the overrides.</summary>
public sealed record ParamResolution(IReadOnlyDictionary<string, object?> Values, IReadOnlyList<Diagnostic> Diagnostics)
{
    public bool Succeeded => !Diagnostics.Any(d => d.IsError);
}

/// <summary>Combines declared params with <c>-p NAME=VALUE</c> overrides, converting each to its declared type.</summary>
public static class ParamResolver
{
    /// <summary>
    /// Every declared param gets a value: the last override for it, else its default (null when it has none).
    /// Values are string, long, double, bool or a list (from a JSON array or comma-separated text).
    /// </summary>
    public static ParamResolution Resolve(PipelineDefinition p, IReadOnlyList<KeyValuePair<string, string>> overrides)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(overrides);
        var values = new Dictionary<string, object?>(StringComparer.Ordinal);
        var diagnostics = new List<Diagnostic>();
        var given = new HashSet<string>(StringComparer.Ordinal);
        foreach (var param in p.Params) values[param.Name] = param.Default;

        foreach (var (name, text) in overrides)
        {
            var param = p.Params.FirstOrDefault(x => x.Name == name);
            if (param is null)
            {
                diagnostics.Add(new Diagnostic(DiagnosticCodes.BadParamOverride, DiagnosticSeverity.Error, SourceLocation.None(p.FilePath),
                    $"unknown param '{name}' in -p {name}={text}",
                    Suggestions.DidYouMean(name, p.Params.Select(x => x.Name),
                        p.Params.Count == 0 ? "this pipeline declares no params" : "params: " + string.Join(", ", p.Params.Select(x => x.Name)))));
                continue;
            }
            if (!TryConvert(text, param.Type, out var value))
            {
                diagnostics.Add(new Diagnostic(DiagnosticCodes.BadParamOverride, DiagnosticSeverity.Error, param.Location,
                    $"param '{name}' expects {Article(param.Type)}, but -p {name}={text} is not one",
                    Example(param)));
                continue;
            }
            values[name] = value;
            given.Add(name);
        }

        foreach (var param in p.Params)
        {
            if (param.Required && !given.Contains(param.Name) && param.Default is null)
            {
                diagnostics.Add(new Diagnostic(DiagnosticCodes.BadParamOverride, DiagnosticSeverity.Error, param.Location,
                    $"required param '{param.Name}' was not given",
                    $"pass it with -p {param.Name}=VALUE"));
            }
        }
        return new ParamResolution(values, diagnostics);
    }

    /// <summary>Converts command-line text to a param type.</summary>
    public static bool TryConvert(string text, ParamType type, out object? value)
    {
        ArgumentNullException.ThrowIfNull(text);
        value = null;
        switch (type)
        {
            case ParamType.String or ParamType.Path:
                value = text;
                return true;
            case ParamType.Int when long.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l):
                value = l;
                return true;
            case ParamType.Number when double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d):
                value = d;
                return true;
            case ParamType.Bool:
                switch (text.Trim().ToLowerInvariant())
                {
                    case "true" or "yes" or "on" or "1": value = true; return true;
                    case "false" or "no" or "off" or "0": value = false; return true;
                    default: return false;
                }
            case ParamType.List:
                return TryConvertList(text, out value);
            default:
                return false;
        }
    }

    private static bool TryConvertList(string text, out object? value)
    {
        value = null;
        var trimmed = text.Trim();
        if (trimmed.StartsWith('['))
        {
            try
            {
                using var document = JsonDocument.Parse(trimmed);
                if (document.RootElement.ValueKind != JsonValueKind.Array) return false;
                value = FromJson(document.RootElement);
                return true;
            }
            catch (JsonException)
            {
                return false;
            }
        }
        value = trimmed.Length == 0
            ? new List<object?>()
            : trimmed.Split(',').Select(s => (object?)s.Trim()).ToList();
        return true;
    }

    private static object? FromJson(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => element.EnumerateObject().ToDictionary(p => p.Name, p => FromJson(p.Value), StringComparer.Ordinal),
        JsonValueKind.Array => element.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.String => element.GetString(),
        JsonValueKind.Number when element.TryGetInt64(out var l) => l,
        JsonValueKind.Number => element.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

    private static string Article(ParamType type) => type switch
    {
        ParamType.String => "a string",
        ParamType.Int => "an int",
        ParamType.Number => "a number",
        ParamType.Bool => "a bool (true or false)",
        ParamType.Path => "a path",
        _ => "a list",
    };

    private static string Example(ParamDefinition param) => param.Type switch
    {
        ParamType.Int => $"for example -p {param.Name}=8",
        ParamType.Number => $"for example -p {param.Name}=0.5",
        ParamType.Bool => $"for example -p {param.Name}=true",
        ParamType.List => $"for example -p {param.Name}=a,b or -p {param.Name}='[\"a\",\"b\"]'",
        ParamType.Path => $"for example -p {param.Name}=data/input.txt",
        _ => $"for example -p {param.Name}=text",
    };
}
