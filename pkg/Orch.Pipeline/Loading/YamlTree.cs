using System.Globalization;
using System.Text.RegularExpressions;
using Orch.Pipeline.Diagnostics;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Orch.Pipeline.Loading;

/// <summary>A YAML node with its position; unlike YamlDotNet's representation model it keeps duplicate keys.</summary>
internal abstract class YNode
{
    /// <summary>Where the node's first token starts (the quote or bracket included).</summary>
    public required SourceLocation Location { get; init; }

    public abstract string KindName { get; }

    /// <summary>Number of nodes below and including this one, aliases expanded.</summary>
    public long Size { get; set; } = 1;
}

internal sealed class YScalar : YNode
{
    public required string Value { get; init; }
    public required ScalarStyle Style { get; init; }
    /// <summary>Where the value's text starts: after an opening quote, or the first content line of a block scalar.</summary>
    public required SourceLocation ContentLocation { get; init; }
    /// <summary>Indentation (in columns) of a literal block scalar's content; 0 otherwise.</summary>
    public int BlockIndent { get; init; }
    /// <summary>True for an unquoted <c>{{ ... }}</c> that YAML read as a flow mapping and we turned back into text.</summary>
    public bool MisquotedTemplate { get; init; }
    public bool IsStrTagged { get; init; }

    public bool IsPlain => Style == ScalarStyle.Plain && !IsStrTagged;

    /// <summary>The typed value per the YAML 1.2 core schema for plain scalars; the string otherwise.</summary>
    public object? TypedValue => IsPlain && !MisquotedTemplate ? YamlScalars.Resolve(Value) : Value;

    public bool IsNull => IsPlain && !MisquotedTemplate && YamlScalars.Resolve(Value) is null;

    public override string KindName => TypedValue switch
    {
        null => "an empty value",
        bool => "a boolean",
        long or double => "a number",
        _ => "a string",
    };
}

internal sealed class YSequence : YNode
{
    public List<YNode> Items { get; } = [];
    public override string KindName => "a list";
}

internal sealed record YEntry(YNode Key, YNode Value);

internal sealed class YMapping : YNode
{
    public List<YEntry> Entries { get; } = [];
    public override string KindName => "a mapping";
}

internal static partial class YamlScalars
{
    public static object? Resolve(string text)
    {
        switch (text)
        {
            case "" or "~" or "null" or "Null" or "NULL": return null;
            case "true" or "True" or "TRUE": return true;
            case "false" or "False" or "FALSE": return false;
            case ".inf" or ".Inf" or ".INF" or "+.inf" or "+.Inf" or "+.INF": return double.PositiveInfinity;
            case "-.inf" or "-.Inf" or "-.INF": return double.NegativeInfinity;
            case ".nan" or ".NaN" or ".NAN": return double.NaN;
        }
        if (IntPattern().IsMatch(text) && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
            return l;
        if (text.StartsWith("0x", StringComparison.Ordinal) && text.Length > 2
            && long.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex))
            return hex;
        if (text.StartsWith("0o", StringComparison.Ordinal) && text.Length > 2 && text.Skip(2).All(c => c is >= '0' and <= '7'))
        {
            try { return Convert.ToInt64(text[2..], 8); }
            catch (OverflowException) { return text; }
        }
        if (FloatPattern().IsMatch(text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
            return d;
        return text;
    }

    [GeneratedRegex(@"^[-+]?[0-9]+$")]
    private static partial Regex IntPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatPattern();
}

/// <summary>Builds <see cref="YNode"/> trees from YamlDotNet parser events.</summary>
internal sealed partial class YamlTreeBuilder
{
    private const int MaxDepth = 256;
    private const long MaxExpandedNodes = 1_000_000;
    private readonly string _text;
    private readonly string _file;
    private readonly List<Diagnostic> _diagnostics;
    private readonly Dictionary<string, YNode> _anchors = new(StringComparer.Ordinal);
    private IParser _parser = null!;

    private YamlTreeBuilder(string text, string file, List<Diagnostic> diagnostics)
    {
        _text = text;
        _file = file;
        _diagnostics = diagnostics;
    }

    /// <summary>Parses the first document. Returns null on a syntax error (reported) or an empty document.</summary>
    public static YNode? Build(string text, string file, List<Diagnostic> diagnostics, out bool syntaxError)
    {
        var builder = new YamlTreeBuilder(text, file, diagnostics);
        syntaxError = false;
        try
        {
            return builder.BuildStream();
        }
        catch (YamlException ex)
        {
            syntaxError = true;
            builder.ReportSyntaxError(ex.Start, CleanYamlMessage(ex.Message));
            return null;
        }
        catch (TreeException ex)
        {
            syntaxError = true;
            builder.ReportSyntaxError(ex.Mark, ex.Message);
            return null;
        }
    }

