using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Orch.Bench;

/// <summary>
/// orch over Redis (<c>orch run --backend redis://...</c> with two <c>orch-agent</c> processes of 2 slots each)
/// beside Celery 5 and Dask distributed (<c>bench/peers/*.py</c>), all in the same invocation against one
/// redis-server the bench starts on a free loopback port and stops afterwards.
/// </summary>
internal static class RedisBenchmarks
{
    private const int Agents = 2;
    private const int Slots = 2;
    private const int PeerWarmUp = 200; // tasks each peer script runs before it measures
    private const int Shards = 8; // pipelines/wordcount.yml's default; the peers cut the corpus the same way

    /// <summary>The JSON line a peer script prints.</summary>
    private sealed record PeerResult(double ElapsedSeconds, double P50Ms, double P99Ms, long TotalWords, long DistinctWords);

    private sealed record Peer(string Label, string Script, Func<string, string[]> Arguments, string Module, bool UsesRedis)
    {
        public bool Available { get; set; }
        public List<PeerResult> Results { get; } = [];
        public CommandCounts? Commands { get; set; }
    }

    /// <summary>Output that does not parse (orch's summary, a peer's JSON line) is reported as a failed benchmark, never a crash.</summary>
    public static List<Row> Guard(Func<List<Row>> benchmark)
    {
        try
        {
            return benchmark();
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException)
        {
            throw new BenchmarkException($"unexpected output: {ex.Message}");
        }
    }

