using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Orch.Bench;

/// <summary>
/// A redis-server of the bench's own on a free loopback port (no persistence), stopped on dispose.
/// Every Redis benchmark, orch and its peers alike, runs against this one server.
/// </summary>
internal sealed class RedisServerProcess : IDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    private RedisServerProcess(Process process, int port, string directory)
    {
        _process = process;
        Port = port;
        _directory = directory;
    }

    public int Port { get; }
    public string Url => string.Create(CultureInfo.InvariantCulture, $"redis://127.0.0.1:{Port}");

    public static string? Executable => new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists);

    public static RedisServerProcess Start(string workDirectory)
    {
        var executable = Executable ?? throw new BenchmarkException("redis-server is not installed (scripts/install-deps.sh bench installs it)");
        var port = FreePort();
        var directory = Path.Combine(workDirectory, string.Create(CultureInfo.InvariantCulture, $"redis-{port}"));
        Directory.CreateDirectory(directory);
        var info = new ProcessStartInfo(executable) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory })
            info.ArgumentList.Add(a);
        var process = Process.Start(info) ?? throw new BenchmarkException("could not start redis-server");
        Drain(process);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, port);
                return new RedisServerProcess(process, port, directory);
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                Thread.Sleep(20);
            }
        }
    }

    /// <summary>
    /// <c>INFO commandstats</c>: calls per command name (lowercase, e.g. <c>evalsha</c>, <c>xadd</c>), through a
    /// minimal RESP exchange so the bench needs no Redis client of its own.
    /// </summary>
    public Dictionary<string, long> CommandCalls()
    {
        using var client = new TcpClient();
        client.Connect(IPAddress.Loopback, Port);
        using var stream = client.GetStream();
        stream.Write("*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n"u8);
        var reader = new BinaryReader(stream);
        var header = ReadLine(reader); // $LENGTH
        if (!header.StartsWith('$')) throw new BenchmarkException($"redis INFO: unexpected reply '{header}'");
        var length = int.Parse(header[1..], CultureInfo.InvariantCulture);
        var text = Encoding.UTF8.GetString(reader.ReadBytes(length));
        var calls = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n', StringSplitOptions.TrimEntries))
        {
            // cmdstat_xadd:calls=123,usec=456,usec_per_call=3.7,...
            if (!line.StartsWith("cmdstat_", StringComparison.Ordinal)) continue;
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = line[(colon + 1)..].Split(',').FirstOrDefault(f => f.StartsWith("calls=", StringComparison.Ordinal));
            if (colon < 0 || field is null) continue;
            calls[line["cmdstat_".Length..colon]] = long.Parse(field["calls=".Length..], CultureInfo.InvariantCulture);
        }
        return calls;
    }

    private static string ReadLine(BinaryReader reader)
    {
        var text = new StringBuilder();
        for (var c = reader.ReadByte(); c != '\n'; c = reader.ReadByte()) if (c != '\r') text.Append((char)c);
        return text.ToString();
    }

    public void Dispose()
    {
        Stop(_process);
        try { Directory.Delete(_directory, recursive: true); }
        catch (IOException) { }
    }

    internal static void Drain(Process process)
    {
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    internal static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        catch (InvalidOperationException)
        {
        }
        process.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>The difference between two <c>INFO commandstats</c> snapshots: which commands, how many calls.</summary>
internal sealed record CommandCounts(IReadOnlyList<(string Command, long Calls)> ByCommand)
{
    public long Total => ByCommand.Sum(c => c.Calls);

    public static CommandCounts Between(Dictionary<string, long> before, Dictionary<string, long> after) =>
        new([.. after.Select(a => (a.Key, a.Value - before.GetValueOrDefault(a.Key))).Where(c => c.Item2 > 0).OrderByDescending(c => c.Item2)]);

    /// <summary>
    /// These counts less what <paramref name="background"/> (counted over <paramref name="backgroundTime"/>) would
    /// have issued in <paramref name="time"/>: the idle orch agents keep polling Redis while a peer runs.
    /// </summary>
    public CommandCounts Less(CommandCounts background, TimeSpan backgroundTime, TimeSpan time)
    {
        var scale = time / backgroundTime;
        var idle = background.ByCommand.ToDictionary(c => c.Command, c => c.Calls * scale, StringComparer.Ordinal);
        return new([.. ByCommand.Select(c => (c.Command, (long)Math.Round(Math.Max(0, c.Calls - idle.GetValueOrDefault(c.Command))))).Where(c => c.Item2 > 0).OrderByDescending(c => c.Item2)]);
    }

    /// <summary>e.g. <c>7.0 per task (evalsha 3.0, xadd 1.0, ...)</c>.</summary>
    public string PerTask(long tasks, int top = 6)
    {
        static string F(double x) => x.ToString("N1", CultureInfo.InvariantCulture);
        // Commands issued less than once per 20 tasks (heartbeats, state saves) would show as 0.0: leave them out.
        var parts = ByCommand.Where(c => c.Calls * 20 >= tasks).Take(top).Select(c => $"{c.Command.Replace('|', ' ')} {F((double)c.Calls / tasks)}");
        return $"{F((double)Total / tasks)} per task ({string.Join(", ", parts)})";
    }
}

/// <summary>Two (or more) <c>orch-agent</c> processes serving a Redis backend while they live.</summary>
internal sealed class AgentPool : IDisposable
{
    private readonly List<Process> _agents = [];

    public static AgentPool Start(BenchContext context, string backend, int agents, int slots, string workingDirectory)
    {
        var pool = new AgentPool();
        try
        {
            for (var a = 1; a <= agents; a++)
            {
                var info = new ProcessStartInfo(context.Agent) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
                foreach (var arg in new[] { $"--Agent:Backend={backend}", string.Create(CultureInfo.InvariantCulture, $"--Agent:Slots={slots}"), string.Create(CultureInfo.InvariantCulture, $"--Agent:Id=bench-{a}") })
                    info.ArgumentList.Add(arg);
                var process = Process.Start(info) ?? throw new BenchmarkException("could not start orch-agent");
                RedisServerProcess.Drain(process);
                pool._agents.Add(process);
            }
            // Wait until `orch agents` lists all of them.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (true)
            {
                var listed = Measure.Run(context.Orch, ["agents", "--backend", backend, "--json"], workingDirectory);
                if (listed.ExitCode == 0)
                {
                    using var json = JsonDocument.Parse(listed.StdOut);
                    if (json.RootElement.GetArrayLength() >= agents) return pool;
                }
                if (DateTime.UtcNow > deadline || pool._agents.Any(p => p.HasExited))
                    throw new BenchmarkException($"the orch agents did not come up on {backend}: {listed.StdErr.Trim()}");
                Thread.Sleep(100);
            }
        }
        catch
        {
            pool.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var agent in _agents) RedisServerProcess.Stop(agent);
        _agents.Clear();
    }
}
