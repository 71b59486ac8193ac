using System.Globalization;
using System.Text;

namespace Orch.Coordination.Artifacts;

/// <summary>
/// Artifact names are relative paths with <c>/</c> between segments. This checks them and maps
/// them to state keys and back.
/// </summary>
public static class ArtifactNames
{
    /// <summary>Longest name accepted, in characters.</summary>
    public const int MaxLength = 1024;

    /// <summary>
    /// Throws <see cref="ArtifactException"/> (<see cref="ArtifactError.InvalidName"/>) unless
    /// <paramref name="name"/> is a relative path that stays inside any directory it is written to.
    /// </summary>
    public static void Validate(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var problem = Problem(name);
        if (problem is not null)
            throw new ArtifactException(ArtifactError.InvalidName, name, $"artifact name '{Printable(name)}' is not allowed: {problem}");
    }

    public static bool IsValid(string name) => name is not null && Problem(name) is null;

    private static string? Problem(string name)
    {
        if (name.Length == 0) return "it is empty";
        if (name.Length > MaxLength) return $"it is longer than {MaxLength} characters";
        if (name[0] == '/' || Path.IsPathRooted(name)) return "it is absolute; use a relative path";
        if (name.Contains('\\', StringComparison.Ordinal)) return "it contains a backslash; separate segments with '/'";
        foreach (var c in name)
        {
            if (char.IsControl(c)) return "it contains a control character";
        }
        if (!IsWellFormedUtf16(name)) return "it is not valid Unicode";
        foreach (var segment in name.Split('/'))
        {
            if (segment.Length == 0) return "it has an empty segment ('//' or a trailing '/')";
            if (segment is "." or "..") return $"it has a '{segment}' segment, which could leave the target directory";
        }
        return null;
    }

    private static bool IsWellFormedUtf16(string text)
    {
        for (var i = 0; i < text.Length;)
        {
            if (Rune.DecodeFromUtf16(text.AsSpan(i), out _, out var used) != System.Buffers.OperationStatus.Done) return false;
            i += used;
        }
        return true;
    }

    /// <summary>
    /// Escapes a name (or a prefix of one) for use inside a state key. Letters, digits, <c>-</c>,
    /// <c>_</c>, <c>/</c> and a single <c>.</c> stay readable; every other character becomes
    /// <c>%XX</c> per UTF-8 byte. A <c>.</c> right after another is escaped because file-backed
    /// stores refuse keys containing <c>..</c>. Each character's escape depends only on itself and
    /// the one before, so the escape of a prefix is a prefix of the escape of the name, and key
    /// listing by prefix works on escaped names.
    /// </summary>
    internal static string Escape(string name)
    {
        var result = new StringBuilder(name.Length + 8);
        Span<byte> utf8 = stackalloc byte[4];
        var previous = '\0';
        foreach (var rune in name.EnumerateRunes())
        {
            var c = rune.IsBmp ? (char)rune.Value : '\0';
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '/' || (c == '.' && previous != '.'))
            {
                result.Append(c);
            }
            else
            {
                var length = rune.EncodeToUtf8(utf8);
                for (var i = 0; i < length; i++) result.Append('%').Append(utf8[i].ToString("X2", CultureInfo.InvariantCulture));
            }
            previous = c;
        }
        return result.ToString();
    }

    internal static string Unescape(string escaped)
    {
        if (!escaped.Contains('%', StringComparison.Ordinal)) return escaped;
        var bytes = new List<byte>(escaped.Length);
        for (var i = 0; i < escaped.Length; i++)
        {
            if (escaped[i] == '%' && i + 2 < escaped.Length && byte.TryParse(escaped.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b))
            {
                bytes.Add(b);
                i += 2;
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(escaped[i].ToString()));
            }
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>Shows a rejected name without letting control characters garble the message.</summary>
    internal static string Printable(string name)
    {
        var builder = new StringBuilder(name.Length);
        foreach (var c in name.Length > 200 ? name[..200] + "..." : name)
            builder.Append(char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString());
        return builder.ToString();
    }
}