    // 5. No-op tasks and single-task round trips through Redis.
    public static List<Row> Overhead(BenchContext context, List<string> warnings)
    {
        var n = context.NoopTasks;
        var samples = context.LatencySamples;
        var dir = context.WorkDir("redis-overhead");
        var chain = WriteChain(dir, samples);
        var peers = new[]
        {
            new Peer("Celery", "celery_peer.py", url => ["overhead", url, N(n), N(samples)], "celery, redis", UsesRedis: true),
            new Peer("Dask", "dask_peer.py", _ => ["overhead", N(n), N(samples)], "distributed", UsesRedis: false),
        };
        CheckPeers(context, peers);

        using var redis = RedisServerProcess.Start(context.Work);
        using var agents = AgentPool.Start(context, redis.Url, Agents, Slots, dir);
        context.Say($"redis-overhead: redis-server at {redis.Url}, {Agents} orch agents x {Slots} slots");
        // Agents are long-lived: measure them warm. Their JIT keeps re-optimising hot code for the
        // first tens of thousands of tasks, so they run the fan-out twice and the chain once first.
        context.Say($"redis-overhead: warm-up (2 x {N(n)} no-op tasks and a chain of {N(samples)} over Redis)");
        for (var w = 0; w < 2; w++) OrchJson(context, dir, context.BenchPipeline("noop.yml"), redis.Url, "-p", Benchmarks.Param("n", n));
        OrchJson(context, dir, chain, redis.Url);
        // What the idle agents send on their own, to take out of the peers' command counts.
        var idleStart = redis.CommandCalls();
        var idleClock = System.Diagnostics.Stopwatch.StartNew();
        Thread.Sleep(2_000);
        var idle = CommandCounts.Between(idleStart, redis.CommandCalls());
        var idleTime = idleClock.Elapsed;
        context.Say($"redis-overhead: idle agents: {Report.Rate(idle.Total / idleTime.TotalSeconds, "Redis commands/s")} ({string.Join(", ", idle.ByCommand.Select(c => $"{c.Command} {c.Calls}"))} in {Report.Seconds(idleTime)})");

        var fanOut = new List<JsonElement>();
        var chains = new List<JsonElement>();
        var chainWalls = new List<TimeSpan>();
        CommandCounts? orchCommands = null;
        for (var r = 0; r < context.Runs; r++)
        {
            var before = redis.CommandCalls();
            var (run, _) = OrchJson(context, dir, context.BenchPipeline("noop.yml"), redis.Url, "-p", Benchmarks.Param("n", n));
            orchCommands ??= CommandCounts.Between(before, redis.CommandCalls());
            fanOut.Add(run);
            var (sequential, wall) = OrchJson(context, dir, chain, redis.Url);
            chains.Add(sequential);
            chainWalls.Add(wall);
            var line = $"redis-overhead: run {r + 1}: orch {Report.Seconds(Ms(run, "elapsed_ms"))} for {N(n)}, chain of {N(samples)}: ready->done p50 {Report.Millis(Ms(sequential, "latency_ms", "p50"))}, p99 {Report.Millis(Ms(sequential, "latency_ms", "p99"))}";
            foreach (var peer in peers.Where(p => p.Available))
            {
                var calls = redis.CommandCalls();
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var result = RunPeer(context, peer, dir, redis.Url);
                if (peer.UsesRedis) peer.Commands ??= CommandCounts.Between(calls, redis.CommandCalls()).Less(idle, idleTime, clock.Elapsed);
                peer.Results.Add(result);
                line += $", {peer.Label} {Report.Seconds(TimeSpan.FromSeconds(result.ElapsedSeconds))} (p50 {result.P50Ms:N2} ms, p99 {result.P99Ms:N2} ms)";
            }
            context.Say(line);
        }

        var elapsed = Measure.Median(fanOut.Select(j => Ms(j, "elapsed_ms")));
        var rate = n / elapsed.TotalSeconds;
        var p50 = Measure.Median(chains.Select(j => Ms(j, "latency_ms", "p50")));
        var p99 = Measure.Median(chains.Select(j => Ms(j, "latency_ms", "p99")));
        var d50 = Measure.Median(chains.Select(j => Ms(j, "dispatch_latency_ms", "p50")));
        var d99 = Measure.Median(chains.Select(j => Ms(j, "dispatch_latency_ms", "p99")));
        var perChainTask = Measure.Median(chains.Select(j => Ms(j, "elapsed_ms"))) / samples;
        var fanDispatch50 = Measure.Median(fanOut.Select(j => Ms(j, "dispatch_latency_ms", "p50")));

        var available = peers.Where(p => p.Available).ToList();
        var peerRates = available.ToDictionary(p => p, p => p.Results.Count == 0 ? double.NaN : n / Measure.Median(p.Results.Select(x => x.ElapsedSeconds)));
        var peersText = available.Count == 0 ? "peers not installed" : string.Join("; ", available.Select(p => $"{p.Label}: {Report.Rate(peerRates[p], "tasks/s")}"));
        var ratioText = available.Count == 0 ? "-" : string.Join("; ", available.Select(p => $"{Report.Factor(rate / peerRates[p])} {p.Label}"));
        var throughputMet = available.Count == peers.Length && available.All(p => rate >= 10 * peerRates[p]);
        var perTask = TimeSpan.FromSeconds(elapsed.TotalSeconds / n);
        var rows = new List<Row>
        {
            new($"no-op tasks over Redis, {Agents} agents x {Slots} slots ({Report.Count(n)})",
                $"{Report.Rate(rate, "tasks/s")} ({Report.Seconds(elapsed)}); dispatch->done p50 {Report.Millis(fanDispatch50)}",
                peersText, ratioText, "≥ 10x each peer", throughputMet,
                throughputMet ? null : $"{Report.Millis(perTask * 1000)} per 1,000 tasks in orch; Redis commands: {orchCommands?.PerTask(n) ?? "?"}"),
        };

        string PeerLatency(Peer p) => p.Results.Count == 0 ? $"{p.Label}: -" :
            $"{p.Label}: p50 {Report.Millis(TimeSpan.FromMilliseconds(Measure.Median(p.Results.Select(x => x.P50Ms))))}, p99 {Report.Millis(TimeSpan.FromMilliseconds(Measure.Median(p.Results.Select(x => x.P99Ms))))}";
        var latencyMet = p50 < TimeSpan.FromMilliseconds(1);
        rows.Add(new($"round trip of one no-op task over Redis ({Report.Count(samples)} in sequence)",
            $"ready->done p50 {Report.Millis(p50)}, p99 {Report.Millis(p99)}; dispatch->done p50 {Report.Millis(d50)}, p99 {Report.Millis(d99)}; run wall / tasks {Report.Millis(perChainTask)}",
            available.Count == 0 ? "peers not installed" : string.Join("; ", available.Select(PeerLatency)),
            available.Count == 0 ? "-" : string.Join("; ", available.Where(p => p.Results.Count > 0).Select(p => $"p50 {Report.Factor(p50.TotalMilliseconds / Measure.Median(p.Results.Select(x => x.P50Ms)))} {p.Label}'s")),
            "p50 < 1 ms", latencyMet,
            latencyMet ? null : $"ready->done p50 {Report.Millis(p50)} of which dispatch->done {Report.Millis(d50)}"));
        rows.Add(new("Redis commands per no-op task (INFO commandstats)",
            orchCommands?.PerTask(n) ?? "-",
            available.Count == 0 ? "-" : string.Join("; ", available.Select(p => $"{p.Label}: {(p.Commands is { } c ? c.PerTask(n + samples + PeerWarmUp, 4) + ", incl. its latency runs and warm-up" : "does not use Redis")}")),
            "-", "info", null));

        foreach (var peer in peers.Where(p => !p.Available))
            warnings.Add($"redis-overhead: {peer.Label} is not installed ({Python} -c 'import {peer.Module}' failed); scripts/install-deps.sh bench installs it");
        return rows;
    }

