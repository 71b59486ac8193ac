namespace Orch.Coordination;

/// <summary>A value and the version it was read at, for compare-and-set.</summary>
public sealed record VersionedValue(byte[] Value, long Version);

/// <summary>
/// Key-value state with compare-and-set. Versions start at 1 and grow by one with every write
/// of a key. A failed compare-and-set changes nothing.
/// </summary>
public interface IStateStore
{
    ValueTask<VersionedValue?> GetAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// Writes <paramref name="value"/> if the key's version is <paramref name="expectedVersion"/>
    /// (0 = the key must not exist; null = write unconditionally). Returns the new version, or null when the version did not match.
    /// </summary>
    /// <remarks>The store copies <paramref name="value"/> before this returns, so the caller may reuse its buffer.</remarks>
    ValueTask<long?> TrySetAsync(string key, ReadOnlyMemory<byte> value, long? expectedVersion, CancellationToken cancellationToken);

    ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes every key in <paramref name="keys"/> (those that do not exist are skipped). Adapters
    /// that can delete many keys in one round trip do; the default deletes up to 256 at a time concurrently.
    /// </summary>
    async ValueTask DeleteManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        foreach (var batch in keys.Chunk(256))
            await Task.WhenAll(batch.Select(key => DeleteAsync(key, cancellationToken).AsTask())).ConfigureAwait(false);
    }

    /// <summary>Keys that start with <paramref name="prefix"/>, in ordinal order.</summary>
    ValueTask<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken);
}
