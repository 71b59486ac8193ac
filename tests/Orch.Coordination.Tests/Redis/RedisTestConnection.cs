using StackExchange.Redis;

namespace Orch.Coordination.Tests.Redis;

/// <summary>A fresh <see cref="RedisServer"/>, a connection to it and a key prefix private to one test.</summary>
internal sealed class RedisTestConnection : IAsyncDisposable
{
    private RedisTestConnection(RedisServer server, ConnectionMultiplexer connection)
    {
        Server = server;
        Connection = connection;
    }

    public RedisServer Server { get; }
    public ConnectionMultiplexer Connection { get; }
    public IDatabase Database => Connection.GetDatabase();
    public string Prefix { get; } = "test-" + Guid.NewGuid().ToString("N")[..12];

    public static async Task<RedisTestConnection> StartAsync()
    {
        var server = await RedisServer.StartAsync();
        try
        {
            return new RedisTestConnection(server, await ConnectAsync(server));
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Another client of the same server.</summary>
    public static Task<ConnectionMultiplexer> ConnectAsync(RedisServer server) => ConnectionMultiplexer.ConnectAsync(server.ConnectionString);

    public async ValueTask DisposeAsync()
    {
        await Connection.DisposeAsync();
        await Server.DisposeAsync();
    }
}
