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
/// etag, which daprd's state stores (Redis among them) accept only while the key is absent.</item>
/// <item><b>Listing:</b> Dapr has no general key listing, so the store keeps an index: every key
/// belongs to one of <c>indexShards</c> index entries (by a stable hash), each a JSON list of its
/// keys. Creating or deleting a key changes the key and its index entry in one state
/// transaction, each checked by etag, so the index never disagrees with the keys. Cost: a create
/// or delete rewrites one index entry (its size grows with keys / shards) and creates in one shard
/// are serialised; a listing reads every shard in one bulk get. Writes to existing keys do not
/// touch the index.</item>
/// </list>
/// All keys start with <c>{prefix}/</c>. Needs a transactional state store (ExecuteStateTransaction
/// with etags), e.g. <c>state.redis</c> or <c>state.postgresql</c>.
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
                    await SaveAsync(dataKey, new Envelope(next, data), etag, cancellationToken).ConfigureAwait(false);
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
            // Read the index entry before looking at the key again: the key cannot be created by
            // anyone else without changing that entry, so the transaction below fails if it was.
            var shardKey = ShardKey(key);
            var (shard, shardEtag) = await ReadIndexAsync(shardKey, cancellationToken).ConfigureAwait(false);
            var (raced, _) = await ReadAsync(dataKey, cancellationToken).ConfigureAwait(false);
            if (raced is not null) continue;
            var keys = new SortedSet<string>(shard, StringComparer.Ordinal) { key };
            try
            {
                await TransactAsync([Upsert(shardKey, IndexBytes(keys), shardEtag), Upsert(dataKey, EnvelopeBytes(new Envelope(1, data)), null)], cancellationToken).ConfigureAwait(false);
                return 1;
            }
            catch (RpcException)
            {
                // Lost to another create or delete in the same index entry: look again.
                if (!await ChangedAsync(shardKey, shardEtag, cancellationToken).ConfigureAwait(false)) throw;
            }
        }
    }

    public async ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        var dataKey = DataKey(key);
        var shardKey = ShardKey(key);
        while (true)
        {
            var (shard, shardEtag) = await ReadIndexAsync(shardKey, cancellationToken).ConfigureAwait(false);
            var (current, etag) = await ReadAsync(dataKey, cancellationToken).ConfigureAwait(false);
            if (current is null) return false;
            var keys = new SortedSet<string>(shard, StringComparer.Ordinal);
            keys.Remove(key);
            try
            {
                await TransactAsync([Remove(dataKey, etag), Upsert(shardKey, IndexBytes(keys), shardEtag)], cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (RpcException)
            {
                if (!await ChangedAsync(shardKey, shardEtag, cancellationToken).ConfigureAwait(false)
                    && !await ChangedAsync(dataKey, etag, cancellationToken).ConfigureAwait(false)) throw;
            }
        }
    }

    public async ValueTask<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var request = new GetBulkStateRequest { StoreName = _storeName };
        for (var i = 0; i < _shards; i++) request.Keys.Add(ShardKey(i));
        var response = await DaprCalls.Rpc(_dapr.GetBulkStateAsync(request, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        var keys = new List<string>();
        foreach (var item in response.Items)
        {
            if (!string.IsNullOrEmpty(item.Error)) throw new InvalidOperationException($"reading index entry {item.Key} from state store '{_storeName}' failed: {item.Error}");
            if (item.Data.IsEmpty) continue;
            keys.AddRange(ParseIndex(item.Data).Where(k => k.StartsWith(prefix, StringComparison.Ordinal)));
        }
        keys.Sort(StringComparer.Ordinal);
        return keys;
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

    /// <summary>Whether <paramref name="stateKey"/> moved on from <paramref name="etag"/>: a failed write whose key did not is a real error, not a lost race.</summary>
    private async Task<bool> ChangedAsync(string stateKey, string? etag, CancellationToken cancellationToken)
    {
        var response = await DaprCalls.Rpc(_dapr.GetStateAsync(new GetStateRequest { StoreName = _storeName, Key = stateKey, Consistency = StateOptions.Types.StateConsistency.ConsistencyStrong }, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
        var now = response.Data.IsEmpty ? null : response.Etag;
        return !string.Equals(now, etag, StringComparison.Ordinal);
    }

    private async Task SaveAsync(string stateKey, Envelope envelope, string? etag, CancellationToken cancellationToken)
    {
        var request = new SaveStateRequest { StoreName = _storeName };
        request.States.Add(Item(stateKey, EnvelopeBytes(envelope), etag));
        await DaprCalls.Rpc(_dapr.SaveStateAsync(request, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    private async Task TransactAsync(IEnumerable<TransactionalStateOperation> operations, CancellationToken cancellationToken)
    {
        var request = new ExecuteStateTransactionRequest { StoreName = _storeName };
        request.Operations.AddRange(operations);
        await DaprCalls.Rpc(_dapr.ExecuteStateTransactionAsync(request, cancellationToken: cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    private static TransactionalStateOperation Upsert(string stateKey, ByteString value, string? etag) =>
        new() { OperationType = "upsert", Request = Item(stateKey, value, etag) };

    private static TransactionalStateOperation Remove(string stateKey, string? etag) =>
        new() { OperationType = "delete", Request = Item(stateKey, ByteString.Empty, etag) };

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
