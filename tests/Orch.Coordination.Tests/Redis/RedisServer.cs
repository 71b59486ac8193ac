using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Orch.Coordination.Tests.Redis;

/// <summary>
/// A real <c>redis-server</c> on loopback at a free port, started for the tests and stopped after.
/// Where redis-server is not installed the tests skip with that reason, except under CI (CI=true),
/// where a missing server is a failure: CI installs it and must not pass by skipping.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private Process _process;
    private readonly string _directory;
    private readonly bool _appendOnly;
    private readonly string? _password;
    private readonly string? _tls;

    private RedisServer(Process process, int port, string directory, bool appendOnly, string? password, string? tls)
    {
        _tls = tls;
        _process = process;
        Port = port;
        _directory = directory;
        _appendOnly = appendOnly;
        _password = password;
    }

    public int Port { get; }
    public string ConnectionString => $"127.0.0.1:{Port}";

    public static string? Executable =>
        new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists);

    /// <summary>Skips the calling test when no server can run here (and fails instead under CI).</summary>
    public static void SkipIfUnavailable()
    {
        if (Executable is not null) return;
        if (Environment.GetEnvironmentVariable("CI") is "true" or "1")
            throw new InvalidOperationException("redis-server is not installed, but CI must run the Redis tests: install the redis-server package");
        Assert.Skip("redis-server is not installed (apt-get install redis-server)");
    }

    /// <param name="appendOnly">Keep an append-only file, synced on every write, so a restart loses nothing.</param>
    /// <param name="password">Require this password of every client (<c>requirepass</c>).</param>
    /// <param name="tls">
    /// Serve TLS only, with <c>server.pem</c> and <c>server.key</c> from this directory (clients are
    /// not asked for certificates).
    /// </param>
    public static async Task<RedisServer> StartAsync(bool appendOnly = false, string? password = null, string? tls = null)
    {
        SkipIfUnavailable();
        var port = FreePort();
        var directory = Directory.CreateTempSubdirectory("orch-redis-").FullName;
        return new RedisServer(await LaunchAsync(port, directory, appendOnly, password, tls), port, directory, appendOnly, password, tls);
    }

    /// <summary>Kills the server with SIGKILL (a crash: no shutdown save), waits <paramref name="downtime"/>, and starts it again on the same port and data directory.</summary>
    public async Task CrashAndRestartAsync(TimeSpan downtime)
    {
        _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
        await Task.Delay(downtime);
        _process = await LaunchAsync(Port, _directory, _appendOnly, _password, _tls);
    }

    private static async Task<Process> LaunchAsync(int port, string directory, bool appendOnly, string? password, string? tls)
    {
        var start = new ProcessStartInfo(Executable!)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var portText = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string[] listen = tls is null ? ["--port", portText]
            : ["--port", "0", "--tls-port", portText, "--tls-cert-file", Path.Combine(tls, "server.pem"), "--tls-key-file", Path.Combine(tls, "server.key"), "--tls-auth-clients", "no"];
        foreach (var argument in listen) start.ArgumentList.Add(argument);
        foreach (var argument in new[] { "--bind", "127.0.0.1", "--save", "", "--appendonly", appendOnly ? "yes" : "no", "--appendfsync", "always", "--dir", directory })
            start.ArgumentList.Add(argument);
        if (password is not null)
        {
            start.ArgumentList.Add("--requirepass");
            start.ArgumentList.Add(password);
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start redis-server");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return process;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(20);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
