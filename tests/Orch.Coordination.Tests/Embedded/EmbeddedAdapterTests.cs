using Orch.Coordination.Embedded;
using Orch.Coordination.Tests.Conformance;

namespace Orch.Coordination.Tests.Embedded;

public sealed class EmbeddedStateStoreTests : StateStoreConformance
{
    protected override IStateStore CreateStore() => new EmbeddedStateStore();
}

public sealed class EmbeddedMessageBusTests : MessageBusConformance
{
    protected override IMessageBus CreateBus() => new EmbeddedMessageBus();
}

public sealed class EmbeddedResourceLocksTests : ResourceLocksConformance
{
    protected override IResourceLocks CreateLocks(TimeProvider time) => new EmbeddedResourceLocks(time);
}

public sealed class EmbeddedAgentRegistryTests : AgentRegistryConformance
{
    protected override IAgentRegistry CreateRegistry(TimeProvider time, TimeSpan expiry) => new EmbeddedAgentRegistry(time, expiry);
}
