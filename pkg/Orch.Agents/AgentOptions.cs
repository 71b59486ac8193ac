using Orch.Protocol;

namespace Orch.Agents;

/// <summary>Settings of one agent. Defaults suit the embedded default.</summary>
public sealed record AgentOptions
{
    public required AgentId Id { get; init; }
    public string Host { get; init; } = Environment.MachineName;
    public IReadOnlyList<string> Labels { get; init; } = [];
    /// <summary>Tasks run at once. Default: the number of processors.</summary>
    public int Slots { get; init; } = Environment.ProcessorCount;
    public string Version { get; init; } = typeof(AgentOptions).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>How long a held resource lease is extended at each renewal; renewed every third of it.</summary>
    public TimeSpan LeaseTime { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Time between SIGTERM and SIGKILL when a shell task is stopped.</summary>
    public TimeSpan KillGrace { get; init; } = TimeSpan.FromSeconds(5);
}
