using Orch.Pipeline.Model;

namespace Orch.Engine;

/// <summary>Exponential backoff with "equal jitter": half the delay fixed, half random, so retries of many tasks spread out.</summary>
public static class Backoff
{
    /// <summary>Delay before try <paramref name="nextAttempt"/> (2 for the first retry).</summary>
    public static TimeSpan Delay(RetryPolicy policy, int nextAttempt, Random random)
    {
        if (policy.Backoff <= TimeSpan.Zero) return TimeSpan.Zero;
        var exponential = policy.Backoff.Ticks * Math.Pow(2, Math.Max(0, nextAttempt - 2));
        var ticks = (long)Math.Min(policy.MaxBackoff.Ticks, exponential);
        return TimeSpan.FromTicks(ticks / 2 + (long)(random.NextDouble() * (ticks / 2)));
    }
}