    // 6. The word count over Redis across two agents, beside a Celery chord and a Dask map/reduce.
    public static List<Row> WordCount(BenchContext context, List<string> warnings)
    {
        var corpus = Benchmarks.EnsureCorpus(context);
        var bytes = Directory.EnumerateFiles(corpus).Where(f => !Path.GetFileName(f).StartsWith('.')).Sum(f => new FileInfo(f).Length);
        var dir = context.WorkDir("redis-wordcount");
        var wordcount = Path.Combine(context.Root, "pipelines", "wordcount.yml");
        var output = Path.Combine(dir, "wordcount.json");
        var peers = new[]
        {
            new Peer("Celery chord", "celery_peer.py", url => ["wordcount", url, corpus, N(Shards)], "celery, redis", UsesRedis: true),
            new Peer("Dask map/reduce", "dask_peer.py", _ => ["wordcount", corpus, N(Shards)], "distributed", UsesRedis: false),
        };
        CheckPeers(context, peers);

        using var redis = RedisServerProcess.Start(context.Work);
        using var agents = AgentPool.Start(context, redis.Url, Agents, Slots, dir);
        context.Say($"redis-wordcount: redis-server at {redis.Url}, {Agents} orch agents x {Slots} slots; {Report.Megabytes(bytes)} corpus, {Shards} shards");
        foreach (var file in Directory.EnumerateFiles(corpus)) using (var s = File.OpenRead(file)) s.CopyTo(Stream.Null);

        // Two ways to run it: the default sends the corpus and the partial counts through Redis (the
        // agents share no files with orch run), which the peers cannot do, so it is shown for
        // information; --shared-fs reads the corpus in place, as the peers do, and has the target.
        var variants = new[] { new OrchVariant("files sent through Redis", [], LikeForLike: false), new OrchVariant("--shared-fs", ["--shared-fs"], LikeForLike: true) };
        (long Total, long Distinct) orchCounts = default;
        for (var r = 0; r < context.Runs; r++)
        {
            var line = $"redis-wordcount: run {r + 1}:";
            foreach (var variant in variants.Where(v => v.Walls.Count == 0 || v.Walls.Max() <= context.Slow))
            {
                var result = context.RunOrch(dir, ["run", wordcount, "--backend", redis.Url, "--json", "-p", $"input={corpus}", "-p", $"output={output}", "-p", Benchmarks.Param("shards", Shards), .. variant.Arguments]);
                using var json = JsonDocument.Parse(result.StdOut);
                variant.Walls.Add(result.Elapsed);
                variant.Elapsed.Add(TimeSpan.FromMilliseconds(json.RootElement.GetProperty("elapsed_ms").GetDouble()));
                variant.Runs.Add(result);
                using var counts = JsonDocument.Parse(File.ReadAllBytes(output));
                var these = (counts.RootElement.GetProperty("total_words").GetInt64(), counts.RootElement.GetProperty("distinct_words").GetInt64());
                if (orchCounts != default && these != orchCounts) warnings.Add($"redis-wordcount: orch ({variant.Label}) counted {these} but before {orchCounts}");
                orchCounts = these;
                line += $" orch ({variant.Label}) {Report.Seconds(result.Elapsed)} (run {Report.Seconds(variant.Elapsed[^1])}),";
            }
            foreach (var peer in peers.Where(p => p.Available && (p.Results.Count == 0 || p.Results.Max(x => x.ElapsedSeconds) <= context.Slow.TotalSeconds)))
            {
                var result = RunPeer(context, peer, dir, redis.Url);
                peer.Results.Add(result);
                line += $" {peer.Label} {Report.Seconds(TimeSpan.FromSeconds(result.ElapsedSeconds))},";
                if (result.TotalWords != orchCounts.Total || result.DistinctWords != orchCounts.Distinct)
                    warnings.Add($"redis-wordcount: {peer.Label} counted {result.TotalWords} words ({result.DistinctWords} distinct) but orch {orchCounts.Total} ({orchCounts.Distinct} distinct)");
            }
            context.Say(line.TrimEnd(','));
        }

        double Mbps(double seconds) => bytes / 1e6 / seconds;
        var available = peers.Where(p => p.Available && p.Results.Count > 0).ToList();
        var peerTimes = available.ToDictionary(p => p, p => Measure.Median(p.Results.Select(x => x.ElapsedSeconds)));
        var fastest = available.Count == 0 ? null : available.MinBy(p => peerTimes[p]);
        var agree = available.All(p => p.Results.All(x => x.TotalWords == orchCounts.Total && x.DistinctWords == orchCounts.Distinct));
        var peerText = available.Count == 0 ? "peers not installed" : string.Join("; ", available.Select(p => $"{p.Label}: {Report.Rate(Mbps(peerTimes[p]), "MB/s")} ({Report.Seconds(TimeSpan.FromSeconds(peerTimes[p]))}{(p.Results.Count == 1 ? ", 1 run" : "")})"))
            + (available.Count == 0 ? "" : agree ? "; same totals" : "; totals DIFFER");
        var rows = new List<Row>();
        foreach (var variant in variants)
        {
            var orchWall = Measure.Median(variant.Walls);
            var ratio = fastest is null ? double.NaN : peerTimes[fastest] / orchWall.TotalSeconds;
            var met = fastest is not null && available.Count == peers.Length && ratio >= 10;
            // The progress lines go to stderr under --json; take them from the run of median length.
            var typical = variant.Runs.OrderBy(r => r.Elapsed).ElementAtOrDefault(variant.Runs.Count / 2);
            var phases = typical is null ? "" : Benchmarks.Phases(typical with { StdOut = typical.StdErr });
            context.Say($"redis-wordcount: orch ({variant.Label}) phases: {phases}");
            rows.Add(new Row($"word count over Redis, {Report.Megabytes(bytes)}, {Agents} agents x {Slots} slots, {variant.Label}, vs Celery chord / Dask map/reduce",
                $"{Report.Rate(Mbps(orchWall.TotalSeconds), "MB/s")} ({Report.Seconds(orchWall)} wall, run {Report.Seconds(Measure.Median(variant.Elapsed))}); {Report.Count(orchCounts.Total)} words, {Report.Count(orchCounts.Distinct)} distinct",
                peerText,
                fastest is null ? "-" : $"{Report.Factor(ratio)} faster than {fastest.Label}",
                variant.LikeForLike ? "≥ 10x the faster peer" : "info (the peers send no files)", variant.LikeForLike ? met : null,
                met || !variant.LikeForLike ? null : $"orch ({variant.Label}) {Report.Seconds(orchWall)} vs {fastest?.Label ?? "no peer"} {(fastest is null ? "" : Report.Seconds(TimeSpan.FromSeconds(peerTimes[fastest])))}; orch phases: {phases}"));
        }
        return rows;
    }

