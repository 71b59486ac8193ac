using System.Globalization;
using System.Text;

namespace Orch.Pipeline.Diagnostics;

/// <summary>
/// Renders diagnostics the way compilers do:
/// <code>
/// wordcount.yml:12:5: error ORCH003: unknown key 'nedes' in task 'count'
///    12 |     nedes: [split]
///       |     ^^^^^
///   hint: did you mean 'needs'?
/// </code>
/// </summary>
public static class DiagnosticFormatter
{
    private const int GutterWidth = 5;

    public static string Format(Diagnostic d, string? sourceText)
    {
        ArgumentNullException.ThrowIfNull(d);
        var sb = new StringBuilder();
        sb.Append(d.Location.ToString()).Append(": ")
          .Append(d.IsError ? "error" : "warning").Append(' ')
          .Append(d.Code).Append(": ").Append(d.Message).Append('\n');
        var line = GetLine(sourceText, d.Location.Line);
        if (line is not null)
        {
            var number = d.Location.Line.ToString(CultureInfo.InvariantCulture);
            var width = Math.Max(GutterWidth, number.Length);
            var column = Math.Clamp(d.Location.Column, 1, line.Length + 1);
            var padding = new StringBuilder();
            for (var i = 0; i < column - 1; i++) padding.Append(line[i] == '\t' ? '\t' : ' ');
            sb.Append(number.PadLeft(width)).Append(" | ").Append(line).Append('\n');
            sb.Append(new string(' ', width)).Append(" | ").Append(padding).Append('^', TokenLength(line, column - 1)).Append('\n');
        }
        if (!string.IsNullOrEmpty(d.Hint)) sb.Append("  hint: ").Append(d.Hint).Append('\n');
        return sb.ToString();
    }

    /// <summary>All diagnostics, separated by blank lines, then a summary such as <c>2 errors, 1 warning</c>.</summary>
    public static string FormatAll(IEnumerable<Diagnostic> diagnostics, string? sourceText)
    {
        ArgumentNullException.ThrowIfNull(diagnostics);
        var sb = new StringBuilder();
        int errors = 0, warnings = 0;
        foreach (var d in diagnostics)
        {
            if (d.IsError) errors++;
            else warnings++;
            sb.Append(Format(d, sourceText)).Append('\n');
        }
        sb.Append(Summary(errors, warnings)).Append('\n');
        return sb.ToString();
    }

    public static string Summary(int errors, int warnings) =>
        $"{errors} {(errors == 1 ? "error" : "errors")}, {warnings} {(warnings == 1 ? "warning" : "warnings")}";

    private static string? GetLine(string? text, int line)
    {
        if (text is null || line <= 0) return null;
        var current = 1;
        var start = 0;
        while (current < line)
        {
            var next = text.IndexOf('\n', start);
            if (next < 0) return null;
            start = next + 1;
            current++;
        }
        var end = text.IndexOf('\n', start);
        var result = end < 0 ? text[start..] : text[start..end];
        return result.TrimEnd('\r');
    }

    /// <summary>Guesses the length of the token starting at <paramref name="start"/> (0-based) for the caret line.</summary>
    internal static int TokenLength(string line, int start)
    {
        if (start >= line.Length) return 1;
        var c = line[start];
        int end;
        if (c is '"' or '\'')
        {
            end = start + 1;
            while (end < line.Length)
            {
                if (c == '"' && line[end] == '\\') { end += 2; continue; }
                if (line[end] == c)
                {
                    if (c == '\'' && end + 1 < line.Length && line[end + 1] == '\'') { end += 2; continue; }
                    return end - start + 1;
                }
                end++;
            }
            return 1;
        }
        if (c == '{' && start + 1 < line.Length && line[start + 1] == '{')
        {
            end = line.IndexOf("}}", start + 2, StringComparison.Ordinal);
            return end < 0 ? 2 : end + 2 - start;
        }
        if (c is '{' or '[')
        {
            var close = c == '{' ? '}' : ']';
            var depth = 0;
            for (end = start; end < line.Length; end++)
            {
                if (line[end] == c) depth++;
                else if (line[end] == close && --depth == 0) return end - start + 1;
            }
            return 1;
        }
        if (InsideTemplate(line, start))
        {
            end = start;
            while (end < line.Length && !char.IsWhiteSpace(line[end]) && line[end] is not ('}' or '|' or '(' or ')' or ',' or '[' or ']'))
                end++;
            return Math.Max(1, end - start);
        }
        end = start;
        while (end < line.Length)
        {
            var ch = line[end];
            if (ch is ',' or ']' or '}' or '"' or '\'') break;
            if (ch == ':' && (end + 1 == line.Length || line[end + 1] == ' ')) break;
            if (ch == '#' && end > start && line[end - 1] == ' ') break;
            end++;
        }
        return Math.Max(1, line[start..end].TrimEnd().Length);
    }

    private static bool InsideTemplate(string line, int position)
    {
        var open = line.LastIndexOf("{{", Math.Max(0, position - 1), StringComparison.Ordinal);
        if (position < 2 || open < 0) return false;
        var close = line.LastIndexOf("}}", position - 1, StringComparison.Ordinal);
        return close < open;
    }
}
