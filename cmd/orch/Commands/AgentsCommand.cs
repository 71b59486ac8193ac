using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Orch.Cli.Commands;

/// <summary>
/// <c>orch agents --backend ADDRESS</c>: the live agents, their slots and what they run, and the
/// id of the cluster key each checks messages with (a run is served only by agents with its key).
/// </summary>
public sealed class AgentsCommand : AsyncCommand<BackendSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, BackendSettings settings, CancellationToken cancellationToken)
    {
        await using var backend = await settings.ConnectAsync();
        if (backend is null) return ExitCodes.Infrastructure;
        var agents = await backend.Agents.ListAsync(cancellationToken);
        var now = DateTimeOffset.UtcNow;
        if (settings.Json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(agents.Select(a => new
            {
                id = a.Id.Value, host = a.Host, labels = a.Labels, slots = a.Slots, running = a.Running, version = a.Version,
                heartbeat_age_ms = (long)(now - a.LastHeartbeat).TotalMilliseconds,
                cluster_key_id = a.ClusterKeyId.Length == 0 ? null : a.ClusterKeyId,
            }), new JsonSerializerOptions { WriteIndented = true }));
            return ExitCodes.Success;
        }
        var table = new Table().Border(TableBorder.Simple).AddColumns("agent", "host", "labels", "slots", "running", "heartbeat", "version", "cluster key");
        foreach (var a in agents)
        {
            table.AddRow(Markup.Escape(a.Id.Value), Markup.Escape(a.Host), Markup.Escape(string.Join(",", a.Labels)),
                a.Slots.ToString(CultureInfo.InvariantCulture), a.Running.ToString(CultureInfo.InvariantCulture),
                $"{(now - a.LastHeartbeat).TotalSeconds:0.0}s ago", Markup.Escape(a.Version), a.ClusterKeyId.Length == 0 ? "insecure" : a.ClusterKeyId);
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"{agents.Count} live agent(s), {agents.Sum(a => a.Slots)} slots");
        return ExitCodes.Success;
    }
}
