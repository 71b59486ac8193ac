namespace Orch.Coordination.Tests.Artifacts;

/// <summary>Passes calls to a real store, letting a test fail or hold writes of chosen keys.</summary>
internal sealed class InterceptingStateStore(IStateStore inner) : IStateStore
{
    /// <summary>Runs before each write; may throw to fail it or wait to hold it.</summary>
    public Func<string, Task>? BeforeSet { get; set; }

    public int Writes => _writes;

    private int _writes;

    public ValueTask<VersionedValue?> GetAsync(string key, CancellationToken cancellationToken) => inner.GetAsync(key, cancellationToken);

    public async ValueTask<long?> TrySetAsync(string key, ReadOnlyMemory<byte> value, long? expectedVersion, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _writes);
        if (BeforeSet is { } hook) await hook(key);
        return await inner.TrySetAsync(key, value, expectedVersion, cancellationToken);
    }

    public ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken) => inner.DeleteAsync(key, cancellationToken);

    public ValueTask<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken) => inner.ListKeysAsync(prefix, cancellationToken);
}
