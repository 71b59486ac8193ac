using System.Diagnostics;
using System.Text;

namespace Orch.Cli.Tests.Infrastructure;

/// <summary>A real <c>orch-agent</c> process serving a backend, with its log kept for failure messages.</summary>
public sealed class AgentProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private AgentProcess(Process process) => _process = process;

    public string Id { get; private init; } = "";
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;

    public string Log
    {
        get { lock (_log) return _log.ToString(); }
    }

    /// <summary>Starts an agent; <paramref name="settings"/> are extra <c>--Agent:Name=value</c> arguments.</summary>
    public static AgentProcess Start(string backend, string id, int slots = 2, params string[] settings)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "orch-agent.dll");
        var info = new ProcessStartInfo(Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[] { dll, $"--Agent:Backend={backend}", $"--Agent:Slots={slots}", $"--Agent:Id={id}" }.Concat(settings)) info.ArgumentList.Add(a);
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start orch-agent");
        var agent = new AgentProcess(process) { Id = id };
        process.OutputDataReceived += (_, e) => agent.Append(e.Data);
        process.ErrorDataReceived += (_, e) => agent.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return agent;
    }

    /// <summary>SIGKILL: the agent gets no chance to hand anything back.</summary>
    public async Task KillHardAsync()
    {
        Processes.Signal(Pid, "KILL");
        await _process.WaitForExitAsync();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_log) _log.Append(line).Append('\n');
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
