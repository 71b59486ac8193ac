using Orch.Coordination.Dapr;
using Orch.Coordination.Embedded;
using Orch.Coordination.Tests.Conformance;

namespace Orch.Coordination.Tests.Dapr;

/// <summary>The resource locks kit on a lock table in Dapr state, plus instances that share the table.</summary>
public abstract class DaprResourceLocksTests : ResourceLocksConformance
{
    private DaprSidecar? _sidecar;

    protected DaprSidecar Sidecar => _sidecar ?? throw new InvalidOperationException("used before InitializeAsync");

    protected abstract Task<DaprSidecar> StartSidecarAsync();

    protected override IResourceLocks CreateLocks(TimeProvider time) => Another(time);

    /// <summary>Another instance on its own store client and the same table, as a second process would have.</summary>
    private StateStoreResourceLocks Another(TimeProvider time) =>
        new(new DaprStateStore(Sidecar.Client, DaprSidecar.StateStoreName, Sidecar.Prefix), "locks", time);

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

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TwoInstances_ContendForAMutex_NeverHoldItTogether()
    {
        var instances = new[] { Locks, Another(Time) };
        const int loops = 4, cycles = 25;
        var inside = 0;
        var overlaps = 0;
        var tokens = new System.Collections.Concurrent.ConcurrentBag<long>();
        await Task.WhenAll(Enumerable.Range(0, loops).Select(loop => Task.Run(async () =>
        {
            var locks = instances[loop % instances.Length];
            for (var i = 0; i < cycles; i++)
            {
                var lease = await locks.AcquireAsync([new LockRequest(R("m"), 1)], $"loop-{loop}", LongLease, Ct).Within();
                if (Interlocked.Increment(ref inside) != 1) Interlocked.Increment(ref overlaps);
                tokens.Add(lease.Grants[0].FencingToken);
                await Task.Yield();
                Interlocked.Decrement(ref inside);
                await locks.ReleaseAsync(lease.LeaseId, Ct);
            }
        }, Ct))).Within(TimeSpan.FromSeconds(30));

        Assert.Equal(0, overlaps);
        Assert.Equal(loops * cycles, tokens.Distinct().Count());
    }

    [Fact]
    public async Task TwoInstances_HolderStopsRenewing_WaiterOnTheOtherInstanceGetsTheResource()
    {
        var first = Another(Time);
        var second = Another(Time);
        var stale = await first.AcquireAsync([new LockRequest(R("m"), 1)], "stops-renewing", TimeSpan.FromSeconds(10), Ct).Within();
        var next = second.AcquireAsync([new LockRequest(R("m"), 1)], "waiter", LongLease, Ct).AsTask();

        await AdvanceAsync(TimeSpan.FromSeconds(6));
        Assert.True(await first.RenewAsync(stale.LeaseId, TimeSpan.FromSeconds(10), Ct));
        await AdvanceAsync(TimeSpan.FromSeconds(6));
        await Async.AssertStillWaiting(next, "a renewed lease was taken by the other instance");

        await AdvanceAsync(TimeSpan.FromSeconds(11));

        var lease = await next.Within();
        Assert.Equal("waiter", lease.Holder);
        Assert.True(lease.Grants[0].FencingToken > stale.Grants[0].FencingToken);
        Assert.False(await first.RenewAsync(stale.LeaseId, TimeSpan.FromSeconds(10), Ct));
    }

    [Fact]
    public async Task Capacity_IsFixedByTheFirstRequest()
    {
        await Locks.AcquireAsync([new LockRequest(R("pool"), 2)], "first", LongLease, Ct).Within();
        await Locks.AcquireAsync([new LockRequest(R("pool"), 5)], "second", LongLease, Ct).Within();
        var third = Locks.AcquireAsync([new LockRequest(R("pool"), 5)], "third", LongLease, Ct).AsTask();
        await Async.AssertStillWaiting(third, "a later request raised the capacity");
        Assert.Equal(2, (await Locks.ListAsync(Ct)).Single(s => s.Resource == R("pool")).Capacity);
    }
}

public sealed class StandInDaprResourceLocksTests : DaprResourceLocksTests
{
    protected override Task<DaprSidecar> StartSidecarAsync() => StandInDaprSidecar.StartAsync();
}

/// <summary>Against a real daprd with a Redis state store; skipped when daprd is not on PATH.</summary>
public sealed class DaprdResourceLocksTests : DaprResourceLocksTests
{
    protected override Task<DaprSidecar> StartSidecarAsync() => RealDaprSidecar.StartAsync();
}

/// <summary>The same lock table on the in-process state store: the locks rely only on the state port's compare-and-set.</summary>
public sealed class StateStoreResourceLocksOnEmbeddedStateTests : ResourceLocksConformance
{
    protected override IResourceLocks CreateLocks(TimeProvider time) => new StateStoreResourceLocks(new EmbeddedStateStore(), "locks", time);
}
