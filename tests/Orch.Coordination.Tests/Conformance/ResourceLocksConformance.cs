using Microsoft.Extensions.Time.Testing;

namespace Orch.Coordination.Tests.Conformance;

/// <summary>
/// What every <see cref="IResourceLocks"/> adapter must do: mutual exclusion, counting
/// semaphores, all-or-nothing multi-resource grants, strictly increasing fencing tokens,
/// first-come first-served fairness among overlapping waiters, cancellation, lease expiry and
/// renewal. Time is a <see cref="FakeTimeProvider"/> that the adapter is built with; an adapter
/// that keeps time elsewhere overrides <see cref="AdvanceAsync"/>.
/// </summary>
public abstract class ResourceLocksConformance : IAsyncLifetime
{
    /// <summary>Long enough that no lease expires unless a test moves time on.</summary>
    protected static readonly TimeSpan LongLease = TimeSpan.FromMinutes(10);

    private IResourceLocks? _locks;
    private readonly string _scope = "conformance-" + Guid.NewGuid().ToString("N")[..12];

    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2030, 1, 1, 12, 0, 0, TimeSpan.Zero));

    /// <summary>Makes the locks under test, reading the clock from <paramref name="time"/>.</summary>
    protected abstract IResourceLocks CreateLocks(TimeProvider time);

    /// <summary>Moves the adapter's clock forward.</summary>
    protected virtual ValueTask AdvanceAsync(TimeSpan by)
    {
        Time.Advance(by);
        return ValueTask.CompletedTask;
    }

    protected IResourceLocks Locks => _locks ?? throw new InvalidOperationException("used before InitializeAsync");

    public virtual ValueTask InitializeAsync()
    {
        _locks = CreateLocks(Time); // made up front: tests touch it from many threads at once
        return ValueTask.CompletedTask;
    }

    public virtual async ValueTask DisposeAsync()
    {
        switch (_locks)
        {
            case IAsyncDisposable a: await a.DisposeAsync(); break;
            case IDisposable d: d.Dispose(); break;
        }
        GC.SuppressFinalize(this);
    }

    /// <summary>A resource name private to this test.</summary>
    protected string R(string name) => $"{_scope}/{name}";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Task<LockLease> Acquire(string holder, params string[] resources) =>
        Acquire(holder, LongLease, Ct, resources);

    private Task<LockLease> Acquire(string holder, TimeSpan lease, CancellationToken cancellationToken, params string[] resources) =>
        Locks.AcquireAsync(resources.Select(r => new LockRequest(R(r), 1)).ToList(), holder, lease, cancellationToken).AsTask();

    private Task<LockLease> AcquireShared(string holder, string resource, int capacity) =>
        Locks.AcquireAsync([new LockRequest(R(resource), capacity)], holder, LongLease, Ct).AsTask();

    private Task Release(LockLease lease) => Locks.ReleaseAsync(lease.LeaseId, Ct).AsTask();

    private async Task<LockStatus?> Status(string resource) =>
        (await Locks.ListAsync(Ct)).FirstOrDefault(s => s.Resource == R(resource));

    private async Task<bool> IsFree(string resource) => (await Status(resource))?.Holders.Count is null or 0;

    [Fact]
    public async Task Acquire_FreeResources_GrantsAllWithHolderAndExpiry()
    {
        var before = Time.GetUtcNow();
        var lease = await Acquire("alice", TimeSpan.FromSeconds(30), Ct, "a", "b").Within();

        Assert.Equal("alice", lease.Holder);
        Assert.False(string.IsNullOrEmpty(lease.LeaseId));
        Assert.Equal([R("a"), R("b")], lease.Grants.Select(g => g.Resource).Order(StringComparer.Ordinal));
        Assert.InRange(lease.ExpiresAt, before + TimeSpan.FromSeconds(29), before + TimeSpan.FromSeconds(31));
    }

    [Fact]
    public async Task Acquire_LeaseIdsAreUnique()
    {
        var a = await Acquire("x", "a").Within();
        var b = await Acquire("x", "b").Within();
        await Release(a);
        var c = await Acquire("x", "a").Within();
        Assert.Equal(3, new[] { a.LeaseId, b.LeaseId, c.LeaseId }.Distinct().Count());
    }

    [Fact]
    public async Task Mutex_SecondAcquire_WaitsUntilTheFirstIsReleased()
    {
        var first = await Acquire("first", "m").Within();
        var second = Acquire("second", "m");
        await Async.AssertStillWaiting(second, "a held mutex was granted twice");

        await Release(first);

        var lease = await second.Within();
        Assert.Equal("second", lease.Holder);
    }

    [Fact]
    public async Task Mutex_ManyConcurrentClients_NeverOverlap()
    {
        const int clients = 16, rounds = 15;
        var inside = 0;
        var maxInside = 0;
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            for (var i = 0; i < rounds; i++)
            {
                var lease = await Acquire($"client-{c}", "m").Within();
                var now = Interlocked.Increment(ref inside);
                InterlockedMax(ref maxInside, now);
                await Task.Yield();
                Interlocked.Decrement(ref inside);
                await Release(lease);
            }
        }, Ct))).Within(TimeSpan.FromSeconds(30));

        Assert.Equal(1, maxInside);
    }

    [Fact]
    public async Task Mutex_OverlappingMultiResourceRequests_NeverShareAResourceAndNeverDeadlock()
    {
        // Five clients around a table, each needing its two neighbouring forks.
        const int seats = 5, meals = 20;
        var inside = new int[seats];
        var violations = 0;
        await Task.WhenAll(Enumerable.Range(0, seats).Select(seat => Task.Run(async () =>
        {
            int left = seat, right = (seat + 1) % seats;
            for (var i = 0; i < meals; i++)
            {
                var lease = await Acquire($"seat-{seat}", $"fork:{right}", $"fork:{left}").Within();
                if (Interlocked.Increment(ref inside[left]) != 1) Interlocked.Increment(ref violations);
                if (Interlocked.Increment(ref inside[right]) != 1) Interlocked.Increment(ref violations);
                await Task.Yield();
                Interlocked.Decrement(ref inside[left]);
                Interlocked.Decrement(ref inside[right]);
                await Release(lease);
            }
        }, Ct))).Within(TimeSpan.FromSeconds(30));

        Assert.Equal(0, violations);
    }

    [Fact]
    public async Task Semaphore_CapacityN_GrantsNHoldersThenWaits()
    {
        var holders = new List<LockLease>();
        for (var i = 0; i < 3; i++) holders.Add(await AcquireShared($"h{i}", "pool", 3).Within());
        var fourth = AcquireShared("h3", "pool", 3);
        await Async.AssertStillWaiting(fourth, "a semaphore of capacity 3 took a fourth holder");

        var status = await Status("pool");
        Assert.NotNull(status);
        Assert.Equal(3, status.Capacity);
        Assert.Equal(["h0", "h1", "h2"], status.Holders.Order(StringComparer.Ordinal));

        await Release(holders[1]);
        Assert.Equal("h3", (await fourth.Within()).Holder);
    }

    [Fact]
    public async Task Semaphore_ManyConcurrentClients_NeverExceedCapacity()
    {
        const int capacity = 3, clients = 12, rounds = 10;
        var inside = 0;
        var maxInside = 0;
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            for (var i = 0; i < rounds; i++)
            {
                var lease = await AcquireShared($"client-{c}", "pool", capacity).Within();
                InterlockedMax(ref maxInside, Interlocked.Increment(ref inside));
                await Task.Delay(1, Ct);
                Interlocked.Decrement(ref inside);
                await Release(lease);
            }
        }, Ct))).Within(TimeSpan.FromSeconds(30));

        Assert.InRange(maxInside, 2, capacity); // shared, but never over capacity
    }

    [Fact]
    public async Task Acquire_SeveralResourcesWhileOneIsHeld_TakesNoneOfThem()
    {
        var b = await Acquire("holder-of-b", "b").Within();
        var both = Acquire("wants-a-and-b", "a", "b");
        await Async.AssertStillWaiting(both, "a request for {a,b} was granted while b was held");

        Assert.True(await IsFree("a"), "a request for {a,b} took a while b was held");
        var c = await Acquire("bystander", "c").Within(); // unrelated resources are not blocked

        await Release(b);
        var lease = await both.Within();
        Assert.Equal([R("a"), R("b")], lease.Grants.Select(g => g.Resource).Order(StringComparer.Ordinal));
        await Release(c);
    }

    [Fact]
    public async Task Fencing_TokensStrictlyIncreasePerResource()
    {
        var tokens = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            var lease = await Acquire("x", "a").Within();
            tokens.Add(Assert.Single(lease.Grants).FencingToken);
            await Release(lease);
        }
        for (var i = 1; i < tokens.Count; i++) Assert.True(tokens[i] > tokens[i - 1], $"fencing tokens did not increase: {string.Join(", ", tokens)}");
    }

    [Fact]
    public async Task Fencing_ConcurrentSemaphoreHoldersGetDistinctIncreasingTokens()
    {
        var tokens = new List<long>();
        for (var i = 0; i < 3; i++) tokens.Add(Assert.Single((await AcquireShared($"h{i}", "pool", 3).Within()).Grants).FencingToken);
        Assert.Equal(tokens.Order(), tokens);
        Assert.Equal(3, tokens.Distinct().Count());
    }

    [Fact]
    public async Task Fencing_MultiResourceLease_EachGrantFollowsItsOwnResource()
    {
        var a1 = await Acquire("x", "a").Within();
        await Release(a1);
        var a2 = await Acquire("x", "a").Within();
        await Release(a2);
        var both = await Acquire("y", "a", "b").Within();

        var tokenA = both.Grants.Single(g => g.Resource == R("a")).FencingToken;
        Assert.True(tokenA > a2.Grants[0].FencingToken);
        Assert.Contains(both.Grants, g => g.Resource == R("b"));
    }

    [Fact]
    public async Task Fencing_GrantAfterExpiry_HasAHigherToken()
    {
        var stale = await Acquire("stale", TimeSpan.FromSeconds(5), Ct, "a").Within();
        var next = Acquire("next", "a");
        await AdvanceAsync(TimeSpan.FromSeconds(6));
        var fresh = await next.Within();

        Assert.True(fresh.Grants[0].FencingToken > stale.Grants[0].FencingToken);
    }

    [Fact]
    public async Task Fairness_WaiterForSeveralResources_IsNotStarvedByLaterSmallRequests()
    {
        var holdsB = await Acquire("holds-b", "b").Within();
        var holdsA = await Acquire("holds-a", "a").Within();
        var big = Acquire("big", "a", "b");
        await WaitForWaiters("a", 1);
        var small = new List<Task<LockLease>>();
        for (var i = 0; i < 5; i++)
        {
            small.Add(Acquire($"small-{i}", "a"));
            await WaitForWaiters("a", i + 2);
        }

        // a becomes free, but the older waiter for {a,b} has first claim on it.
        await Release(holdsA);
        await Async.AssertStillWaiting(Task.WhenAny(small), "a later request for {a} overtook the waiter for {a,b}");
        Assert.False(big.IsCompleted);

        await Release(holdsB);
        var bigLease = await big.Within();
        Assert.All(small, s => Assert.False(s.IsCompleted, "a small request was granted while the big waiter held a"));

        // Then the small requests are served one at a time, in the order they asked.
        var previous = bigLease;
        for (var i = 0; i < small.Count; i++)
        {
            await Release(previous);
            previous = await small[i].Within();
            for (var j = i + 1; j < small.Count; j++) Assert.False(small[j].IsCompleted, $"small-{j} was granted before small-{i} released");
        }
    }

    [Fact]
    public async Task Fairness_WaitersForTheSameMutex_AreServedInArrivalOrder()
    {
        var holder = await Acquire("holder", "m").Within();
        var waiters = new List<Task<LockLease>>();
        for (var i = 0; i < 5; i++)
        {
            waiters.Add(Acquire($"w{i}", "m"));
            await WaitForWaiters("m", i + 1);
        }

        var previous = holder;
        foreach (var waiter in waiters)
        {
            await Release(previous);
            previous = await waiter.Within();
        }
        Assert.Equal(["w0", "w1", "w2", "w3", "w4"], waiters.Select(w => w.Result.Holder));
    }

    [Fact]
    public async Task Cancel_WaitingAcquire_ThrowsAndFreesItsPlace()
    {
        var holdsA = await Acquire("holds-a", "a").Within();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var big = Acquire("big", LongLease, cts.Token, "a", "b");
        await WaitForWaiters("b", 1);
        var wantsB = Acquire("wants-b", "b");
        await Async.AssertStillWaiting(wantsB, "the later request for b overtook the waiter for {a,b}");

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => big.Within());
        Assert.Equal("wants-b", (await wantsB.Within()).Holder);
        var statusA = await Status("a");
        Assert.DoesNotContain("big", statusA?.Waiters ?? []);
        Assert.Equal(["holds-a"], statusA?.Holders ?? []);

        await Release(holdsA);
        Assert.True(await IsFree("a"), "the cancelled waiter was granted a after all");
    }

    [Fact]
    public async Task Cancel_AlreadyCancelledToken_WhileResourceIsHeld_Throws()
    {
        await Acquire("holder", "m").Within();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Acquire("late", LongLease, cts.Token, "m").Within());
        Assert.DoesNotContain("late", (await Status("m"))?.Waiters ?? []);
    }

    [Fact]
    public async Task Expiry_LeaseNotRenewed_IsReleasedToTheNextWaiter()
    {
        var stale = await Acquire("stale", TimeSpan.FromSeconds(10), Ct, "a").Within();
        var next = Acquire("next", "a");
        await Async.AssertStillWaiting(next, "granted before the lease expired");

        await AdvanceAsync(TimeSpan.FromSeconds(11));

        Assert.Equal("next", (await next.Within()).Holder);
        Assert.False(await Locks.RenewAsync(stale.LeaseId, TimeSpan.FromSeconds(10), Ct));
    }

    [Fact]
    public async Task Expiry_ReleaseOfAnExpiredLease_DoesNotFreeTheNewHolder()
    {
        var stale = await Acquire("stale", TimeSpan.FromSeconds(10), Ct, "a").Within();
        var next = Acquire("next", "a");
        await AdvanceAsync(TimeSpan.FromSeconds(11));
        await next.Within();

        await Release(stale);

        var third = Acquire("third", "a");
        await Async.AssertStillWaiting(third, "releasing an expired lease freed its resource from the new holder");
        Assert.Equal(["next"], (await Status("a"))!.Holders);
    }

    [Fact]
    public async Task Renew_BeforeExpiry_KeepsTheLease()
    {
        var lease = await Acquire("renewer", TimeSpan.FromSeconds(10), Ct, "a").Within();
        var next = Acquire("next", "a");

        await AdvanceAsync(TimeSpan.FromSeconds(6));
        Assert.True(await Locks.RenewAsync(lease.LeaseId, TimeSpan.FromSeconds(10), Ct));
        await AdvanceAsync(TimeSpan.FromSeconds(6)); // 12s after the grant: past the original expiry
        await Async.AssertStillWaiting(next, "a renewed lease expired at its original time");
        Assert.Equal(["renewer"], (await Status("a"))!.Holders);

        await AdvanceAsync(TimeSpan.FromSeconds(5)); // 17s: past the renewed expiry (16s)
        Assert.Equal("next", (await next.Within()).Holder);
        Assert.False(await Locks.RenewAsync(lease.LeaseId, TimeSpan.FromSeconds(10), Ct));
    }

    /// <summary>Set to true in an adapter's test class (with <c>new</c>) while it applies expiry only on some later event.</summary>

    [Fact]
    public async Task Renew_AfterExpiry_ReturnsFalseEvenWhenNobodyElseAskedForTheResource()
    {
        var lease = await Acquire("late", TimeSpan.FromMilliseconds(300), Ct, "a").Within();
        await AdvanceAsync(TimeSpan.FromMilliseconds(500));

        Assert.False(await Locks.RenewAsync(lease.LeaseId, TimeSpan.FromSeconds(10), Ct));
    }

    [Fact]
    public async Task List_AfterExpiry_DoesNotShowTheExpiredHolder()
    {
        await Acquire("late", TimeSpan.FromMilliseconds(300), Ct, "a").Within();
        await AdvanceAsync(TimeSpan.FromMilliseconds(500));

        Assert.True(await IsFree("a"));
    }

    [Fact]
    public async Task Release_UnknownLease_IsHarmless()
    {
        var held = await Acquire("holder", "a").Within();
        await Locks.ReleaseAsync("no-such-lease", Ct);
        Assert.False(await Locks.RenewAsync("no-such-lease", TimeSpan.FromSeconds(1), Ct));
        Assert.Equal(["holder"], (await Status("a"))!.Holders);
        await Release(held);
    }

    [Fact]
    public async Task Release_Twice_DoesNotFreeTheNextHoldersGrant()
    {
        var first = await Acquire("first", "a").Within();
        var second = Acquire("second", "a");
        await Release(first);
        await second.Within();

        await Release(first);

        Assert.Equal(["second"], (await Status("a"))!.Holders);
        await Async.AssertStillWaiting(Acquire("third", "a"), "a double release freed another holder's grant");
    }

    [Fact]
    public async Task List_ShowsHoldersAndWaitersPerResource()
    {
        await Acquire("alice", "a", "b").Within();
        _ = Acquire("bob", "b", "c");
        _ = AcquireShared("carol", "pool", 2);
        await WaitForWaiters("b", 1);

        var all = await Locks.ListAsync(Ct);
        var a = all.Single(s => s.Resource == R("a"));
        var b = all.Single(s => s.Resource == R("b"));
        var pool = all.Single(s => s.Resource == R("pool"));

        Assert.Equal(1, a.Capacity);
        Assert.Equal(["alice"], a.Holders);
        Assert.Empty(a.Waiters);
        Assert.Equal(["alice"], b.Holders);
        Assert.Equal(["bob"], b.Waiters);
        Assert.Equal(2, pool.Capacity);
        Assert.Equal(["carol"], pool.Holders);
    }

    /// <summary>Waits until <paramref name="resource"/> lists at least <paramref name="count"/> waiters.</summary>
    private async Task WaitForWaiters(string resource, int count)
    {
        var deadline = DateTime.UtcNow + Async.Patience;
        while (((await Status(resource))?.Waiters.Count ?? 0) < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{resource} never had {count} waiters");
            await Task.Delay(2, Ct);
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current) return;
            current = seen;
        }
    }
}
