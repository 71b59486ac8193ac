using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Orch.Cli.Commands;

/// <summary><c>orch locks --backend ADDRESS</c>: every resource with its holders and waiters (who waits for what).</summary>
public sealed class LocksCommand : AsyncCommand<BackendSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, BackendSettings settings, CancellationToken cancellationToken)
    {
        await using var backend = await settings.ConnectAsync();
        if (backend is null) return ExitCodes.Infrastructure;
        var locks = await backend.Locks.ListAsync(cancellationToken);
        if (settings.Json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(locks.Select(l => new { resource = l.Resource, capacity = l.Capacity, holders = l.Holders, waiters = l.Waiters }),
                new JsonSerializerOptions { WriteIndented = true }));
            return ExitCodes.Success;
        }
        var table = new Table().Border(TableBorder.Simple).AddColumns("resource", "capacity", "held by", "waiting");
        foreach (var l in locks)
        {
            table.AddRow(Markup.Escape(l.Resource), l.Capacity.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(string.Join(", ", l.Holders)), Markup.Escape(string.Join(", ", l.Waiters)));
        }
        AnsiConsole.Write(table);
        return ExitCodes.Success;
    }
}
