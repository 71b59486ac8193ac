using System.Globalization;
using System.Text.Json;
using Orch.Engine;
using Orch.Hosting;

namespace Orch.Bench;

/// <summary>Where things are and how big to make them.</summary>
internal sealed class BenchContext
{
    public required string Root { get; init; }
    public required string Orch { get; init; }
    /// <summary>Finds (or publishes) the agent host; only the Redis benchmarks need it.</summary>
    public required Func<string> AgentPath { get; init; }
    public string Agent => _agent ??= AgentPath();
    private string? _agent;
    public required string Work { get; init; }
    public required string Cache { get; init; }
    /// <summary>How to start this program again (for the hand-written counter): program, then leading arguments.</summary>
    public required (string Program, string[] Prefix) Self { get; init; }
    public required bool Quick { get; init; }
    public required int Runs { get; init; }
    public required TextWriter Log { get; init; }
    /// <summary>A measurement taking longer than this is not repeated.</summary>
    public TimeSpan Slow { get; init; } = TimeSpan.FromSeconds(20);

    public int NoopTasks => Quick ? 2_000 : 20_000;
    public int ShellTasks => Quick ? 200 : 2_000;
    public long CorpusBytes => Quick ? 16_000_000 : 256_000_000;
    public int FanOutTasks => Quick ? 10_000 : 100_000;
    /// <summary>Sequential single tasks timed for the round-trip latency over Redis.</summary>
    public int LatencySamples => Quick ? 200 : 1_000;

    public string BenchPipeline(string name) => Path.Combine(Root, "bench", "pipelines", name);

    public string WorkDir(string name)
    {
        var dir = Path.Combine(Work, name);
        Directory.CreateDirectory(dir);
        return dir;
    }

    public void Say(string message) => Log.WriteLine($"bench: {message}");

    public ProcessResult RunOrch(string workingDirectory, params string[] arguments) =>
        Measure.Run(Orch, arguments, workingDirectory).EnsureSuccess($"orch {string.Join(' ', arguments)}");
}

internal static class Benchmarks
{
    public static readonly string[] Names = ["overhead", "shell", "wordcount", "memory", "redis-overhead", "redis-wordcount"];

    public static Task<List<Row>> RunAsync(string name, BenchContext context, List<string> warnings) => name switch
    {
        "overhead" => OverheadAsync(context),
        "shell" => ShellAsync(context),
        "wordcount" => Task.FromResult(WordCount(context, warnings)),
        "memory" => Task.FromResult(Memory(context)),
        "redis-overhead" => Task.FromResult(RedisBenchmarks.Guard(() => RedisBenchmarks.Overhead(context, warnings))),
        "redis-wordcount" => Task.FromResult(RedisBenchmarks.Guard(() => RedisBenchmarks.WordCount(context, warnings))),
        _ => throw new ArgumentException($"unknown benchmark '{name}'", nameof(name)),
    };

    internal static string Param(string name, long value) => string.Create(CultureInfo.InvariantCulture, $"{name}={value}");

