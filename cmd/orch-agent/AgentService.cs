using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orch.Actions;
using Orch.Agents;
using Orch.Coordination;
using Orch.Coordination.Resilience;
using Orch.Coordination.Signing;
using Orch.Hosting;
using Orch.Protocol;

namespace Orch.AgentHost;

/// <summary>Runs one <see cref="AgentWorker"/> for the life of the host; SIGTERM stops it gracefully.</summary>
public sealed class AgentService(
    IOptions<AgentHostOptions> options,
    ILogger<AgentWorker> logger,
    ILogger<SignedMessageBus> signingLogger,
    IHostApplicationLifetime lifetime) : BackgroundService
{
    /// <summary>Exit code when the backend cannot be reached (the infrastructure family, as for orch).</summary>
    public const int BackendUnavailable = 30;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        ICoordinationBackend backend;
        try
        {
            // Checked before the host started: a shared backend's address.
            backend = await BackendAddress.ConnectAsync(settings.Backend!);
        }
        catch (BackendUnavailableException ex)
        {
            logger.LogError("{Message}", ex.Message);
            Environment.ExitCode = BackendUnavailable;
            lifetime.StopApplication();
            return;
        }
        // Checked before the host started; loaded again here for the backend.
        var key = settings.LoadClusterKey(out var _);
        if (key is not null)
        {
            backend = backend.WithSigning(key, signingLogger);
            logger.LogInformation("Bus messages are signed and checked with {ClusterKey}", key);
        }
        else
        {
            logger.LogWarning("INSECURE: Agent:Insecure=true, so tasks on the {Backend} backend are not authenticated: anyone who can write to it can run commands as this agent's user", backend.Name);
        }
        // An outage of the backend pauses the agent (no work taken) until it is back.
        backend = new PatientBackend(backend, Timeout.InfiniteTimeSpan, message => logger.LogWarning("{Message}", message));
        await using var _ = backend;
        var agent = new AgentOptions
        {
            Id = new AgentId(settings.Id ?? $"{Environment.MachineName}-{Environment.ProcessId}"),
            Slots = settings.Slots,
            Labels = settings.Labels,
            HeartbeatInterval = settings.HeartbeatInterval,
            ShutdownGrace = settings.ShutdownGrace,
            WorkDirectory = Path.GetFullPath(settings.WorkDirectory),
            CacheBytes = settings.CacheMegabytes << 20,
        };
        logger.LogInformation("Agent {AgentId} started with {Slots} slots on the {Backend} backend", agent.Id, agent.Slots, backend.Name);
        await new AgentWorker(backend, ActionRegistry.CreateDefault(), agent, TimeProvider.System, logger).RunAsync(stoppingToken);
        logger.LogInformation("Agent {AgentId} stopped", agent.Id);
    }
}
