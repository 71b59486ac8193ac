using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using global::Dapr.Client.Autogen.Grpc.v1;
using Google.Protobuf;
using Grpc.Core;
using DaprStub = global::Dapr.Client.Autogen.Grpc.v1.Dapr.DaprClient;

namespace Orch.Coordination.Dapr;

/// <summary>
/// <see cref="IStateStore"/> on a Dapr state store component, through the sidecar's gRPC API.
/// <list type="bullet">
/// <item><b>Versions:</b> Dapr etags are opaque strings, while the port counts versions 1, 2, 3…
/// So each key holds a small JSON envelope <c>{"v": version, "d": base64 value}</c>; a write reads
/// the envelope and its etag, and saves version + 1 with that etag. The etag makes the write a
/// compare-and-set; the envelope's number is what callers see.</item>
/// <item><b>Creation:</b> a key that does not exist is created by a first-write save without an
/// etag, which the state stores accept only while the key is absent.</item>
/// <item><b>Listing:</b> Dapr has no general key listing, so the store keeps an index: every key
/// belongs to one of <c>indexShards</c> index entries (by a stable hash), each a JSON list of
/// keys changed only by etag compare-and-set. The index may name keys that no longer exist (a
/// delete that stopped half-way), never misses one that exists: a create adds the key to its entry
/// before writing it and rewrites the entry after, and a delete removes the key from its entry
/// only while the key is absent, so a racing create always makes one of the two rewrite again.
/// A listing reads every entry in one bulk get and then the matching keys in a second one, dropping
/// those that are gone. Cost: a create or delete rewrites one entry (its size grows with keys /
/// shards) and creates and deletes in one entry are serialised; writes to existing keys do not
/// touch the index.</item>
/// </list>
/// No step relies on a state transaction, because the Redis state store does not roll a
/// transaction back when one of its etag checks fails. All keys start with <c>{prefix}/</c>.
/// </summary>
public sealed class DaprStateStore : IStateStore
{
    /// <summary>How many index entries keys are spread over, unless given.</summary>
    public const int DefaultIndexShards = 16;

    private static readonly StateOptions FirstWrite = new() { Concurrency = StateOptions.Types.StateConcurrency.ConcurrencyFirstWrite };

    private readonly DaprStub _dapr;
    private readonly string _storeName;
    private readonly string _prefix;
    private readonly int _shards;

    /// <param name="dapr">The sidecar's gRPC client.</param>
    /// <param name="storeName">The state store component's name.</param>
    /// <param name="prefix">Starts every state key the store writes.</param>
    /// <param name="indexShards">How many index entries keys are spread over; every process sharing the prefix must use the same number.</param>
    public DaprStateStore(DaprStub dapr, string storeName, string prefix, int indexShards = DefaultIndexShards)
    {
        ArgumentNullException.ThrowIfNull(dapr);
        ArgumentException.ThrowIfNullOrEmpty(storeName);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        ArgumentOutOfRangeException.ThrowIfLessThan(indexShards, 1);
        _dapr = dapr;
        _storeName = storeName;
        _prefix = prefix;
        _shards = indexShards;
    }