    private sealed class TreeException(Mark mark, string message) : Exception(message)
    {
        public Mark Mark { get; } = mark;
    }

    private YNode? BuildStream()
    {
        _parser = new Parser(new StringReader(_text));
        _parser.MoveNext();
        Consume<StreamStart>();
        if (_parser.Current is StreamEnd) return null;
        Consume<DocumentStart>();
        var root = _parser.Current is DocumentEnd ? null : ReadNode(0);
        Consume<DocumentEnd>();
        if (_parser.Current is DocumentStart start)
            throw new TreeException(start.Start, "a pipeline file holds one YAML document; found a second one ('---')");
        return root;
    }

    private void Consume<T>() where T : ParsingEvent
    {
        if (_parser.Current is not T)
            throw new TreeException(_parser.Current?.Start ?? Mark.Empty, $"unexpected {_parser.Current?.GetType().Name ?? "end of file"}");
        _parser.MoveNext();
    }

    /// <summary>Reads the node at the current event and leaves the parser on the event after it.</summary>
    private YNode ReadNode(int depth)
    {
        if (depth > MaxDepth) throw new TreeException(_parser.Current!.Start, "nesting is too deep");
        var ev = _parser.Current!;
        switch (ev)
        {
            case AnchorAlias alias:
                _parser.MoveNext();
                if (_anchors.TryGetValue(alias.Value.Value, out var target)) return target;
                throw new TreeException(alias.Start, $"unknown alias '*{alias.Value.Value}'");
            case Scalar scalar:
            {
                _parser.MoveNext();
                var node = MakeScalar(scalar);
                Remember(scalar.Anchor, node);
                return node;
            }
            case SequenceStart seq:
            {
                var node = new YSequence { Location = Loc(seq.Start) };
                _parser.MoveNext();
                while (_parser.Current is not SequenceEnd)
                {
                    var item = ReadNode(depth + 1);
                    node.Items.Add(item);
                    Grow(node, item, seq.Start);
                }
                _parser.MoveNext();
                Remember(seq.Anchor, node); // after the items: a node cannot contain itself
                return node;
            }
            case MappingStart map:
            {
                if (map.Style == MappingStyle.Flow && At(map.Start.Index, "{{"))
                    return ReadMisquotedTemplate(map);
                var node = new YMapping { Location = Loc(map.Start) };
                _parser.MoveNext();
                while (_parser.Current is not MappingEnd)
                {
                    var key = ReadNode(depth + 1);
                    var value = ReadNode(depth + 1);
                    node.Entries.Add(new YEntry(key, value));
                    Grow(node, key, map.Start);
                    Grow(node, value, map.Start);
                }
                _parser.MoveNext();
                Remember(map.Anchor, node);
                return node;
            }
            default:
                throw new TreeException(ev.Start, $"unexpected {ev.GetType().Name}");
        }
    }

    private static void Grow(YNode parent, YNode child, Mark start)
    {
        parent.Size += child.Size;
        if (parent.Size > MaxExpandedNodes)
            throw new TreeException(start, "the document is too large once aliases are expanded");
    }

    private YScalar ReadMisquotedTemplate(MappingStart map)
    {
        var depth = 0;
        var end = map.Start.Index;
        do
        {
            switch (_parser.Current)
            {
                case MappingStart or SequenceStart: depth++; break;
                case MappingEnd or SequenceEnd:
                    depth--;
                    end = _parser.Current.Start.Index;
                    break;
            }
            _parser.MoveNext();
        } while (depth > 0);
        var startIndex = (int)map.Start.Index;
        var length = Math.Min(_text.Length, (int)end + 1) - startIndex;
        var text = _text.Substring(startIndex, Math.Max(0, length));
        var location = Loc(map.Start);
        _diagnostics.Add(UnquotedTemplate(location, text));
        return new YScalar
        {
            Location = location,
            ContentLocation = location,
            Value = text,
            Style = ScalarStyle.Plain,
            MisquotedTemplate = true,
        };
    }

    private Diagnostic UnquotedTemplate(SourceLocation location, string text) => new(
        DiagnosticCodes.UnquotedTemplate,
        DiagnosticSeverity.Error,
        location,
        "unquoted template: YAML reads '{{' at the start of a value as a mapping",
        $"quote the template: \"{text.Replace("\"", "'", StringComparison.Ordinal)}\"");

