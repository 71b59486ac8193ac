using System.Globalization;

namespace Orch.Bench;

/// <summary>
/// <c>make bench</c>: measures orch against its peers on this machine and prints one markdown table.
/// Benchmarks report; they never fail the build, so the exit code is 0 even when a target is missed.
/// </summary>
internal static class Program
{
    private const string Usage = """
        usage: Orch.Bench [--quick] [--only NAME[,NAME...]] [--runs N]
          --quick   smaller sizes for a smoke run (2,000 no-op, 200 shell, 16 MB corpus, 10,000 fan-out, 200 round trips)
          --only    run only these benchmarks: overhead, shell, wordcount, memory, redis-overhead, redis-wordcount
          --runs    repetitions per figure; the median is reported (default 3; slow ones run once)
        environment: ORCH (the orch binary; default artifacts/release/orch/orch as make release makes it),
                     ORCH_AGENT (the agent host; default artifacts/release/orch-agent/orch-agent),
                     ORCH_BENCH_CACHE (where the generated corpus is kept),
                     ORCH_BENCH_PYTHON (the Python with Celery and Dask; default /usr/bin/python3)
        """;

    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "count-words") return HandCounter.Run(args[1..], Console.Out);

        var quick = false;
        var runs = 3;
        var only = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick":
                    quick = true;
                    break;
                case "--only" when i + 1 < args.Length:
                    only.AddRange(args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
                    break;
                case "--runs" when i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var r) && r >= 1:
                    runs = r;
                    i++;
                    break;
                case "-h" or "--help":
                    Console.WriteLine(Usage);
                    return 0;
                default:
                    Console.Error.WriteLine($"unknown argument '{args[i]}'\n{Usage}");
                    return 2;
            }
        }
        var unknown = only.Where(o => !Benchmarks.Names.Contains(o)).ToList();
        if (unknown.Count > 0)
        {
            Console.Error.WriteLine($"unknown benchmark(s): {string.Join(", ", unknown)} (choose from {string.Join(", ", Benchmarks.Names)})");
            return 2;
        }
        var selected = only.Count == 0 ? Benchmarks.Names : Benchmarks.Names.Where(only.Contains).ToArray();

        // Runs over Redis sign their messages as a deployment would; agents and runs started by
        // the bench inherit this key.
        Environment.SetEnvironmentVariable("ORCH_CLUSTER_KEY", Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
        var root = FindRoot() ?? throw new InvalidOperationException("run from inside the repository (no Orchestrator.sln above the current directory)");
        var work = Path.Combine(Path.GetTempPath(), string.Create(CultureInfo.InvariantCulture, $"orch-bench-{Environment.ProcessId}"));
        Directory.CreateDirectory(work);
        var context = new BenchContext
        {
            Root = root,
            Orch = EnsureOrch(root),
            AgentPath = () => EnsureAgent(root),
            Work = work,
            Cache = Environment.GetEnvironmentVariable("ORCH_BENCH_CACHE") is { Length: > 0 } cache ? cache : Path.Combine(Path.GetTempPath(), "orch-bench-cache"),
            Self = SelfCommand(),
            Quick = quick,
            Runs = runs,
            Log = Console.Error,
        };

        context.Say($"{Environment.ProcessorCount} CPUs, {CpuModel()}, .NET {Environment.Version}; {(quick ? "quick sizes" : "full sizes")}, median of {runs}; load average {LoadAverage()}");
        context.Say($"orch binary: {context.Orch}");
        var rows = new List<Row>();
        var warnings = new List<string>();
        try
        {
            foreach (var name in selected)
            {
                try
                {
                    rows.AddRange(await Benchmarks.RunAsync(name, context, warnings));
                }
                catch (Exception ex) when (ex is BenchmarkException or IOException or InvalidOperationException or FormatException or System.ComponentModel.Win32Exception)
                {
                    rows.Add(new Row(name, "error", "-", "-", "-", false, $"{name} failed: {ex.Message}"));
                }
            }
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }

        Console.WriteLine();
        Console.WriteLine($"{Environment.ProcessorCount} CPUs, {CpuModel()}, .NET {Environment.Version}; load average at the end {LoadAverage()}");
        Console.WriteLine();
        Console.Write(Report.Markdown(rows));
        Console.WriteLine();
        foreach (var warning in warnings) Console.WriteLine($"WARNING: {warning}");
        var missed = rows.Where(r => r.Met == false).ToList();
        foreach (var row in missed) Console.WriteLine($"MISSED: {row.Benchmark}: {row.Diagnosis ?? row.Target}");
        Console.WriteLine(missed.Count == 0
            ? "all targets met"
            : string.Create(CultureInfo.InvariantCulture, $"{missed.Count} target(s) MISSED (benchmarks report only; exit code 0)"));
        return 0;
    }

    private static string? FindRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Orchestrator.sln"))) return dir.FullName;
            }
        }
        return null;
    }

    /// <summary>The orch binary to measure: <c>$ORCH</c>, else the release build <c>make release</c> makes.</summary>
    private static string EnsureOrch(string root) => Binary(root, "ORCH", Path.Combine("artifacts", "release", "orch", "orch"));

    /// <summary>The agent host for the Redis benchmarks: <c>$ORCH_AGENT</c>, else the release build <c>make release</c> makes.</summary>
    private static string EnsureAgent(string root) => Binary(root, "ORCH_AGENT", Path.Combine("artifacts", "release", "orch-agent", "orch-agent"));

    private static string Binary(string root, string variable, string releasePath)
    {
        if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } given) return Path.GetFullPath(given);
        var release = Path.Combine(root, releasePath);
        if (File.Exists(release)) return release;
        throw new BenchmarkException($"{releasePath} is missing: run make release first (make bench does), or name a binary in ${variable}");
    }

    /// <summary>This program again: its apphost, or <c>dotnet Orch.Bench.dll</c>.</summary>
    private static (string, string[]) SelfCommand()
    {
        var process = Environment.ProcessPath ?? "dotnet";
        return Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? (process, [typeof(Program).Assembly.Location])
            : (process, []);
    }

    /// <summary>The 1-minute load average: other work on the machine skews every figure.</summary>
    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "unknown"; }
    }

    private static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line is null ? "unknown CPU" : line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        }
        catch (IOException)
        {
            return "unknown CPU";
        }
    }
}
