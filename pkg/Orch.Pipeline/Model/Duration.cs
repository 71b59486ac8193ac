using System.Globalization;
using System.Text;

namespace Orch.Pipeline.Model;

/// <summary>
/// Durations as written in pipeline files: one or more number+unit parts such as
/// <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>2h</c>, <c>1h30m</c>, <c>1m30s</c> or <c>1.5s</c>.
/// A bare number has no unit and is rejected.
/// </summary>
public static class Duration
{
    /// <summary>The accepted forms, for messages.</summary>
    public const string AcceptedForms = "500ms, 30s, 5m, 2h, 1h30m, 1m30s, 1.5s";

    /// <summary>Parses a duration; false for empty text, bare numbers, unknown units and negative values.</summary>
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var s = text.Trim();
        var i = 0;
        decimal totalMs = 0;
        var parts = 0;
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
            if (i == start) return false;
            if (!decimal.TryParse(s.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
                return false;
            var unitStart = i;
            while (i < s.Length && char.IsAsciiLetter(s[i])) i++;
            decimal factor;
            switch (s[unitStart..i])
            {
                case "ms": factor = 1m; break;
                case "s": factor = 1000m; break;
                case "m": factor = 60_000m; break;
                case "h": factor = 3_600_000m; break;
                case "d": factor = 86_400_000m; break;
                default: return false;
            }
            totalMs += number * factor;
            parts++;
            if (totalMs > (decimal)TimeSpan.MaxValue.TotalMilliseconds / 2) return false;
        }
        if (parts == 0) return false;
        value = TimeSpan.FromTicks((long)decimal.Round(totalMs * TimeSpan.TicksPerMillisecond));
        return true;
    }

    /// <summary>Formats a duration in the same notation, largest units first: <c>1h30m</c>, <c>1s500ms</c>, <c>0s</c>.</summary>
    public static string Format(TimeSpan value)
    {
        if (value == TimeSpan.Zero) return "0s";
        var sb = new StringBuilder();
        if (value < TimeSpan.Zero)
        {
            sb.Append('-');
            value = value.Duration();
        }
        var hours = (long)value.TotalHours;
        if (hours > 0) sb.Append(hours.ToString(CultureInfo.InvariantCulture)).Append('h');
        if (value.Minutes > 0) sb.Append(value.Minutes.ToString(CultureInfo.InvariantCulture)).Append('m');
        if (value.Seconds > 0) sb.Append(value.Seconds.ToString(CultureInfo.InvariantCulture)).Append('s');
        var subSecondTicks = value.Ticks % TimeSpan.TicksPerSecond;
        if (subSecondTicks > 0)
        {
            var ms = (decimal)subSecondTicks / TimeSpan.TicksPerMillisecond;
            sb.Append(ms.ToString("0.####", CultureInfo.InvariantCulture)).Append("ms");
        }
        return sb.ToString();
    }
}
