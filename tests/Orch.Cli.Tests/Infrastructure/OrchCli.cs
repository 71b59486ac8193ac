using System.Diagnostics;
using System.Text;

namespace Orch.Cli.Tests.Infrastructure;

/// <summary>How one orch process ended.</summary>
public sealed record OrchResult(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed)
{
    public override string ToString() => $"exit {ExitCode} after {Elapsed.TotalSeconds:0.00}s\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>
/// The real orch binary, started as a child process the way CI starts it: stdin closed, stdout and stderr
/// redirected (so no terminal and no live display), no CI or terminal-size variables inherited.
/// </summary>
public sealed class OrchCli : IDisposable
{
    private static readonly Lazy<(string FileName, string[] Prefix)> Command = new(FindCommand);

    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly Stopwatch _clock;

    private OrchCli(string workingDirectory, IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var (fileName, prefix) = Command.Value;
        var info = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in prefix) info.ArgumentList.Add(a);
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var name in new[] { "CI", "COLUMNS", "LINES", "NO_COLOR", "TERM", "ORCH_CLUSTER_KEY", "ORCH_REDIS_PASSWORD", "ORCH_REDIS_USER" }) info.Environment.Remove(name);
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;

        _process = new Process { StartInfo = info };
        _process.OutputDataReceived += (_, e) => Append(_stdout, e.Data);
        _process.ErrorDataReceived += (_, e) => Append(_stderr, e.Data);
        _clock = Stopwatch.StartNew();
        _process.Start();
        _process.StandardInput.Close();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Starts orch in <paramref name="workingDirectory"/> and returns at once.</summary>
    public static OrchCli Start(string workingDirectory, params string[] args) => new(workingDirectory, args);

    /// <summary>Runs orch to completion (killing it after <paramref name="timeout"/>, default 60 s, and failing the test).</summary>
    public static async Task<OrchResult> RunAsync(string workingDirectory, params string[] args) => await RunAsync(workingDirectory, TimeSpan.FromSeconds(60), args);

    public static async Task<OrchResult> RunAsync(string workingDirectory, TimeSpan timeout, params string[] args)
    {
        using var orch = Start(workingDirectory, args);
        return await orch.WaitAsync(timeout);
    }

    /// <summary>Runs orch to completion with these environment variables set.</summary>
    public static async Task<OrchResult> RunAsync(string workingDirectory, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        using var orch = new OrchCli(workingDirectory, args, environment);
        return await orch.WaitAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>Waits for the process to exit; kills it and fails when it takes longer than <paramref name="timeout"/>.</summary>
    public async Task<OrchResult> WaitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None);
            Assert.Fail($"orch {string.Join(' ', _process.StartInfo.ArgumentList)} did not exit within {timeout.TotalSeconds:0.#}s\n{Snapshot()}");
        }
        // The parameterless wait also drains the redirected streams.
        _process.WaitForExit();
        return Snapshot();
    }

    private OrchResult Snapshot()
    {
        string stdout, stderr;
        lock (_stdout) stdout = _stdout.ToString();
        lock (_stderr) stderr = _stderr.ToString();
        return new OrchResult(_process.HasExited ? _process.ExitCode : -1, stdout, stderr, _clock.Elapsed);
    }

    private static void Append(StringBuilder target, string? line)
    {
        if (line is null) return;
        lock (target) target.Append(line).Append('\n');
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }

    private static (string, string[]) FindCommand()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "orch.dll");
        if (!File.Exists(dll)) throw new InvalidOperationException($"orch.dll is not next to the test assembly in {AppContext.BaseDirectory}; is cmd/orch referenced?");
        var host = Environment.ProcessPath;
        if (host is not null && Path.GetFileNameWithoutExtension(host) == "dotnet") return (host, [dll]);
        var apphost = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "orch.exe" : "orch");
        if (File.Exists(apphost)) return (apphost, []);
        return (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } dotnet ? dotnet : "dotnet", [dll]);
    }
}
