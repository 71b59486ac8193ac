using System.Text.Json;
using Orch.Protocol;
using StackExchange.Redis;

namespace Orch.Coordination.Redis;

/// <summary>
/// Live agents in Redis: a hash <c>{prefix}:agents</c> of agent id to its JSON <see cref="AgentInfo"/>,
/// and a sorted set <c>{prefix}:agents-heartbeats</c> of agent id scored by its last heartbeat.
/// An agent whose <see cref="AgentInfo.LastHeartbeat"/> is older than the expiry (by the clock
/// given here) is not listed, and is removed from Redis when a later listing notices it.
/// Heartbeats, unregistrations and that removal are atomic, so a fresh heartbeat is never lost
/// to a concurrent clean-up.
/// </summary>
public sealed class RedisAgentRegistry : IAgentRegistry
{
    // KEYS: agents hash, heartbeat set. ARGV: id, JSON, heartbeat (Unix ms).
    private const string HeartbeatScript = """
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
        return 1
        """;

    // KEYS: agents hash, heartbeat set. ARGV: id.
    private const string UnregisterScript = """
        redis.call('HDEL', KEYS[1], ARGV[1])
        redis.call('ZREM', KEYS[2], ARGV[1])
        return 1
        """;

    // KEYS: agents hash, heartbeat set. ARGV: cut-off (Unix ms); agents that beat strictly before it are removed.
    private const string ListScript = """
        local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
        for _, id in ipairs(stale) do
            redis.call('HDEL', KEYS[1], id)
            redis.call('ZREM', KEYS[2], id)
        end
        return redis.call('HVALS', KEYS[1])
        """;

    private readonly IDatabase _database;
    private readonly TimeProvider _time;
    private readonly TimeSpan _expiry;
    private readonly RedisKey[] _keys;

    /// <param name="database">The database to use.</param>
    /// <param name="prefix">Starts every Redis key the registry touches.</param>
    /// <param name="time">The clock that decides whether a heartbeat is too old.</param>
    /// <param name="expiry">How long an agent stays listed after its last heartbeat.</param>
    public RedisAgentRegistry(IDatabase database, string prefix, TimeProvider time, TimeSpan expiry)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(expiry, TimeSpan.Zero);
        _database = database;
        _time = time;
        _expiry = expiry;
        _keys = [prefix + ":agents", prefix + ":agents-heartbeats"];
    }

    public async ValueTask HeartbeatAsync(AgentInfo agent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(agent);
        cancellationToken.ThrowIfCancellationRequested();
        var json = JsonSerializer.SerializeToUtf8Bytes(agent, CoordinationJson.Options);
        await _database.ScriptEvaluateAsync(HeartbeatScript, _keys, [agent.Id.Value, json, agent.LastHeartbeat.ToUnixTimeMilliseconds()]).ConfigureAwait(false);
    }

    public async ValueTask UnregisterAsync(AgentId agent, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await _database.ScriptEvaluateAsync(UnregisterScript, _keys, [agent.Value]).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<AgentInfo>> ListAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var now = _time.GetUtcNow();
        var cutoff = now - _expiry;
        // Scores are whole milliseconds (rounded down), so only remove what is a full millisecond
        // past the cut-off; the exact comparison below decides what is listed.
        var removeBefore = cutoff.ToUnixTimeMilliseconds() - 1;
        var result = await _database.ScriptEvaluateAsync(ListScript, _keys, [removeBefore]).ConfigureAwait(false);
        return ((RedisResult[])result!)
            .Select(r => JsonSerializer.Deserialize<AgentInfo>((byte[])r!, CoordinationJson.Options)!)
            .Where(a => now - a.LastHeartbeat <= _expiry)
            .OrderBy(a => a.Id.Value, StringComparer.Ordinal)
            .ToList();
    }
}
