using Orch.Protocol;

namespace Orch.Engine;

/// <summary>What a finished run hands back: its status, its full record, and latency figures (ready to done, queueing included).</summary>
public sealed record RunReport(
    RunId RunId,
    RunStatus Status,
    RunRecord Record,
    string RunDirectory,
    TimeSpan Elapsed,
    LatencySummary Latency)
{
    /// <summary>Time from dispatch to an agent until the result is stored, over instances that ran: the overhead per task without queueing.</summary>
    public LatencySummary DispatchLatency { get; init; } = LatencySummary.From([]);
}

/// <summary>Time from an instance becoming ready (its needs met) to its result being stored, over instances that ran.</summary>
public sealed record LatencySummary(int Count, TimeSpan P50, TimeSpan P99, TimeSpan Max)
{
    public static LatencySummary From(List<TimeSpan> samples)
    {
        if (samples.Count == 0) return new LatencySummary(0, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero);
        samples.Sort();
        TimeSpan At(double q) => samples[Math.Min(samples.Count - 1, (int)Math.Ceiling(q * samples.Count) - 1)];
        return new LatencySummary(samples.Count, At(0.50), At(0.99), samples[^1]);
    }
}
