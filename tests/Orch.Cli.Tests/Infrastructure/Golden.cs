using System.Text;
using System.Text.RegularExpressions;

namespace Orch.Cli.Tests.Infrastructure;

/// <summary>
/// Golden files under tests/Orch.Cli.Tests/Golden. Output is normalised first (run ids, timestamps, durations,
/// temporary paths, trailing blanks). With ORCH_UPDATE_GOLDEN=1 the file is rewritten in the source tree
/// instead of compared.
/// </summary>
public static partial class Golden
{
    public static bool Updating => Environment.GetEnvironmentVariable("ORCH_UPDATE_GOLDEN") == "1";

    public static void Verify(string name, string actual, string? workingDirectory = null)
    {
        var normalised = Normalise(actual, workingDirectory);
        var path = Path.Combine(Repo.GoldenDirectory, name);
        if (Updating)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, normalised, new UTF8Encoding(false));
            return;
        }
        Assert.True(File.Exists(path), $"golden file {path} is missing; run the tests with ORCH_UPDATE_GOLDEN=1 to create it. Actual:\n{normalised}");
        var expected = File.ReadAllText(path).ReplaceLineEndings("\n");
        Assert.Equal(expected, normalised);
    }

    /// <summary>Replaces what changes from run to run with placeholders and drops trailing blanks.</summary>
    public static string Normalise(string text, string? workingDirectory = null)
    {
        text = text.ReplaceLineEndings("\n");
        if (workingDirectory is not null)
        {
            text = text.Replace(Path.TrimEndingDirectorySeparator(workingDirectory), "<work>", StringComparison.Ordinal);
        }
        text = RunId().Replace(text, "<run-id>");
        text = Timestamp().Replace(text, "<time>");
        text = Duration().Replace(text, "<duration>");
        var lines = text.Split('\n').Select(l => l.TrimEnd());
        return string.Join('\n', lines);
    }

    [GeneratedRegex(@"\b\d{8}-\d{6}-[A-Za-z0-9_-]+-[0-9a-f]{4}\b")]
    public static partial Regex RunId();

    [GeneratedRegex(@"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")]
    private static partial Regex Timestamp();

    [GeneratedRegex(@"\b(\d+\.\d+s|\d+m\d\ds|\d+(\.\d+)?ms)\b")]
    private static partial Regex Duration();
}
