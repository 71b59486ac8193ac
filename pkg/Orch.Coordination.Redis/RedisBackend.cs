using StackExchange.Redis;

namespace Orch.Coordination.Redis;

/// <summary>
/// The four coordination ports on one Redis server, every key under one prefix. Several
/// coordinators and agents pointed at the same server and prefix share the bus, state, locks
/// and agent list. On a Redis cluster give the prefix a hash tag (<c>{orch}</c>) so that the
/// keys the scripts touch together share one slot.
/// </summary>
public sealed class RedisBackend : ICoordinationBackend
{
    /// <summary>The prefix used unless another is given.</summary>
    public const string DefaultPrefix = "orch";

    private readonly IConnectionMultiplexer _connection;
    private readonly bool _ownsConnection;

    /// <summary>Uses an open connection; the caller keeps ownership of it unless <paramref name="ownsConnection"/>.</summary>
    /// <param name="connection">The connection to use.</param>
    /// <param name="prefix">Starts every Redis key the backend touches.</param>
    /// <param name="time">The clock for lease and heartbeat expiry; the system clock unless given.</param>
    /// <param name="agentExpiry">How long an agent stays listed after its last heartbeat; 30 s unless given.</param>
    /// <param name="claimIdleTime">How long an unacknowledged message stays with its consumer before others may take it; 5 s unless given.</param>
    /// <param name="ownsConnection">Whether disposing the backend closes <paramref name="connection"/>.</param>
    /// <param name="options">How <paramref name="connection"/> was made (credentials included), for the bus's reading connections; read from the connection unless given.</param>
    public RedisBackend(
        IConnectionMultiplexer connection,
        string prefix = DefaultPrefix,
        TimeProvider? time = null,
        TimeSpan? agentExpiry = null,
        TimeSpan? claimIdleTime = null,
        bool ownsConnection = false,
        ConfigurationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        _connection = connection;
        _ownsConnection = ownsConnection;
        time ??= TimeProvider.System;
        var database = connection.GetDatabase();
        Bus = new RedisMessageBus(database, prefix, claimIdleTime, options);
        State = new RedisStateStore(database, prefix);
        Locks = new RedisResourceLocks(database, prefix, time);
        Agents = new RedisAgentRegistry(database, prefix, time, agentExpiry ?? TimeSpan.FromSeconds(30));
    }

    /// <summary>
    /// Connects to the server(s) in <paramref name="configuration"/> (StackExchange.Redis syntax,
    /// e.g. <c>localhost:6379</c>) and returns a backend that closes the connection when disposed.
    /// </summary>
    /// <exception cref="InvalidOperationException">No server could be reached, or it refused the credentials; the message names the address.</exception>
    public static Task<RedisBackend> ConnectAsync(
        string configuration,
        string prefix = DefaultPrefix,
        TimeProvider? time = null,
        TimeSpan? agentExpiry = null,
        TimeSpan? claimIdleTime = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(configuration);
        return ConnectAsync(ConfigurationOptions.Parse(configuration), prefix, time, agentExpiry, claimIdleTime);
    }

    /// <summary>Connects with <paramref name="options"/> (endpoints, credentials, TLS); see the other overload.</summary>
    /// <exception cref="InvalidOperationException">No server could be reached, or it refused the credentials; the message names the address, never a password.</exception>
    public static async Task<RedisBackend> ConnectAsync(
        ConfigurationOptions options,
        string prefix = DefaultPrefix,
        TimeProvider? time = null,
        TimeSpan? agentExpiry = null,
        TimeSpan? claimIdleTime = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options = options.Clone();
        options.SetDefaultPorts();
        var address = string.Join(", ", options.EndPoints.Select(Describe));
        IConnectionMultiplexer connection;
        try
        {
            connection = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
        }
        catch (RedisConnectionException e) when (options.Ssl && Caused<System.Security.Authentication.AuthenticationException>(e) is { } tls)
        {
            throw new InvalidOperationException($"the TLS handshake with Redis at {address} failed ({tls.Message}); if the server's certificate comes from a private CA, name that CA's file in ORCH_REDIS_CA_FILE", e);
        }
        catch (RedisConnectionException e) when (e.FailureType == ConnectionFailureType.AuthenticationFailure)
        {
            throw new InvalidOperationException($"Redis at {address} {(options.Password is null ? "wants a password" : "refused the credentials")}: {Credentials}", e);
        }
        catch (RedisConnectionException e)
        {
            throw new InvalidOperationException($"could not connect to Redis at {address}: {e.FailureType}; check that redis-server runs there and is reachable", e);
        }
        try
        {
            // A server that wants a password may still accept the connection, then refuse every command.
            await connection.GetDatabase().PingAsync().ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("NOAUTH", StringComparison.Ordinal) || e.Message.StartsWith("WRONGPASS", StringComparison.Ordinal))
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"Redis at {address} {(options.Password is null ? "wants a password" : "refused the credentials")}: {Credentials}", e);
        }
        return new RedisBackend(connection, prefix, time, agentExpiry, claimIdleTime, ownsConnection: true, options);
    }

    private static T? Caused<T>(Exception? error) where T : Exception
    {
        for (; error is not null; error = error.InnerException)
        {
            if (error is T found) return found;
        }
        return null;
    }

    private const string Credentials = "give them as ORCH_REDIS_PASSWORD (and ORCH_REDIS_USER for an ACL user) or in the address, redis://USER:PASSWORD@HOST:PORT";

    private static string Describe(System.Net.EndPoint endPoint) => endPoint switch
    {
        System.Net.DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
        _ => endPoint.ToString() ?? "?",
    };

    public string Name => "redis";

    /// <summary>Lost connections, timeouts, and a restarted server still loading its data.</summary>
    public bool IsTransient(Exception error) => error switch
    {
        RedisConnectionException or RedisTimeoutException or System.Net.Sockets.SocketException or IOException => true,
        RedisServerException e => e.Message.StartsWith("LOADING", StringComparison.Ordinal) || e.Message.StartsWith("TRYAGAIN", StringComparison.Ordinal),
        ObjectDisposedException => false,
        _ => error.InnerException is { } inner && IsTransient(inner),
    };
    public IMessageBus Bus { get; }
    public IStateStore State { get; }
    public IResourceLocks Locks { get; }
    public IAgentRegistry Agents { get; }

    public async ValueTask DisposeAsync()
    {
        if (_ownsConnection) await _connection.DisposeAsync().ConfigureAwait(false);
    }
}
