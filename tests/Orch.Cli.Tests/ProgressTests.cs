using System.Text.RegularExpressions;
using Orch.Cli.Tests.Infrastructure;

namespace Orch.Cli.Tests;

/// <summary>Without a terminal, progress is plain timestamped lines and the summary ends with the run id and the logs.</summary>
public sealed partial class ProgressTests
{
    [Fact]
    public async Task PlainProgress_IsTimestamped_AndSummaryEndsWithRunIdAndLogs()
    {
        using var dir = new TempDir();
        dir.Write("valid.yml", Pipelines.Valid);

        var result = await OrchCli.RunAsync(dir.Path, "run", "valid.yml");

        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Stdout.Split('\n').Select(l => l.TrimEnd()).ToList();
        Assert.DoesNotContain(lines, l => l.Contains('\u001b', StringComparison.Ordinal)); // no ANSI escapes in logs
        var progress = lines.TakeWhile(l => l.Length > 0).ToList();
        Assert.NotEmpty(progress);
        Assert.All(progress, l => Assert.Matches(ProgressLine(), l));
        Assert.Contains(progress, l => l.EndsWith("start   one", StringComparison.Ordinal));
        Assert.Contains(progress, l => l.EndsWith("done    two: succeeded", StringComparison.Ordinal));
        var times = progress.Select(l => DateTimeOffset.Parse(l[..24], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(times.Order(), times);
        Assert.True((DateTimeOffset.UtcNow - times[0]).Duration() < TimeSpan.FromMinutes(5), "timestamps are not UTC now");

        var runId = Path.GetFileName(Assert.Single(dir.RunDirectories()));
        var tail = lines.Where(l => l.Length > 0).TakeLast(2).ToList();
        Assert.Matches($@"^run {Regex.Escape(runId)} succeeded in \d+(\.\d+)?m?s$", tail[0]);
        Assert.Equal($"logs: {Path.Combine(".orch", "runs", runId, "logs")}", tail[1]);
        Assert.True(Directory.Exists(dir[tail[1]["logs: ".Length..]]));
    }

    [Fact]
    public async Task PlainOption_AndJson_KeepStdoutClean()
    {
        using var dir = new TempDir();
        dir.Write("valid.yml", Pipelines.Valid);

        var result = await OrchCli.RunAsync(dir.Path, "run", "valid.yml", "--plain", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.StartsWith("{", result.Stdout.TrimStart(), StringComparison.Ordinal);
        var progress = result.Stderr.Split('\n').TakeWhile(l => l.Trim().Length > 0).ToList();
        Assert.NotEmpty(progress);
        Assert.All(progress, l => Assert.Matches(ProgressLine(), l.TrimEnd()));
    }

    [Fact]
    public async Task TaskLogs_HoldTheOutputOfEachAttempt()
    {
        using var dir = new TempDir();
        dir.Write("valid.yml", Pipelines.Valid);

        var result = await OrchCli.RunAsync(dir.Path, "run", "valid.yml");

        Assert.True(result.ExitCode == 0, result.ToString());
        var run = Assert.Single(dir.RunDirectories());
        Assert.Contains("one", File.ReadAllText(Path.Combine(run, "logs", "one", "attempt-1.log")), StringComparison.Ordinal);
        Assert.Contains("two", File.ReadAllText(Path.Combine(run, "logs", "two", "attempt-1.log")), StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(run, "state.json")));
    }

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (start|done|stop|fail|retry|warning|progress) +\S")]
    private static partial Regex ProgressLine();
}
