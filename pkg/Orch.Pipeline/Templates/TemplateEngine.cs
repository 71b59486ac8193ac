using System.Collections;
using System.Globalization;
using System.Text;
using Orch.Pipeline.Diagnostics;
using Orch.Pipeline.Model;
using Orch.Protocol;
using Scriban;
using Scriban.Functions;
using Scriban.Parsing;
using Scriban.Runtime;
using Scriban.Syntax;

namespace Orch.Pipeline.Templates;

/// <summary>
/// The variables a template sees: <c>params</c>, <c>tasks.ID.outputs</c>, and inside a fan-out
/// <c>item</c> and <c>index</c> (0-based). Values are plain .NET: string, long, double, bool,
/// <see cref="IReadOnlyList{T}"/> of values and <see cref="IReadOnlyDictionary{TKey,TValue}"/> of string to value.
/// </summary>
public sealed class TemplateScope
{
    public IReadOnlyDictionary<string, object?> Params { get; init; } = new Dictionary<string, object?>();
    /// <summary>Per upstream task id: <c>{ outputs, status }</c>. A fan-out task's outputs are a list in item order.</summary>
    public IReadOnlyDictionary<string, object?> Tasks { get; init; } = new Dictionary<string, object?>();
    public bool HasItem { get; init; }
    public object? Item { get; init; }
    public int Index { get; init; }
}

/// <summary>A template that failed at render time (a missing variable, a bad function call).</summary>
public sealed class TemplateRenderException(string message, SourceLocation location, Exception? inner = null)
    : Exception(message, inner)
{
    public SourceLocation Location { get; } = location;
}

/// <summary>A parsed template, ready to render many times.</summary>
public sealed class CompiledTemplate
{
    internal CompiledTemplate(TemplateText source, Template template, ScriptExpression? singleExpression)
    {
        Source = source;
        Template = template;
        SingleExpression = singleExpression;
    }

    public TemplateText Source { get; }
    internal Template Template { get; }
    /// <summary>Set when the whole text is one <c>{{ expression }}</c>: rendering keeps the value's type.</summary>
    internal ScriptExpression? SingleExpression { get; }
    public ScriptPage Page => Template.Page!;
}

/// <summary>
/// Scriban templates in a sandbox: no include loader (no file access), no .NET member access
/// beyond the dictionaries we hand in, loop and recursion limits. Adds the <c>sh</c> filter that
/// quotes a value for POSIX shells and <c>json</c> that serialises it.
/// </summary>
public static class TemplateEngine
{
    private static readonly ScriptObject Functions = CreateFunctions();

    /// <summary>Parses <paramref name="text"/>; on syntax errors returns null and the errors with their file locations.</summary>
    public static CompiledTemplate? TryCompile(TemplateText text, out IReadOnlyList<(SourceLocation Location, string Message)> errors)
    {
        var template = Template.Parse(text.Text, text.Location.File);
        if (template.HasErrors)
        {
            errors = template.Messages
                .Where(m => m.Type == ParserMessageType.Error)
                .Select(m => (MapLocation(text, m.Span.Start), CleanMessage(m.Message)))
                .ToList();
            return null;
        }
        errors = [];
        return new CompiledTemplate(text, template, FindSingleExpression(text.Text, template.Page!));
    }

    public static CompiledTemplate Compile(TemplateText text)
    {
        var compiled = TryCompile(text, out var errors);
        if (compiled is null)
        {
            var (location, message) = errors[0];
            throw new TemplateRenderException($"template syntax error: {message}", location);
        }
        return compiled;
    }

    /// <summary>Renders to text.</summary>
    public static string Render(CompiledTemplate template, TemplateScope scope)
    {
        var context = CreateContext(scope);
        try
        {
            return template.Template.Render(context);
        }
        catch (ScriptRuntimeException ex)
        {
            throw new TemplateRenderException(CleanMessage(ex.OriginalMessage), MapLocation(template.Source, ex.Span.Start), ex);
        }
    }

    /// <summary>Renders a single-expression template to its value (list, number, ...), any other to text.</summary>
    public static object? Evaluate(CompiledTemplate template, TemplateScope scope)
    {
        if (template.SingleExpression is null) return Render(template, scope);
        var context = CreateContext(scope);
        try
        {
            return ToPlain(context.Evaluate(template.SingleExpression));
        }
        catch (ScriptRuntimeException ex)
        {
            throw new TemplateRenderException(CleanMessage(ex.OriginalMessage), MapLocation(template.Source, ex.Span.Start), ex);
        }
    }

