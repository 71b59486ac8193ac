using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace Orch.Cli.Tests.Infrastructure;

/// <summary>Cluster key files for tests: fresh random keys, base64 as the README says to make them.</summary>
public static class ClusterKeyFiles
{
    /// <summary>Writes a new random key to <paramref name="path"/> and returns its text.</summary>
    public static string Write(string path)
    {
        var text = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        File.WriteAllText(path, text + "\n");
        return text;
    }
}

/// <summary>
/// An <c>orch-agent</c> child process with its output kept, for tests that read what it logged.
/// Started without an inherited <c>ORCH_CLUSTER_KEY</c>, so only the arguments decide its key,
/// and in a directory of its own (<see cref="Home"/>, deleted with it), as on another machine.
/// </summary>
public sealed class AgentProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private readonly IReadOnlyList<string> _settings;
    private readonly IReadOnlyDictionary<string, string>? _environment;
    // Passed on to an agent started again in the same directory.
    private bool _ownsHome = true;

    /// <summary>The agent's current directory; its work directory (workspaces, fetched files) is <c>.orch</c> in it.</summary>
    public TempDir Home { get; }

    private AgentProcess(IReadOnlyList<string> settings, IReadOnlyDictionary<string, string>? environment, TempDir? home = null)
    {
        _settings = settings;
        _environment = environment;
        Home = home ?? new TempDir();
        var dll = Path.Combine(AppContext.BaseDirectory, "orch-agent.dll");
        var info = new ProcessStartInfo(Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            WorkingDirectory = Home.Path,
        };
        info.ArgumentList.Add(dll);
        foreach (var setting in settings) info.ArgumentList.Add(setting);
        info.Environment.Remove("ORCH_CLUSTER_KEY");
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        _process = Process.Start(info) ?? throw new InvalidOperationException("could not start orch-agent");
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Starts orch-agent with <c>--Agent:...</c> settings.</summary>
    public static AgentProcess Start(params string[] settings) => new(settings, null);

    /// <summary>Starts orch-agent with <c>--Agent:...</c> settings and extra environment variables.</summary>
    public static AgentProcess Start(IReadOnlyDictionary<string, string> environment, params string[] settings) => new(settings, environment);

    /// <summary>Everything it wrote so far, stdout and stderr interleaved.</summary>
    public string Output
    {
        get { lock (_output) return _output.ToString(); }
    }

    public bool HasExited => _process.HasExited;

    public int Pid => _process.Id;

    /// <summary>The <c>--Agent:Id</c> it was started with, when started by <see cref="StartServing"/>.</summary>
    public string Id { get; private init; } = "";

    /// <summary>Starts an agent serving <paramref name="backend"/> with a cluster key file; <paramref name="settings"/> are extra <c>--Agent:Name=value</c> arguments.</summary>
    public static AgentProcess StartServing(string backend, string id, string keyFile, int slots = 2, params string[] settings) =>
        new([$"--Agent:Backend={backend}", $"--Agent:Slots={slots}", $"--Agent:Id={id}", $"--Agent:ClusterKeyFile={keyFile}", .. settings], null) { Id = id };

    /// <summary>A new agent process with the same settings in the same directory, as a supervisor restarts one that died.</summary>
    public AgentProcess StartAgain()
    {
        _ownsHome = false;
        return new AgentProcess(_settings, _environment, Home) { Id = Id };
    }

    /// <summary>SIGKILL: the agent gets no chance to hand anything back.</summary>
    public async Task KillHardAsync()
    {
        Processes.Signal(Pid, "KILL");
        await _process.WaitForExitAsync();
    }

    /// <summary>Waits until the output contains <paramref name="text"/>; fails the test (with the output) after <paramref name="timeout"/>.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (clock.Elapsed > timeout) Assert.Fail($"orch-agent did not log '{text}' within {timeout.TotalSeconds:0.#}s; it logged:\n{Output}");
            await Task.Delay(50, CancellationToken.None);
        }
    }

    /// <summary>Waits for the process to exit by itself and returns its exit code; fails after <paramref name="timeout"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"orch-agent did not exit within {timeout.TotalSeconds:0.#}s; it logged:\n{Output}");
        }
        _process.WaitForExit();
        return _process.ExitCode;
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output) _output.Append(line).Append('\n');
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
        if (_ownsHome) Home.Dispose();
    }
}
