using System.Diagnostics;
using System.Globalization;

namespace Orch.Bench;

/// <summary>How a child process went: exit code, wall clock from start to exit, output, and peak RSS when asked for.</summary>
internal sealed record ProcessResult(int ExitCode, TimeSpan Elapsed, string StdOut, string StdErr, long? PeakRssBytes, DateTimeOffset StartedAt)
{
    public ProcessResult EnsureSuccess(string what)
    {
        if (ExitCode == 0) return this;
        var tail = StdErr.Length > 2000 ? StdErr[^2000..] : StdErr;
        if (tail.Trim().Length == 0) tail = StdOut.Length > 2000 ? StdOut[^2000..] : StdOut;
        throw new BenchmarkException($"{what} exited with {ExitCode}: {tail.Trim()}");
    }
}

internal sealed class BenchmarkException(string message) : Exception(message);

internal static class Measure
{
    private const string TimeBinary = "/usr/bin/time";

    /// <summary>Runs a program to completion and times it (wall clock, including process start).</summary>
    public static ProcessResult Run(string program, IEnumerable<string> arguments, string workingDirectory, IReadOnlyDictionary<string, string>? environment = null, bool peakMemory = false)
    {
        string? timeOutput = null;
        var info = new ProcessStartInfo
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (peakMemory && File.Exists(TimeBinary))
        {
            // GNU time reports the child's maximum resident set size (KiB) into a file of its own.
            timeOutput = Path.Combine(workingDirectory, $"maxrss-{Guid.NewGuid():N}.txt");
            info.FileName = TimeBinary;
            foreach (var a in (string[])["-f", "%M", "-o", timeOutput, program]) info.ArgumentList.Add(a);
        }
        else
        {
            info.FileName = program;
        }
        foreach (var a in arguments) info.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;

        var startedAt = DateTimeOffset.UtcNow;
        var stopwatch = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new BenchmarkException($"could not start {program}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        long? peak = null;
        if (peakMemory && timeOutput is null)
        {
            // No GNU time: poll the high-water mark until the process is gone.
            while (!process.WaitForExit(5)) peak = Math.Max(peak ?? 0, ReadHighWaterMark(process.Id) ?? 0);
        }
        process.WaitForExit();
        var elapsed = stopwatch.Elapsed;
        if (timeOutput is not null)
        {
            var text = File.Exists(timeOutput) ? File.ReadAllText(timeOutput) : "";
            var last = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
            if (long.TryParse(last, NumberStyles.Integer, CultureInfo.InvariantCulture, out var kib)) peak = kib * 1024;
            File.Delete(timeOutput);
        }
        return new ProcessResult(process.ExitCode, elapsed, stdout.Result, stderr.Result, peak, startedAt);
    }

    /// <summary>Runs a command line through <c>/bin/sh -c</c>.</summary>
    public static ProcessResult Shell(string command, string workingDirectory, IReadOnlyDictionary<string, string>? environment = null) =>
        Run("/bin/sh", ["-c", command], workingDirectory, environment);

    private static long? ReadHighWaterMark(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (!line.StartsWith("VmHWM:", StringComparison.Ordinal)) continue;
                var digits = line["VmHWM:".Length..].Trim().Split(' ')[0];
                return long.Parse(digits, CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return null;
    }

    public static bool OnPath(string command) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, command)));

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        if (sorted.Count == 0) return double.NaN;
        var mid = sorted.Count / 2;
        return sorted.Count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    public static TimeSpan Median(IEnumerable<TimeSpan> values) => TimeSpan.FromTicks((long)Median(values.Select(v => (double)v.Ticks)));
}