    /// <summary>Truthiness of a <c>when:</c> condition: false, null, 0, "" and "false" are false.</summary>
    public static bool IsTrue(object? value) => value switch
    {
        null => false,
        bool b => b,
        long l => l != 0,
        int i => i != 0,
        double d => d != 0,
        string s => !(s.Length == 0 || s.Trim().Equals("false", StringComparison.OrdinalIgnoreCase) || s.Trim() == "0"),
        _ => true,
    };

    /// <summary>Quotes a value so a POSIX shell reads it as one literal word.</summary>
    public static string ShellQuote(object? value)
    {
        var text = ToDisplayString(value);
        if (text.Length > 0 && text.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or '/' or ':' or ',' or '=' or '+' or '@'))
            return text;
        return "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    /// <summary>How a value prints inside text: lists and maps as JSON, numbers invariant.</summary>
    public static string ToDisplayString(object? value) => value switch
    {
        null => "",
        string s => s,
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => PlainJson.Serialize(value),
    };

    private static TemplateContext CreateContext(TemplateScope scope)
    {
        var globals = new ScriptObject
        {
            ["params"] = scope.Params,
            ["tasks"] = scope.Tasks,
        };
        if (scope.HasItem)
        {
            globals["item"] = scope.Item;
            globals["index"] = scope.Index;
        }
        var context = new TemplateContext(Functions)
        {
            StrictVariables = true,
            // A missing key (a typo, an output a task did not set) is an error, not empty text;
            // templates can test with object.has_key.
            EnableRelaxedMemberAccess = false,
            LoopLimit = 100_000,
            RecursiveLimit = 64,
            LimitToString = 16 * 1024 * 1024,
            TemplateLoader = null, // no include: templates cannot read files
            MemberRenamer = member => member.Name,
            MemberFilter = _ => false, // no .NET members: only the dictionaries and lists we pass
        };
        context.PushGlobal(globals);
        return context;
    }

    private static ScriptObject CreateFunctions()
    {
        var builtins = new BuiltinFunctions();
        builtins.Remove("include"); // defence in depth beside the missing loader
        builtins.Remove("include_join");
        builtins.Import("sh", new Func<object?, string>(ShellQuote));
        builtins.Import("json", new Func<object?, string>(v => PlainJson.Serialize(ToPlain(v))));
        return builtins;
    }

    private static ScriptExpression? FindSingleExpression(string text, ScriptPage page)
    {
        var trimmed = text.Trim();
        if (!trimmed.StartsWith("{{", StringComparison.Ordinal) || !trimmed.EndsWith("}}", StringComparison.Ordinal)) return null;
        if (trimmed.IndexOf("{{", 2, StringComparison.Ordinal) >= 0) return null;
        var statements = page.Body?.Statements;
        var code = statements?.Where(s => s is not ScriptEscapeStatement && (s is not ScriptRawStatement raw || !string.IsNullOrWhiteSpace(raw.Text.ToString()))).ToList();
        return code is [ScriptExpressionStatement { Expression: var expression }] ? expression : null;
    }

    /// <summary>Maps a position inside the template text to the file, for single- and multi-line scalars.</summary>
    public static SourceLocation MapLocation(TemplateText text, TextPosition position)
    {
        if (text.Location.Line <= 0) return text.Location;
        return position.Line == 0
            ? text.Location with { Column = text.Location.Column + position.Column }
            : text.Location with { Line = text.Location.Line + position.Line, Column = text.BlockIndent + position.Column + 1 };
    }

    private static string CleanMessage(string message)
    {
        // Scriban prefixes messages with "<input>(l,c) :" style positions; we print our own.
        var index = message.IndexOf(" : ", StringComparison.Ordinal);
        return index >= 0 && message.StartsWith('<') ? message[(index + 3)..] : message;
    }

    /// <summary>Converts Scriban's runtime objects back to plain .NET values.</summary>
    public static object? ToPlain(object? value) => value switch
    {
        null => null,
        string or bool or long or double => value,
        int i => (long)i,
        float f => (double)f,
        decimal m => (double)m,
        System.Numerics.BigInteger b => (double)b,
        ScriptRange range => range.Cast<object?>().Select(ToPlain).ToList(),
        IDictionary<string, object?> map => map.ToDictionary(kv => kv.Key, kv => ToPlain(kv.Value)),
        IReadOnlyDictionary<string, object?> map => map.ToDictionary(kv => kv.Key, kv => ToPlain(kv.Value)),
        IEnumerable list and not string => list.Cast<object?>().Select(ToPlain).ToList(),
        _ => value.ToString(),
    };
}
