using System.Diagnostics;
using Orch.Agents.Shell;

namespace Orch.Agents.Tests.Shell;

internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "orch-shell-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class ShellTestSupport
{
    public const string SearchPath = "/usr/local/bin:/usr/bin:/bin";

    public static readonly IReadOnlyDictionary<string, string> BasicEnvironment =
        new Dictionary<string, string> { ["PATH"] = SearchPath };

    public static ShellCommand Sh(TempDirectory dir, string script) => new()
    {
        Argv = ["/bin/sh", "-e", "-c", script],
        WorkingDirectory = dir.Path,
        Environment = BasicEnvironment,
        LogPath = dir.File("log.txt"),
    };

    public static string ReadLog(ShellCommand command) => File.ReadAllText(command.LogPath);

    /// <summary>Polls the log until it has at least <paramref name="lines"/> complete lines.</summary>
    public static async Task<string[]> WaitForLogLines(string path, int lines, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var text = File.Exists(path) ? await File.ReadAllTextAsync(path, cancellationToken) : string.Empty;
            var complete = text.Split('\n')[..^1];
            if (complete.Length >= lines)
            {
                return complete;
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(10))
            {
                throw new TimeoutException($"Log {path} did not reach {lines} lines; it has: '{text}'");
            }

            await Task.Delay(5, cancellationToken);
        }
    }

    /// <summary>State letter from /proc/PID/stat, or null when the process no longer exists.</summary>
    public static char? ProcessState(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[stat.LastIndexOf(')') + 2];
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return null;
        }
    }

    /// <summary>Field 5 (process group id) of /proc/PID/stat.</summary>
    public static int ProcessGroup(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[2], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// True once the process is gone or dead (a zombie or dead entry: orphans are reaped by init, which
    /// may take a moment). Signal delivery is asynchronous, so this polls briefly.
    /// </summary>
    public static async Task<bool> BecomesDead(int pid)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (ProcessState(pid) is null or 'Z' or 'X')
            {
                return true;
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(5))
            {
                return false;
            }

            await Task.Delay(5, TestContext.Current.CancellationToken);
        }
    }
}
