using System.Text;
using StackExchange.Redis;

namespace Orch.Coordination.Redis;

/// <summary>
/// Key-value state in Redis. Each key is a hash holding its value and version under
/// <c>{prefix}:state:{key}</c>; a sorted set <c>{prefix}:state-keys</c> indexes the keys for listing.
/// Guarantees: writes and deletes run as Lua scripts, so a compare-and-set is atomic across all
/// clients of the server (of several writers expecting the same version exactly one succeeds) and
/// the index never disagrees with the values. Versions start at 1 and grow by one per write; a
/// deleted key starts again at 1. Durability is the server's: without AOF persistence a restart
/// may lose recent writes.
/// </summary>
public sealed class RedisStateStore : IStateStore
{
    // KEYS: value hash, key index. ARGV: value, expected version ('' = any), key name.
    // Returns the new version, or -1 when the expected version did not match.
    private const string SetScript = """
        local current = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
        if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= current then return -1 end
        local version = current + 1
        redis.call('HSET', KEYS[1], 'v', ARGV[1], 'n', version)
        redis.call('ZADD', KEYS[2], 0, ARGV[3])
        return version
        """;

    // KEYS: value hash, key index. ARGV: key name. Returns 1 when the key existed.
    private const string DeleteScript = """
        local existed = redis.call('DEL', KEYS[1])
        redis.call('ZREM', KEYS[2], ARGV[1])
        return existed
        """;

    // KEYS: value hashes..., key index (last). ARGV: key names. Returns how many existed.
    private const string DeleteManyScript = """
        local index = KEYS[#KEYS]
        local existed = redis.call('DEL', unpack(KEYS, 1, #KEYS - 1))
        redis.call('ZREM', index, unpack(ARGV))
        return existed
        """;

    /// <summary>At most this many keys go into one delete script (Lua's unpack has a stack limit).</summary>
    private const int DeleteChunk = 256;

    private static readonly RedisValue[] Fields = ["v", "n"];

    private readonly IDatabase _database;
    private readonly string _prefix;
    private readonly RedisKey _index;

    /// <param name="database">The database to use.</param>
    /// <param name="prefix">Starts every Redis key this store touches (<c>orch</c> gives <c>orch:state:...</c>).</param>
    public RedisStateStore(IDatabase database, string prefix)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        _database = database;
        _prefix = prefix;
        _index = prefix + ":state-keys";
    }

    public async ValueTask<VersionedValue?> GetAsync(string key, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var fields = await _database.HashGetAsync(ValueKey(key), Fields).ConfigureAwait(false);
        if (fields[1].IsNull) return null;
        return new VersionedValue((byte[]?)fields[0] ?? [], (long)fields[1]);
    }

    public async ValueTask<long?> TrySetAsync(string key, ReadOnlyMemory<byte> value, long? expectedVersion, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var expected = expectedVersion is { } v ? (RedisValue)v : RedisValue.EmptyString;
        var result = await _database.ScriptEvaluateAsync(SetScript, [ValueKey(key), _index], [value, expected, key]).ConfigureAwait(false);
        var version = (long)result;
        return version < 0 ? null : version;
    }

    public async ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var result = await _database.ScriptEvaluateAsync(DeleteScript, [ValueKey(key), _index], [key]).ConfigureAwait(false);
        return (long)result > 0;
    }

    public async ValueTask DeleteManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(keys);
        cancellationToken.ThrowIfCancellationRequested();
        var pending = new List<Task>();
        for (var start = 0; start < keys.Count; start += DeleteChunk)
        {
            var count = Math.Min(DeleteChunk, keys.Count - start);
            var redisKeys = new RedisKey[count + 1];
            var names = new RedisValue[count];
            for (var i = 0; i < count; i++)
            {
                redisKeys[i] = ValueKey(keys[start + i]);
                names[i] = keys[start + i];
            }
            redisKeys[count] = _index;
            pending.Add(_database.ScriptEvaluateAsync(DeleteManyScript, redisKeys, names));
        }
        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        RedisValue[] members;
        if (prefix.Length == 0)
        {
            members = await _database.SortedSetRangeByValueAsync(_index).ConfigureAwait(false);
        }
        else
        {
            // Every key with the prefix sorts (bytewise) at or after the prefix and before its
            // successor: the prefix with its last byte raised by one. UTF-8 never has a 0xFF byte.
            var low = Encoding.UTF8.GetBytes(prefix);
            var high = (byte[])low.Clone();
            high[^1]++;
            members = await _database.SortedSetRangeByValueAsync(_index, low, high, Exclude.Stop).ConfigureAwait(false);
        }
        return members.Select(m => (string)m!).Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
    }

    private RedisKey ValueKey(string key) => _prefix + ":state:" + key;
}
