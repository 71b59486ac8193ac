namespace Orch.Agents.Shell;

/// <summary>
/// Reads the file a step writes its outputs to (<c>$ORCH_OUTPUT</c>), in the GitHub Actions format:
/// <c>key=value</c> lines, and <c>key&lt;&lt;DELIM</c> followed by value lines up to a line equal to <c>DELIM</c>.
/// </summary>
public static class OutputFile
{
    /// <summary>Parses the file; a missing file yields no outputs. Later keys replace earlier ones.</summary>
    /// <exception cref="FormatException">A line is malformed; the message names its line number.</exception>
    public static IReadOnlyDictionary<string, string> Parse(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return new Dictionary<string, string>(StringComparer.Ordinal);
        }

        return ParseText(text, path);
    }

    private static Dictionary<string, string> ParseText(string text, string path)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var lines = text.Split('\n');
        // A trailing newline does not start another line.
        var count = lines.Length > 0 && lines[^1].Length == 0 ? lines.Length - 1 : lines.Length;
        for (var i = 0; i < count; i++)
        {
            var line = TrimCr(lines[i]);
            if (line.Length == 0)
            {
                continue;
            }

            var lineNumber = i + 1;
            var equals = line.IndexOf('=', StringComparison.Ordinal);
            var heredoc = line.IndexOf("<<", StringComparison.Ordinal);
            if (heredoc >= 0 && (equals < 0 || heredoc < equals))
            {
                var key = line[..heredoc];
                var delimiter = line[(heredoc + 2)..];
                if (key.Length == 0)
                {
                    throw Malformed(path, lineNumber, "missing key before '<<'");
                }

                if (delimiter.Length == 0)
                {
                    throw Malformed(path, lineNumber, $"missing delimiter after '{key}<<'");
                }

                var value = new System.Text.StringBuilder();
                var closed = false;
                var first = true;
                for (i++; i < count; i++)
                {
                    var valueLine = TrimCr(lines[i]);
                    if (valueLine == delimiter)
                    {
                        closed = true;
                        break;
                    }

                    if (!first)
                    {
                        value.Append('\n');
                    }

                    value.Append(valueLine);
                    first = false;
                }

                if (!closed)
                {
                    throw Malformed(path, lineNumber, $"value of '{key}' is not terminated by a line '{delimiter}'");
                }

                result[key] = value.ToString();
            }
            else if (equals >= 0)
            {
                var key = line[..equals];
                if (key.Length == 0)
                {
                    throw Malformed(path, lineNumber, "missing key before '='");
                }

                result[key] = line[(equals + 1)..];
            }
            else
            {
                throw Malformed(path, lineNumber, "expected 'key=value' or 'key<<DELIMITER'");
            }
        }

        return result;
    }

    private static string TrimCr(string line) => line.EndsWith('\r') ? line[..^1] : line;

    private static FormatException Malformed(string path, int lineNumber, string reason) =>
        new($"{path}: line {lineNumber}: {reason}");
}
