using System.Diagnostics;
using System.Globalization;

namespace Orch.Cli.Tests.Infrastructure;

/// <summary>Signals and liveness of processes by id (Linux /proc).</summary>
public static class Processes
{
    /// <summary>Sends a signal (e.g. "INT") with kill(1).</summary>
    public static void Signal(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-s", signal, pid.ToString(CultureInfo.InvariantCulture) }, UseShellExecute = false })!;
        kill.WaitForExit();
        Assert.True(kill.ExitCode == 0, $"kill -s {signal} {pid} failed with exit code {kill.ExitCode}");
    }

    /// <summary>True while the process exists and is not a zombie (a zombie has finished; only its parent's wait is missing).</summary>
    public static bool IsAlive(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (IOException)
        {
            return false;
        }
        // "pid (comm) S ...": the state follows the last ')'.
        var close = stat.LastIndexOf(')');
        var state = close >= 0 && close + 2 < stat.Length ? stat[close + 2] : '?';
        return state is not ('Z' or 'X');
    }

    /// <summary>Polls until the process is gone or <paramref name="timeout"/> passes; returns whether it is gone.</summary>
    public static async Task<bool> WaitUntilGoneAsync(int pid, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (IsAlive(pid))
        {
            if (clock.Elapsed > timeout) return false;
            await Task.Delay(50, CancellationToken.None);
        }
        return true;
    }

    /// <summary>Polls until <paramref name="path"/> exists and is not empty.</summary>
    public static async Task WaitForFileAsync(string path, TimeSpan timeout, Func<string>? context = null)
    {
        var clock = Stopwatch.StartNew();
        while (!File.Exists(path) || new FileInfo(path).Length == 0)
        {
            if (clock.Elapsed > timeout) Assert.Fail($"{path} did not appear within {timeout.TotalSeconds:0.#}s\n{context?.Invoke()}");
            await Task.Delay(25, CancellationToken.None);
        }
    }

    /// <summary>Whether this process ignores SIGINT (as processes started in the background by a shell without job control do); children inherit that.</summary>
    public static bool SigIntIgnored()
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
            return line is not null && (ulong.Parse(line["SigIgn:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture) & 0x2) != 0;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