    public async ValueTask<VersionedValue?> GetAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        var (envelope, _) = await ReadAsync(DataKey(key), cancellationToken).ConfigureAwait(false);
        return envelope is null ? null : new VersionedValue(envelope.Data, envelope.Version);
    }

    public async ValueTask<long?> TrySetAsync(string key, ReadOnlyMemory<byte> value, long? expectedVersion, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        var data = value.ToArray();
        var dataKey = DataKey(key);
        while (true)
        {
            var (current, etag) = await ReadAsync(dataKey, cancellationToken).ConfigureAwait(false);
            if (current is not null)
            {
                if (expectedVersion is { } expected && expected != current.Version) return null;
                var next = current.Version + 1;
                try
                {
                    await SaveAsync(dataKey, EnvelopeBytes(new Envelope(next, data)), etag, cancellationToken).ConfigureAwait(false);
                    return next;
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.Aborted)
                {
                    // Someone wrote in between: a conditional write lost, an unconditional one tries again.
                    if (expectedVersion is not null) return null;
                    continue;
                }
            }

            if (expectedVersion is > 0) return null;
            await IndexAsync(key, add: true, cancellationToken).ConfigureAwait(false);
            try
            {
                await SaveAsync(dataKey, EnvelopeBytes(new Envelope(1, data)), null, cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException)
            {
                // Created by someone else meanwhile (the store refuses a first write over an existing key): look again.
                var (raced, _) = await ReadAsync(dataKey, cancellationToken).ConfigureAwait(false);
                if (raced is null) throw;
                continue;
            }
            // Rewritten after the create, so that a delete that saw the key absent cannot drop it from the index now.
            await IndexAsync(key, add: true, cancellationToken).ConfigureAwait(false);
            return 1;
        }
    }

    public async ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        var dataKey = DataKey(key);
        while (true)
        {
            var (current, etag) = await ReadAsync(dataKey, cancellationToken).ConfigureAwait(false);
            if (current is null) return false;
            try
            {
                var request = new DeleteStateRequest { StoreName = _storeName, Key = dataKey, Etag = new Etag { Value = etag }, Options = FirstWrite };
                await DaprCalls.Rpc(_dapr.DeleteStateAsync(request, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Aborted)
            {
                continue; // written or deleted in between: look again
            }
            await IndexAsync(key, add: false, cancellationToken).ConfigureAwait(false);
            return true;
        }
    }

    public async ValueTask<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var candidates = new List<string>();
        foreach (var (_, data) in await BulkReadAsync(Enumerable.Range(0, _shards).Select(ShardKey), cancellationToken).ConfigureAwait(false))
        {
            if (!data.IsEmpty) candidates.AddRange(ParseIndex(data).Where(k => k.StartsWith(prefix, StringComparison.Ordinal)));
        }
        if (candidates.Count == 0) return [];
        var present = await BulkReadAsync(candidates.Select(DataKey), cancellationToken).ConfigureAwait(false);
        var keys = candidates.Where(k => present.TryGetValue(DataKey(k), out var data) && !data.IsEmpty).ToList();
        keys.Sort(StringComparer.Ordinal);
        return keys;
    }

    /// <summary>
    /// Adds <paramref name="key"/> to its index entry (always rewriting the entry, see the class
    /// remarks), or removes it while the key is absent.
    /// </summary>
    private async Task IndexAsync(string key, bool add, CancellationToken cancellationToken)
    {
        var shardKey = ShardKey(key);
        while (true)
        {
            var (keys, shardEtag) = await ReadIndexAsync(shardKey, cancellationToken).ConfigureAwait(false);
            var set = new SortedSet<string>(keys, StringComparer.Ordinal);
            if (add)
            {
                set.Add(key);
            }
            else
            {
                if (!set.Contains(key)) return;
                var (exists, _) = await ReadAsync(DataKey(key), cancellationToken).ConfigureAwait(false);
                if (exists is not null) return; // created again meanwhile: it stays listed
                set.Remove(key);
            }
            try
            {
                await SaveAsync(shardKey, IndexBytes(set), shardEtag, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (RpcException e)
            {
                // Another create or delete rewrote the entry (or created it first): start over from what it holds now.
                if (e.StatusCode == StatusCode.Aborted) continue;
                if (shardEtag is null && (await ReadIndexAsync(shardKey, cancellationToken).ConfigureAwait(false)).Etag is not null) continue;
                throw;
            }
        }
    }

    private string DataKey(string key) => $"{_prefix}/data/{key}";

    private string ShardKey(string key) => ShardKey((int)(Fnv1a(key) % (uint)_shards));

    private string ShardKey(int shard) => $"{_prefix}/index/{shard}";

    /// <summary>A hash that is the same in every process (string.GetHashCode is not).</summary>
    private static uint Fnv1a(string text)
    {
        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            hash ^= b;
            hash *= 16777619u;
        }
        return hash;
    }

    private async Task<(Envelope? Value, string? Etag)> ReadAsync(string stateKey, CancellationToken cancellationToken)
    {
        var response = await DaprCalls.Rpc(_dapr.GetStateAsync(new GetStateRequest { StoreName = _storeName, Key = stateKey, Consistency = StateOptions.Types.StateConsistency.ConsistencyStrong }, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        if (response.Data.IsEmpty) return (null, null);
        var envelope = JsonSerializer.Deserialize<Envelope>(response.Data.Span)
            ?? throw new InvalidOperationException($"state key {stateKey} does not hold a versioned value");
        return (envelope, response.Etag);
    }

    private async Task<(IReadOnlyList<string> Keys, string? Etag)> ReadIndexAsync(string shardKey, CancellationToken cancellationToken)
    {
        var response = await DaprCalls.Rpc(_dapr.GetStateAsync(new GetStateRequest { StoreName = _storeName, Key = shardKey, Consistency = StateOptions.Types.StateConsistency.ConsistencyStrong }, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        return response.Data.IsEmpty ? ([], null) : (ParseIndex(response.Data), response.Etag);
    }

    private async Task<Dictionary<string, ByteString>> BulkReadAsync(IEnumerable<string> stateKeys, CancellationToken cancellationToken)
    {
        var request = new GetBulkStateRequest { StoreName = _storeName };
        request.Keys.AddRange(stateKeys);
        var response = await DaprCalls.Rpc(_dapr.GetBulkStateAsync(request, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        var found = new Dictionary<string, ByteString>(StringComparer.Ordinal);
        foreach (var item in response.Items)
        {
            if (!string.IsNullOrEmpty(item.Error)) throw new InvalidOperationException($"reading {item.Key} from state store '{_storeName}' failed: {item.Error}");
            found[item.Key] = item.Data;
        }
        return found;
    }

    private async Task SaveAsync(string stateKey, ByteString value, string? etag, CancellationToken cancellationToken)
    {
        var request = new SaveStateRequest { StoreName = _storeName };
        request.States.Add(Item(stateKey, value, etag));
        await DaprCalls.Rpc(_dapr.SaveStateAsync(request, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every save is first-write: with an etag it must match, without one the key must be absent.</summary>
    private static StateItem Item(string stateKey, ByteString value, string? etag)
    {
        var item = new StateItem { Key = stateKey, Value = value, Options = FirstWrite };
        if (etag is not null) item.Etag = new Etag { Value = etag };
        return item;
    }

    private static ByteString EnvelopeBytes(Envelope envelope) => ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(envelope));

    private static ByteString IndexBytes(IEnumerable<string> keys) => ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(keys));

    private static List<string> ParseIndex(ByteString data) => JsonSerializer.Deserialize<List<string>>(data.Span) ?? [];

    private sealed record Envelope([property: JsonPropertyName("v")] long Version, [property: JsonPropertyName("d")] byte[] Data);
}
