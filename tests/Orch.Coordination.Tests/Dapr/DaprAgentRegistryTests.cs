using Orch.Coordination.Dapr;
using Orch.Coordination.Tests.Conformance;

namespace Orch.Coordination.Tests.Dapr;

/// <summary>The agent registry kit on agent records in Dapr state.</summary>
public abstract class DaprAgentRegistryTests : AgentRegistryConformance
{
    private DaprSidecar? _sidecar;

    protected DaprSidecar Sidecar => _sidecar ?? throw new InvalidOperationException("used before InitializeAsync");

    protected abstract Task<DaprSidecar> StartSidecarAsync();

    protected override IAgentRegistry CreateRegistry(TimeProvider time, TimeSpan expiry) =>
        new StateStoreAgentRegistry(new DaprStateStore(Sidecar.Client, DaprSidecar.StateStoreName, Sidecar.Prefix), "agents/", time, expiry);

    public override async ValueTask InitializeAsync()
    {
        _sidecar = await StartSidecarAsync();
        await base.InitializeAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (_sidecar is not null) await _sidecar.DisposeAsync();
    }
}

public sealed class StandInDaprAgentRegistryTests : DaprAgentRegistryTests
{
    protected override Task<DaprSidecar> StartSidecarAsync() => StandInDaprSidecar.StartAsync();
}

/// <summary>Against a real daprd with a Redis state store; skipped when daprd is not on PATH.</summary>
public sealed class DaprdAgentRegistryTests : DaprAgentRegistryTests
{
    protected override Task<DaprSidecar> StartSidecarAsync() => RealDaprSidecar.StartAsync();
}