    /// <summary>One way of running orch's word count, with its measurements.</summary>
    /// <param name="LikeForLike">Whether it does what the peers do (they read the corpus from a disk they share), so the target applies.</param>
    private sealed record OrchVariant(string Label, string[] Arguments, bool LikeForLike)
    {
        public List<TimeSpan> Walls { get; } = [];
        public List<TimeSpan> Elapsed { get; } = [];
        public List<ProcessResult> Runs { get; } = [];
    }

    private static string N(long n) => n.ToString(CultureInfo.InvariantCulture);

    private static TimeSpan Ms(JsonElement json, params string[] path)
    {
        foreach (var name in path) json = json.GetProperty(name);
        return TimeSpan.FromMilliseconds(json.GetDouble());
    }

    /// <summary>Runs <c>orch run PIPELINE --backend URL --json</c>; returns the run summary and the wall clock.</summary>
    private static (JsonElement Summary, TimeSpan Wall) OrchJson(BenchContext context, string dir, string pipeline, string backend, params string[] arguments)
    {
        var result = context.RunOrch(dir, ["run", pipeline, "--backend", backend, "--json", .. arguments]);
        using var json = JsonDocument.Parse(result.StdOut);
        if (json.RootElement.GetProperty("status").GetString() != "succeeded")
            throw new BenchmarkException($"orch run {Path.GetFileName(pipeline)} over Redis: {json.RootElement.GetProperty("status").GetString()}");
        return (json.RootElement.Clone(), result.Elapsed);
    }