    /// <summary>Runs a bench pipeline in this process on the embedded default and returns its report.</summary>
    private static async Task<RunReport> RunInProcessAsync(BenchContext context, string pipeline, string workingDirectory, int? maxParallel, params KeyValuePair<string, string>[] parameters)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var outcome = await new RunService().RunAsync(new RunRequest
        {
            PipelineFile = context.BenchPipeline(pipeline),
            Params = parameters,
            WorkingDirectory = workingDirectory,
            MaxParallel = maxParallel,
        }, observer: null, progress: null, CancellationToken.None).ConfigureAwait(false);
        if (outcome is not RunCompleted { Report: var report })
            throw new BenchmarkException($"{pipeline}: did not run ({outcome.GetType().Name})");
        if (report.Status != RunStatus.Succeeded) throw new BenchmarkException($"{pipeline}: run {report.Status}");
        return report;
    }

    // 1. Orchestration overhead: no-op tasks in one fan-out.
    private static async Task<List<Row>> OverheadAsync(BenchContext context)
    {
        var n = context.NoopTasks;
        var dir = context.WorkDir("overhead");
        var nParam = new KeyValuePair<string, string>("n", n.ToString(CultureInfo.InvariantCulture));

        context.Say($"overhead: warm-up ({Math.Min(n, 2_000)} no-op tasks in process)");
        await RunInProcessAsync(context, "noop.yml", dir, null, new KeyValuePair<string, string>("n", Math.Min(n, 2_000).ToString(CultureInfo.InvariantCulture))).ConfigureAwait(false);

        var reports = new List<RunReport>();
        var wall = new List<TimeSpan>();
        for (var r = 0; r < context.Runs; r++)
        {
            var report = await RunInProcessAsync(context, "noop.yml", dir, null, nParam).ConfigureAwait(false);
            reports.Add(report);
            var binary = context.RunOrch(dir, "run", context.BenchPipeline("noop.yml"), "-p", Param("n", n));
            wall.Add(binary.Elapsed);
            context.Say($"overhead: run {r + 1}: in process {Report.Seconds(report.Elapsed)} (ready->done p50 {Report.Millis(report.Latency.P50)}, p99 {Report.Millis(report.Latency.P99)}; dispatch->done p50 {Report.Millis(report.DispatchLatency.P50)}, p99 {Report.Millis(report.DispatchLatency.P99)}), orch binary {Report.Seconds(binary.Elapsed)}");
        }

        var elapsed = Measure.Median(reports.Select(r => r.Elapsed));
        var rate = n / elapsed.TotalSeconds;
        var p50 = Measure.Median(reports.Select(r => r.Latency.P50));
        var p99 = Measure.Median(reports.Select(r => r.Latency.P99));
        var dispatch50 = Measure.Median(reports.Select(r => r.DispatchLatency.P50));
        var dispatch99 = Measure.Median(reports.Select(r => r.DispatchLatency.P99));
        var binaryWall = Measure.Median(wall);
        const double target = 20_000;
        return
        [
            new Row($"no-op tasks, embedded in process ({Report.Count(n)})",
                $"{Report.Rate(rate, "tasks/s")} ({Report.Seconds(elapsed)}); ready->done p50 {Report.Millis(p50)}, p99 {Report.Millis(p99)}; dispatch->done p50 {Report.Millis(dispatch50)}, p99 {Report.Millis(dispatch99)}",
                "-", "-", "≥ 20,000 tasks/s", rate >= target,
                rate >= target ? null : $"{Report.Millis(elapsed / n * 1000)} per 1,000 no-op tasks in process"),
            new Row($"no-op tasks, `orch run` binary end to end ({Report.Count(n)})",
                $"{Report.Rate(n / binaryWall.TotalSeconds, "tasks/s")} (wall {Report.Seconds(binaryWall)}, incl. process start)",
                "-", "-", "info", null),
        ];
    }

    // 2. Shell tasks that run `true`, two at a time, beside raw spawning and GNU parallel.
    private static async Task<List<Row>> ShellAsync(BenchContext context)
    {
        var n = context.ShellTasks;
        var dir = context.WorkDir("shell");
        var nParam = new KeyValuePair<string, string>("n", n.ToString(CultureInfo.InvariantCulture));
        var peers = new List<(string Label, string Command)>
        {
            ("xargs -P2 -n1 sh -c true", $"seq {n} | xargs -P2 -n1 sh -c true"),
            ("xargs -P2 -n1 true", $"seq {n} | xargs -P2 -n1 true"),
        };
        var haveParallel = Measure.OnPath("parallel");
        if (haveParallel) peers.Add(("parallel -j2 true", $"seq {n} | parallel -j2 true"));

        // Warm up long enough for tiered compilation to settle, so runs measure the steady state.
        var warmUp = Math.Min(n, 1_000);
        context.Say($"shell: warm-up ({warmUp} shell tasks in process)");
        await RunInProcessAsync(context, "shell.yml", dir, 2, new KeyValuePair<string, string>("n", warmUp.ToString(System.Globalization.CultureInfo.InvariantCulture))).ConfigureAwait(false);

        var inProcess = new List<TimeSpan>();
        var binary = new List<TimeSpan>();
        var peerTimes = peers.ToDictionary(p => p.Label, _ => new List<TimeSpan>());
        for (var r = 0; r < context.Runs; r++)
        {
            var report = await RunInProcessAsync(context, "shell.yml", dir, 2, nParam).ConfigureAwait(false);
            inProcess.Add(report.Elapsed);
            var viaBinary = context.RunOrch(dir, "run", context.BenchPipeline("shell.yml"), "-p", Param("n", n), "--max-parallel", "2");
            binary.Add(viaBinary.Elapsed);
            var line = $"shell: run {r + 1}: orch in process {Report.Seconds(report.Elapsed)}, orch binary {Report.Seconds(viaBinary.Elapsed)}";
            foreach (var (label, command) in peers)
            {
                if (r > 0 && peerTimes[label][0] > context.Slow) continue;
                var result = Measure.Shell(command, dir).EnsureSuccess(label);
                peerTimes[label].Add(result.Elapsed);
                line += $", {label} {Report.Seconds(result.Elapsed)}";
            }
            context.Say(line);
        }

        double RateOf(List<TimeSpan> times) => n / Measure.Median(times).TotalSeconds;
        var orch = RateOf(inProcess);
        var rawSh = RateOf(peerTimes["xargs -P2 -n1 sh -c true"]);
        var rawTrue = RateOf(peerTimes["xargs -P2 -n1 true"]);
        var orchText = $"{Report.Rate(orch, "tasks/s")} ({Report.Seconds(Measure.Median(inProcess))})";
        var rows = new List<Row>();
        if (haveParallel)
        {
            var parallel = RateOf(peerTimes["parallel -j2 true"]);
            var met = orch >= 5 * parallel;
            rows.Add(new Row($"`run: \"true\"` ×{Report.Count(n)}, 2 at a time, vs GNU parallel", orchText,
                $"`parallel -j2 true`: {Report.Rate(parallel, "tasks/s")}", Report.Factor(orch / parallel), "≥ 5x GNU parallel", met,
                met ? null : $"{Report.Millis(TimeSpan.FromSeconds(2 / orch))} per task per slot in orch vs {Report.Millis(TimeSpan.FromSeconds(2 / parallel))} for GNU parallel"));
        }
        else
        {
            rows.Add(new Row($"`run: \"true\"` ×{Report.Count(n)}, 2 at a time, vs GNU parallel", orchText,
                "GNU parallel not installed", "-", "≥ 5x GNU parallel", false, "install GNU parallel (scripts/install-deps.sh bench) to measure this row"));
        }
        var rawMet = orch >= 0.7 * rawSh;
        rows.Add(new Row($"`run: \"true\"` ×{Report.Count(n)}, 2 at a time, vs raw spawning", orchText,
            $"`xargs -P2 -n1 sh -c true`: {Report.Rate(rawSh, "tasks/s")}; `xargs -P2 -n1 true`: {Report.Rate(rawTrue, "tasks/s")}",
            $"{Report.Percent(orch / rawSh)} of `sh -c true`", "≥ 70% of `xargs … sh -c true` (orch runs `/bin/sh -e -c true`)", rawMet,
            rawMet ? null : $"{Report.Millis(TimeSpan.FromSeconds(2 / orch))} per task per slot in orch vs {Report.Millis(TimeSpan.FromSeconds(2 / rawSh))} for xargs"));
        var binaryWall = Measure.Median(binary);
        rows.Add(new Row($"`run: \"true\"` ×{Report.Count(n)}, `orch run --max-parallel 2` binary end to end",
            $"{Report.Rate(n / binaryWall.TotalSeconds, "tasks/s")} (wall {Report.Seconds(binaryWall)})", "-", "-", "info", null));
        return rows;
    }

    // 3. Word count of a generated corpus.
    private static List<Row> WordCount(BenchContext context, List<string> warnings)
    {
        var corpus = EnsureCorpus(context);
        var bytes = Directory.EnumerateFiles(corpus).Where(f => !Path.GetFileName(f).StartsWith('.')).Sum(f => new FileInfo(f).Length);
        var dir = context.WorkDir("wordcount");
        var wordcount = Path.Combine(context.Root, "pipelines", "wordcount.yml");
        var classic = "cat \"$DIR\"/* | tr -cs 'A-Za-z' '\\n' | tr A-Z a-z | sort | uniq -c | sort -rn";
        var env = new Dictionary<string, string> { ["LC_ALL"] = "C" };

        SanityCheck(context, corpus, dir, wordcount, classic, env, warnings);

        // Bring the corpus into the page cache so no contender pays for the disk.
        foreach (var file in Directory.EnumerateFiles(corpus)) using (var s = File.OpenRead(file)) s.CopyTo(Stream.Null);

        var orchRuns = new List<ProcessResult>();
        var handTimes = new List<TimeSpan>();
        long? orchTotal = null, handTotal = null;
        var output = Path.Combine(dir, "wordcount.json");
        for (var r = 0; r < context.Runs; r++)
        {
            var orch = context.RunOrch(dir, "run", wordcount, "-p", $"input={corpus}", "-p", $"output={output}");
            orchRuns.Add(orch);
            orchTotal = ReadOrchTotal(output);
            var hand = HandCount(context, corpus, dir);
            handTimes.Add(hand.Elapsed);
            handTotal = ReadHandTotal(hand.StdOut);
            context.Say($"wordcount: run {r + 1}: orch {Report.Seconds(orch.Elapsed)}, hand-written {Report.Seconds(hand.Elapsed)}");
            if (orch.Elapsed > context.Slow && hand.Elapsed > context.Slow) break;
        }
        if (orchTotal != handTotal)
            warnings.Add($"word count: orch counted {orchTotal} words in the corpus but the hand-written counter {handTotal}");

        var classicTimes = new List<TimeSpan>();
        for (var r = 0; r < context.Runs; r++)
        {
            var result = Measure.Shell($"{classic} > /dev/null", dir, new Dictionary<string, string>(env) { ["DIR"] = corpus }).EnsureSuccess("tr|sort|uniq");
            classicTimes.Add(result.Elapsed);
            context.Say($"wordcount: tr|sort|uniq run {r + 1}: {Report.Seconds(result.Elapsed)}");
            if (result.Elapsed > context.Slow) break;
        }

        double Mbps(TimeSpan t) => bytes / 1e6 / t.TotalSeconds;
        var orchTime = Measure.Median(orchRuns.Select(r => r.Elapsed));
        var typical = orchRuns.OrderBy(r => r.Elapsed).ElementAt(orchRuns.Count / 2);
        var phases = Phases(typical);
        context.Say($"wordcount: orch phases (run of {Report.Seconds(typical.Elapsed)}): {phases}");
        var handTime = Measure.Median(handTimes);
        var classicTime = Measure.Median(classicTimes);
        var size = Report.Megabytes(bytes);
        var orchText = $"{Report.Rate(Mbps(orchTime), "MB/s")} ({Report.Seconds(orchTime)})";
        var vsHand = orchTime / handTime;
        var vsClassic = classicTime / orchTime;
        var classicRuns = classicTimes.Count == 1 ? ", 1 run" : "";
        return
        [
            new Row($"word count, {size}, `orch run pipelines/wordcount.yml` vs hand-written 2-thread counter", orchText,
                $"hand-written: {Report.Rate(Mbps(handTime), "MB/s")} ({Report.Seconds(handTime)})",
                $"orch takes {Report.Factor(vsHand)} the time", "≤ 1.3x the hand-written time", vsHand <= 1.3,
                vsHand <= 1.3 ? null : $"orch {Report.Seconds(orchTime)} vs hand-written {Report.Seconds(handTime)}; orch phases: {phases}"),
            new Row($"word count, {size}, vs `tr|tr|sort|uniq -c|sort -rn` (ASCII-only, LC_ALL=C)", orchText,
                $"tr|sort|uniq: {Report.Rate(Mbps(classicTime), "MB/s")} ({Report.Seconds(classicTime)}{classicRuns})",
                $"{Report.Factor(vsClassic)} faster", "≥ 10x", vsClassic >= 10,
                vsClassic >= 10 ? null : $"orch {Report.Seconds(orchTime)} vs tr|sort|uniq {Report.Seconds(classicTime)}; orch phases: {phases}"),
        ];
    }

    /// <summary>
    /// Where an <c>orch run</c> spent its wall clock, from its plain progress lines
    /// (<c>TIMESTAMP start TASK</c>, <c>TIMESTAMP done TASK: ...</c>): start-up to the first task, each task, and the exit.
    /// </summary>
    internal static string Phases(ProcessResult run)
    {
        var spans = new List<(string Task, DateTimeOffset Start, DateTimeOffset? Done)>();
        foreach (var line in run.StdOut.Split('\n'))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 3 || !DateTimeOffset.TryParse(parts[0], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)) continue;
            var task = parts[2].TrimEnd(':');
            if (parts[1] == "start") spans.Add((task, at, null));
            else if (parts[1] == "done" && spans.FindLastIndex(s => s.Task == task) is var k and >= 0) spans[k] = (task, spans[k].Start, at);
        }
        if (spans.Count == 0) return "no progress lines";
        var end = run.StartedAt + run.Elapsed;
        var text = new List<string> { $"start-up {Report.Seconds(spans[0].Start - run.StartedAt)}" };
        text.AddRange(spans.Select(s => $"{s.Task} {(s.Done is { } done ? Report.Seconds(done - s.Start) : "?")}"));
        if (spans[^1].Done is { } last) text.Add($"exit {Report.Seconds(end - last)}");
        return string.Join(", ", text);
    }

    private static ProcessResult HandCount(BenchContext context, string input, string dir) =>
        Measure.Run(context.Self.Program, [.. context.Self.Prefix, "count-words", input], dir).EnsureSuccess("hand-written counter");

    private static long ReadOrchTotal(string json)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(json));
        return document.RootElement.GetProperty("total_words").GetInt64();
    }

    private static long ReadHandTotal(string stdout)
    {
        var line = stdout.Split('\n').First(l => l.StartsWith("total_words ", StringComparison.Ordinal));
        return long.Parse(line["total_words ".Length..], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Generates the corpus once into the cache directory with the <c>wordcount/generate</c> action
    /// (through <c>orch run bench/pipelines/generate.yml</c>) and reuses it afterwards.
    /// </summary>
    internal static string EnsureCorpus(BenchContext context)
    {
        var corpus = Path.Combine(context.Cache, string.Create(CultureInfo.InvariantCulture, $"corpus-{context.CorpusBytes}-seed1"));
        var marker = corpus + ".complete";
        if (File.Exists(marker)) return corpus;
        if (Directory.Exists(corpus)) Directory.Delete(corpus, recursive: true);
        context.Say($"wordcount: generating a {Report.Megabytes(context.CorpusBytes)} corpus into {corpus}");
        context.RunOrch(context.WorkDir("generate"), "run", context.BenchPipeline("generate.yml"),
            "-p", $"output={corpus}", "-p", Param("size", context.CorpusBytes), "-p", "files=8", "-p", "seed=1");
        File.WriteAllText(marker, "");
        return corpus;
    }

    /// <summary>
    /// The three counters must agree on the total word count of an ASCII-only slice of the corpus (every
    /// byte ≥ 0x80 replaced by a space), where the classic pipeline's ASCII word definition is the same.
    /// </summary>
    private static void SanityCheck(BenchContext context, string corpus, string dir, string wordcount, string classic, Dictionary<string, string> env, List<string> warnings)
    {
        var slice = Path.Combine(dir, "ascii-slice");
        Directory.CreateDirectory(slice);
        var first = Directory.EnumerateFiles(corpus).Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal).First();
        var length = (int)Math.Min(new FileInfo(first).Length, context.Quick ? 1 << 20 : 4 << 20);
        var data = new byte[length];
        using (var s = File.OpenRead(first)) s.ReadExactly(data);
        for (var k = 0; k < data.Length; k++) if (data[k] >= 0x80) data[k] = (byte)' ';
        File.WriteAllBytes(Path.Combine(slice, "slice.txt"), data);

        var output = Path.Combine(dir, "slice.json");
        context.RunOrch(dir, "run", wordcount, "-p", $"input={slice}", "-p", $"output={output}");
        var orch = ReadOrchTotal(output);
        var hand = ReadHandTotal(HandCount(context, slice, dir).StdOut);
        var sum = Measure.Shell($"{classic} | awk '$2 != \"\" {{ s += $1 }} END {{ print s + 0 }}'", dir, new Dictionary<string, string>(env) { ["DIR"] = slice })
            .EnsureSuccess("tr|sort|uniq (sanity)").StdOut.Trim();
        var classicTotal = long.Parse(sum, CultureInfo.InvariantCulture);
        context.Say($"wordcount: ASCII-only slice of {Report.Megabytes(length)}: total words orch {orch}, hand-written {hand}, tr|sort|uniq {classicTotal}");
        if (orch != hand || orch != classicTotal)
            warnings.Add($"sanity: the counters disagree on the ASCII-only slice: orch {orch}, hand-written {hand}, tr|sort|uniq {classicTotal}");
    }

    // 4. Peak memory of a large fan-out through the binary.
    private static List<Row> Memory(BenchContext context)
    {
        var n = context.FanOutTasks;
        var dir = context.WorkDir("memory");
        var peaks = new List<double>();
        var walls = new List<TimeSpan>();
        for (var r = 0; r < context.Runs; r++)
        {
            var result = Measure.Run(context.Orch, ["run", context.BenchPipeline("noop.yml"), "-p", Param("n", n)], dir, peakMemory: true)
                .EnsureSuccess("orch run (memory)");
            if (result.PeakRssBytes is not { } peak) throw new BenchmarkException("could not read the peak RSS (no /usr/bin/time and /proc polling failed)");
            peaks.Add(peak);
            walls.Add(result.Elapsed);
            context.Say($"memory: run {r + 1}: peak RSS {Report.Megabytes(peak)}, wall {Report.Seconds(result.Elapsed)}");
            if (result.Elapsed > context.Slow) break;
        }
        var median = (long)Measure.Median(peaks);
        return
        [
            new Row($"peak RSS, `orch run` of a {Report.Count(n)}-task no-op fan-out", $"{Report.Megabytes(median)} (wall {Report.Seconds(Measure.Median(walls))})",
                "-", "-", "< 300 MB", median < 300_000_000,
                median < 300_000_000 ? null : $"{Report.Count(median / n)} bytes per task instance at peak"),
        ];
    }
}
