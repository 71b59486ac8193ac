using Orch.Coordination.Redis;
using Orch.Coordination.Tests.Conformance;
using StackExchange.Redis;

namespace Orch.Coordination.Tests.Redis;

public sealed class RedisResourceLocksTests : ResourceLocksConformance
{
    private readonly string _prefix = "locks-" + Guid.NewGuid().ToString("N")[..12];
    private RedisServer? _server;
    private ConnectionMultiplexer? _connection;
    private ConnectionMultiplexer? _otherConnection;
    private readonly List<RedisResourceLocks> _others = [];

    private IDatabase Database => _connection?.GetDatabase() ?? throw new InvalidOperationException("used before InitializeAsync");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public override async ValueTask InitializeAsync()
    {
        _server = await RedisServer.StartAsync();
        _connection = await ConnectionMultiplexer.ConnectAsync(_server.ConnectionString);
        _otherConnection = await ConnectionMultiplexer.ConnectAsync(_server.ConnectionString);
        await base.InitializeAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var other in _others) await other.DisposeAsync();
        if (_connection is not null) await _connection.DisposeAsync();
        if (_otherConnection is not null) await _otherConnection.DisposeAsync();
        if (_server is not null) await _server.DisposeAsync();
    }

    protected override IResourceLocks CreateLocks(TimeProvider time) => new RedisResourceLocks(Database, _prefix, time);

    /// <summary>Another instance on its own connection to the same Redis and prefix, as a second process would have.</summary>
    private RedisResourceLocks Another()
    {
        var database = _otherConnection?.GetDatabase() ?? throw new InvalidOperationException("used before InitializeAsync");
        var locks = new RedisResourceLocks(database, _prefix, Time);
        _others.Add(locks);
        return locks;
    }

    [Fact]
    public async Task TwoInstances_ContendForAMutex_NeverHoldItTogether()
    {
        var instances = new[] { Locks, Another() };
        const int loops = 4, cycles = 50;
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
        var first = Another();
        var second = Another();
        var stale = await first.AcquireAsync([new LockRequest(R("m"), 1)], "stops-renewing", TimeSpan.FromSeconds(10), Ct).Within();
        var next = second.AcquireAsync([new LockRequest(R("m"), 1)], "waiter", LongLease, Ct).AsTask();

        await AdvanceAsync(TimeSpan.FromSeconds(6));
        Assert.True(await first.RenewAsync(stale.LeaseId, TimeSpan.FromSeconds(10), Ct));
        await AdvanceAsync(TimeSpan.FromSeconds(6));
        await Async.AssertStillWaiting(next, "a renewed lease was taken by the other instance");

        await AdvanceAsync(TimeSpan.FromSeconds(11)); // the holder stopped renewing

        var lease = await next.Within();
        Assert.Equal("waiter", lease.Holder);
        Assert.True(lease.Grants[0].FencingToken > stale.Grants[0].FencingToken);
        Assert.False(await first.RenewAsync(stale.LeaseId, TimeSpan.FromSeconds(10), Ct));
        Assert.Equal(["waiter"], (await first.ListAsync(Ct)).Single(s => s.Resource == R("m")).Holders);
    }

    [Fact]
    public async Task TwoInstances_DiningPhilosophers_AllMealsFinishQuickly()
    {
        var instances = new[] { Locks, Another() };
        const int seats = 5, meals = 30;
        var inside = new int[seats];
        var violations = 0;
        await Task.WhenAll(Enumerable.Range(0, seats).Select(seat => Task.Run(async () =>
        {
            var locks = instances[seat % instances.Length];
            int left = seat, right = (seat + 1) % seats;
            for (var i = 0; i < meals; i++)
            {
                var lease = await locks.AcquireAsync([new LockRequest(R($"fork:{left}"), 1), new LockRequest(R($"fork:{right}"), 1)], $"seat-{seat}", LongLease, Ct).Within();
                if (Interlocked.Increment(ref inside[left]) != 1) Interlocked.Increment(ref violations);
                if (Interlocked.Increment(ref inside[right]) != 1) Interlocked.Increment(ref violations);
                await Task.Yield();
                Interlocked.Decrement(ref inside[left]);
                Interlocked.Decrement(ref inside[right]);
                await locks.ReleaseAsync(lease.LeaseId, Ct);
            }
        }, Ct))).Within(TimeSpan.FromSeconds(10));

        Assert.Equal(0, violations);
    }

    [Fact]
    public async Task Acquire_DuplicateResourceNames_AreGrantedOnce()
    {
        var lease = await Locks.AcquireAsync([new LockRequest(R("a"), 1), new LockRequest(R("a"), 1)], "dup", LongLease, Ct).Within();
        Assert.Equal([R("a")], lease.Grants.Select(g => g.Resource));
        Assert.Equal(["dup"], (await Locks.ListAsync(Ct)).Single(s => s.Resource == R("a")).Holders);
    }

    [Fact]
    public async Task Acquire_CapacityBelowOne_Throws()
    {
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Locks.AcquireAsync([new LockRequest(R("a"), 0)], "x", LongLease, Ct).AsTask());
        Assert.DoesNotContain(await Locks.ListAsync(Ct), s => s.Resource == R("a"));
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
