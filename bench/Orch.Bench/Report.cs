using System.Globalization;
using System.Text;

namespace Orch.Bench;

/// <summary>One line of the results table. <see cref="Met"/> is null for rows shown for information only.</summary>
internal sealed record Row(string Benchmark, string Orch, string Peers, string Ratio, string Target, bool? Met, string? Diagnosis = null);

internal static class Report
{
    public static string Markdown(IReadOnlyList<Row> rows)
    {
        var header = new[] { "benchmark", "orch", "peers", "ratio", "target", "met?" };
        var cells = rows.Select(r => new[] { r.Benchmark, r.Orch, r.Peers, r.Ratio, r.Target, MetText(r.Met) }).ToList();
        var widths = header.Select((h, c) => Math.Max(h.Length, cells.Select(row => row[c].Length).DefaultIfEmpty(0).Max())).ToArray();
        var text = new StringBuilder();
        Line(text, header, widths);
        text.Append('|');
        foreach (var w in widths) text.Append(' ').Append('-', w).Append(" |");
        text.Append('\n');
        foreach (var row in cells) Line(text, row, widths);
        return text.ToString();
    }

    private static void Line(StringBuilder text, string[] cells, int[] widths)
    {
        text.Append('|');
        for (var c = 0; c < cells.Length; c++) text.Append(' ').Append(cells[c].PadRight(widths[c])).Append(" |");
        text.Append('\n');
    }

    private static string MetText(bool? met) => met switch { true => "yes", false => "**MISSED**", null => "info" };

    public static string Rate(double perSecond, string unit) => perSecond switch
    {
        double.NaN => "n/a",
        >= 100 => perSecond.ToString("N0", CultureInfo.InvariantCulture) + " " + unit,
        >= 10 => perSecond.ToString("N1", CultureInfo.InvariantCulture) + " " + unit,
        _ => perSecond.ToString("N2", CultureInfo.InvariantCulture) + " " + unit,
    };

    public static string Seconds(TimeSpan t) => t.TotalSeconds >= 10
        ? t.TotalSeconds.ToString("N1", CultureInfo.InvariantCulture) + " s"
        : t.TotalSeconds.ToString("N2", CultureInfo.InvariantCulture) + " s";

    public static string Millis(TimeSpan t) => t.TotalMilliseconds >= 100
        ? t.TotalMilliseconds.ToString("N0", CultureInfo.InvariantCulture) + " ms"
        : t.TotalMilliseconds.ToString("N1", CultureInfo.InvariantCulture) + " ms";

    public static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    public static string Factor(double x) => x.ToString("N2", CultureInfo.InvariantCulture) + "x";

    public static string Percent(double x) => (x * 100).ToString("N0", CultureInfo.InvariantCulture) + "%";

    public static string Megabytes(long bytes) => (bytes / 1e6).ToString("N1", CultureInfo.InvariantCulture) + " MB";
}
