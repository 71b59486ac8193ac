using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orch.Actions;
using Orch.Agents;
using Orch.Coordination.Embedded;
using Orch.Protocol;

namespace Orch.AgentHost;

/// <summary>Runs one <see cref="AgentWorker"/> for the life of the host; SIGTERM stops it gracefully.</summary>
public sealed class AgentService(IOptions<AgentHostOptions> options, ILogger<AgentWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        await using var backend = new EmbeddedBackend(Path.GetFullPath(settings.WorkDirectory));
        var agent = new AgentOptions
        {
            Id = new AgentId(settings.Id ?? $"{Environment.MachineName}-{Environment.ProcessId}"),
            Slots = settings.Slots,
            Labels = settings.Labels,
        };
        logger.LogInformation("Agent {AgentId} started with {Slots} slots on the {Backend} backend", agent.Id, agent.Slots, backend.Name);
        await new AgentWorker(backend, ActionRegistry.CreateDefault(), agent, TimeProvider.System, logger).RunAsync(stoppingToken);
        logger.LogInformation("Agent {AgentId} stopped", agent.Id);
    }
}