    /// <summary>
    /// A pipeline of <paramref name="n"/> no-op tasks, each needing the one before: every task becomes ready
    /// only when its predecessor is done, so ready->done is one full round trip with nothing queued.
    /// </summary>
    private static string WriteChain(string dir, int n)
    {
        var yaml = new StringBuilder("name: bench-chain\ndescription: no-op tasks in sequence; measures the round trip of one task.\n\ntasks:\n");
        for (var i = 0; i < n; i++)
        {
            yaml.Append(CultureInfo.InvariantCulture, $"  t{i:D5}:\n    uses: noop\n");
            if (i > 0) yaml.Append(CultureInfo.InvariantCulture, $"    needs: [t{i - 1:D5}]\n");
        }
        var path = Path.Combine(dir, "chain.yml");
        File.WriteAllText(path, yaml.ToString());
        return path;
    }

    /// <summary>
    /// The Python that runs the peers: <c>$ORCH_BENCH_PYTHON</c>, else Debian's <c>/usr/bin/python3</c> (where
    /// python3-celery and python3-distributed install), else <c>python3</c> on the PATH.
    /// </summary>
    private static string Python =>
        Environment.GetEnvironmentVariable("ORCH_BENCH_PYTHON") is { Length: > 0 } given ? given
        : File.Exists("/usr/bin/python3") ? "/usr/bin/python3"
        : "python3";

    private static void CheckPeers(BenchContext context, Peer[] peers)
    {
        foreach (var peer in peers)
        {
            peer.Available = (Python.Contains('/', StringComparison.Ordinal) ? File.Exists(Python) : Measure.OnPath(Python))
                && Measure.Run(Python, ["-c", $"import {peer.Module}"], context.Work).ExitCode == 0;
            if (!peer.Available) context.Say($"{peer.Label} not installed ({Python} -c 'import {peer.Module}' failed): its figures are left out");
        }
    }

    private static PeerResult RunPeer(BenchContext context, Peer peer, string dir, string redisUrl)
    {
        var script = Path.Combine(context.Root, "bench", "peers", peer.Script);
        var result = Measure.Run(Python, [script, .. peer.Arguments(redisUrl)], dir).EnsureSuccess($"{peer.Label} ({peer.Script})");
        var last = result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault()
            ?? throw new BenchmarkException($"{peer.Label}: no output");
        using var json = JsonDocument.Parse(last);
        var root = json.RootElement;
        double Get(string name) => root.TryGetProperty(name, out var v) ? v.GetDouble() : double.NaN;
        long GetLong(string name) => root.TryGetProperty(name, out var v) ? v.GetInt64() : -1;
        return new PeerResult(Get("elapsed_s"), Get("latency_p50_ms"), Get("latency_p99_ms"), GetLong("total_words"), GetLong("distinct_words"));
    }
}