    private void Remember(AnchorName anchor, YNode node)
    {
        if (!anchor.IsEmpty) _anchors[anchor.Value] = node;
    }

    private bool At(long index, string s) =>
        index >= 0 && index + s.Length <= _text.Length && string.CompareOrdinal(_text, (int)index, s, 0, s.Length) == 0;

    private SourceLocation Loc(Mark mark) => new(_file, (int)mark.Line, (int)mark.Column);

    private YScalar MakeScalar(Scalar scalar)
    {
        var location = Loc(scalar.Start);
        var content = location;
        var indent = 0;
        switch (scalar.Style)
        {
            case ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted:
                content = location with { Column = location.Column + 1 };
                break;
            case ScalarStyle.Literal or ScalarStyle.Folded:
                (content, indent) = BlockContentStart(scalar);
                break;
        }
        return new YScalar
        {
            Location = location,
            ContentLocation = content,
            Value = scalar.Value,
            Style = scalar.Style,
            BlockIndent = scalar.Style == ScalarStyle.Literal ? indent : 0,
            IsStrTagged = !scalar.Tag.IsEmpty && scalar.Tag.Value is "tag:yaml.org,2002:str" or "!!str",
        };
    }

    private (SourceLocation Content, int Indent) BlockContentStart(Scalar scalar)
    {
        var lines = _text.Split('\n');
        var headerLine = (int)scalar.Start.Line; // 1-based line of the '|' or '>'
        for (var i = headerLine; i < lines.Length; i++) // lines[i] is line i+1
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Trim().Length == 0) continue;
            var indent = line.Length - line.TrimStart(' ').Length;
            return (new SourceLocation(_file, headerLine + 1, indent + 1), indent);
        }
        return (Loc(scalar.Start), 0);
    }

    private void ReportSyntaxError(Mark mark, string message)
    {
        var line = (int)Math.Max(1, mark.Line);
        var column = (int)Math.Max(1, mark.Column);
        var lines = _text.Split('\n');
        // A value that starts with an unquoted '{{' is the usual cause; say so instead of the parser's words.
        for (var l = line; l >= Math.Max(1, line - 1); l--)
        {
            if (l > lines.Length) continue;
            var col = FindUnquotedTemplate(lines[l - 1].TrimEnd('\r'));
            if (col > 0)
            {
                var source = lines[l - 1].TrimEnd('\r');
                var end = source.IndexOf("}}", col - 1, StringComparison.Ordinal);
                var text = end >= 0 ? source[(col - 1)..(end + 2)] : "{{ ... }}";
                _diagnostics.Add(UnquotedTemplate(new SourceLocation(_file, l, col), text));
                return;
            }
        }
        _diagnostics.Add(new Diagnostic(
            DiagnosticCodes.YamlSyntax,
            DiagnosticSeverity.Error,
            mark.Line > 0 ? new SourceLocation(_file, line, column) : SourceLocation.None(_file),
            $"YAML syntax error: {message}",
            "check indentation, and quote values that contain ': ', '#', '{' or '['"));
    }

    /// <summary>1-based column of a '{{' that starts a value outside quotes, or 0.</summary>
    internal static int FindUnquotedTemplate(string line)
    {
        foreach (Match m in UnquotedTemplatePattern().Matches(line))
        {
            var index = m.Groups["t"].Index;
            var before = line[..index];
            if (before.Count(c => c == '"') % 2 == 0 && before.Count(c => c == '\'') % 2 == 0 && !before.Contains(" #", StringComparison.Ordinal))
                return index + 1;
        }
        return 0;
    }

    [GeneratedRegex(@"(?:^\s*|:\s+|^\s*-\s+|[\[,{]\s*)(?<t>\{\{)")]
    private static partial Regex UnquotedTemplatePattern();

    private static string CleanYamlMessage(string message)
    {
        // YamlDotNet prefixes "(Line: 1, Col: 2, Idx: 3) - (Line: ...): "; we print our own position.
        var index = message.LastIndexOf("): ", StringComparison.Ordinal);
        var text = index >= 0 && message.StartsWith("(Line", StringComparison.Ordinal) ? message[(index + 3)..] : message;
        text = text.Trim().TrimEnd('.');
        return text.Length > 0 ? char.ToLowerInvariant(text[0]) + text[1..] : text;
    }
}
