namespace Orch.Coordination.Tests.Conformance;

/// <summary>Bounded waits, so a broken adapter fails a test instead of hanging the run.</summary>
internal static class Async
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>How long a test watches for something that must not happen.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(150);

    public static async Task<T> Within<T>(this Task<T> task, TimeSpan? limit = null)
    {
        var finished = await Task.WhenAny(task, Task.Delay(limit ?? Patience)).ConfigureAwait(false);
        if (finished != task) throw new TimeoutException($"did not complete within {limit ?? Patience}");
        return await task.ConfigureAwait(false);
    }

    public static Task<T> Within<T>(this ValueTask<T> task, TimeSpan? limit = null) => task.AsTask().Within(limit);

    public static async Task Within(this Task task, TimeSpan? limit = null)
    {
        var finished = await Task.WhenAny(task, Task.Delay(limit ?? Patience)).ConfigureAwait(false);
        if (finished != task) throw new TimeoutException($"did not complete within {limit ?? Patience}");
        await task.ConfigureAwait(false);
    }

    /// <summary>Asserts that <paramref name="task"/> is still waiting after a short quiet period.</summary>
    public static async Task AssertStillWaiting(Task task, string because)
    {
        await Task.WhenAny(task, Task.Delay(Quiet)).ConfigureAwait(false);
        Assert.False(task.IsCompleted, because);
    }
}
