using System.Text;

namespace Orch.Coordination.Tests.Conformance;

/// <summary>
/// What every <see cref="IStateStore"/> adapter must do. Subclass it once per adapter and
/// implement <see cref="CreateStore"/>. Keys are scoped under a fresh prefix per test, so
/// adapters backed by a shared server need no cleanup between tests.
/// </summary>
public abstract class StateStoreConformance : IAsyncLifetime
{
    private IStateStore? _store;

    /// <summary>A fresh prefix per test instance, so tests never see each other's keys.</summary>
    protected string Scope { get; } = "conformance/" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>Makes the store under test.</summary>
    protected abstract IStateStore CreateStore();

    protected IStateStore Store => _store ?? throw new InvalidOperationException("used before InitializeAsync");

    public virtual ValueTask InitializeAsync()
    {
        _store = CreateStore(); // made up front: tests touch it from many threads at once
        return ValueTask.CompletedTask;
    }

    public virtual async ValueTask DisposeAsync()
    {
        switch (_store)
        {
            case IAsyncDisposable a: await a.DisposeAsync(); break;
            case IDisposable d: d.Dispose(); break;
        }
        GC.SuppressFinalize(this);
    }

    protected string Key(string name) => $"{Scope}/{name}";

    private static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);
    private static string Text(VersionedValue? value) => value is null ? "<missing>" : Encoding.UTF8.GetString(value.Value);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Get_MissingKey_ReturnsNull()
    {
        Assert.Null(await Store.GetAsync(Key("missing"), Ct));
    }

    [Fact]
    public async Task TrySet_Unconditional_CreatesAtVersionOneAndCountsUp()
    {
        var key = Key("counter");
        Assert.Equal(1, await Store.TrySetAsync(key, Bytes("a"), null, Ct));
        Assert.Equal(2, await Store.TrySetAsync(key, Bytes("b"), null, Ct));
        Assert.Equal(3, await Store.TrySetAsync(key, Bytes("c"), null, Ct));

        var value = await Store.GetAsync(key, Ct);
        Assert.NotNull(value);
        Assert.Equal("c", Text(value));
        Assert.Equal(3, value.Version);
    }

    [Fact]
    public async Task TrySet_RoundTripsArbitraryBytes()
    {
        var key = Key("binary");
        var bytes = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        await Store.TrySetAsync(key, bytes, null, Ct);
        var value = await Store.GetAsync(key, Ct);
        Assert.NotNull(value);
        Assert.Equal(bytes, value.Value);
    }

    [Fact]
    public async Task TrySet_ExpectedZero_CreatesOnlyWhenMissing()
    {
        var key = Key("create-once");
        Assert.Equal(1, await Store.TrySetAsync(key, Bytes("first"), 0, Ct));
        Assert.Null(await Store.TrySetAsync(key, Bytes("second"), 0, Ct));

        var value = await Store.GetAsync(key, Ct);
        Assert.Equal("first", Text(value));
        Assert.Equal(1, value!.Version);
    }

    [Fact]
    public async Task TrySet_ExpectedVersionMatches_WritesNextVersion()
    {
        var key = Key("cas");
        var v1 = await Store.TrySetAsync(key, Bytes("one"), 0, Ct);
        var v2 = await Store.TrySetAsync(key, Bytes("two"), v1, Ct);
        Assert.Equal(v1 + 1, v2);
        Assert.Equal("two", Text(await Store.GetAsync(key, Ct)));
    }

    [Fact]
    public async Task TrySet_ExpectedVersionMismatch_ChangesNothing()
    {
        var key = Key("cas-stale");
        await Store.TrySetAsync(key, Bytes("one"), null, Ct);
        await Store.TrySetAsync(key, Bytes("two"), null, Ct);

        Assert.Null(await Store.TrySetAsync(key, Bytes("stale"), 1, Ct));
        Assert.Null(await Store.TrySetAsync(key, Bytes("future"), 7, Ct));

        var value = await Store.GetAsync(key, Ct);
        Assert.Equal("two", Text(value));
        Assert.Equal(2, value!.Version);
    }

    [Fact]
    public async Task TrySet_ExpectedVersionOnMissingKey_Fails()
    {
        var key = Key("not-there");
        Assert.Null(await Store.TrySetAsync(key, Bytes("x"), 1, Ct));
        Assert.Null(await Store.GetAsync(key, Ct));
    }

    [Fact]
    public async Task TrySet_KeysHaveIndependentVersions()
    {
        await Store.TrySetAsync(Key("a"), Bytes("1"), null, Ct);
        await Store.TrySetAsync(Key("a"), Bytes("2"), null, Ct);
        Assert.Equal(1, await Store.TrySetAsync(Key("b"), Bytes("1"), null, Ct));
        Assert.Equal(2, (await Store.GetAsync(Key("a"), Ct))!.Version);
    }

    [Fact]
    public async Task TrySet_ConcurrentWritersWithSameExpectedVersion_ExactlyOneWins()
    {
        const int writers = 32;
        var key = Key("race");
        var start = await Store.TrySetAsync(key, Bytes("start"), 0, Ct);
        using var go = new ManualResetEventSlim();
        var attempts = Enumerable.Range(0, writers).Select(i => Task.Run(async () =>
        {
            go.Wait(Ct);
            return (Writer: i, Version: await Store.TrySetAsync(key, Bytes($"writer-{i}"), start, Ct));
        }, Ct)).ToList();
        go.Set();
        var results = await Task.WhenAll(attempts).Within();

        var winners = results.Where(r => r.Version is not null).ToList();
        var winner = Assert.Single(winners);
        Assert.Equal(start + 1, winner.Version);
        var value = await Store.GetAsync(key, Ct);
        Assert.Equal($"writer-{winner.Writer}", Text(value));
        Assert.Equal(start + 1, value!.Version);
    }

    [Fact]
    public async Task TrySet_ConcurrentCasIncrements_LoseNoUpdate()
    {
        const int writers = 8, increments = 25;
        var key = Key("increments");
        await Store.TrySetAsync(key, Bytes("0"), 0, Ct);
        var conflicts = 0;
        await Task.WhenAll(Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < increments; i++)
            {
                while (true)
                {
                    var current = await Store.GetAsync(key, Ct);
                    var next = int.Parse(Text(current), System.Globalization.CultureInfo.InvariantCulture) + 1;
                    if (await Store.TrySetAsync(key, Bytes(next.ToString(System.Globalization.CultureInfo.InvariantCulture)), current!.Version, Ct) is not null) break;
                    Interlocked.Increment(ref conflicts);
                }
            }
        }, Ct))).Within();

        var value = await Store.GetAsync(key, Ct);
        Assert.Equal((writers * increments).ToString(System.Globalization.CultureInfo.InvariantCulture), Text(value));
        Assert.Equal(1 + writers * increments, value!.Version);
    }

    [Fact]
    public async Task Delete_ExistingKey_RemovesItAndReportsTrue()
    {
        var key = Key("doomed");
        await Store.TrySetAsync(key, Bytes("x"), null, Ct);
        Assert.True(await Store.DeleteAsync(key, Ct));
        Assert.Null(await Store.GetAsync(key, Ct));
        Assert.False(await Store.DeleteAsync(key, Ct));
    }

    [Fact]
    public async Task Delete_MissingKey_ReportsFalse()
    {
        await Store.TrySetAsync(Key("sibling"), Bytes("x"), null, Ct);
        Assert.False(await Store.DeleteAsync(Key("never-written"), Ct));
    }

    /// <summary>Set to true in an adapter's test class (with <c>new</c>) while it has the bug below.</summary>

    [Fact]
    public async Task Delete_MissingKeyUnderAPrefixThatHoldsNoKeys_ReportsFalse()
    {
        Assert.False(await Store.DeleteAsync(Key("never-written"), Ct));
        Assert.False(await Store.DeleteAsync(Key("nested/never/written"), Ct));
    }

    [Fact]
    public async Task Delete_ThenCreateWithExpectedZero_Succeeds()
    {
        var key = Key("recreated");
        await Store.TrySetAsync(key, Bytes("old"), null, Ct);
        await Store.DeleteAsync(key, Ct);
        Assert.NotNull(await Store.TrySetAsync(key, Bytes("new"), 0, Ct));
        Assert.Equal("new", Text(await Store.GetAsync(key, Ct)));
    }

    [Fact]
    public async Task DeleteMany_RemovesTheGivenKeysOnlyAndSkipsMissingOnes()
    {
        // More keys than one batch of the Redis adapter holds.
        var keys = Enumerable.Range(0, 300).Select(i => Key($"many/{i:D3}")).ToList();
        foreach (var key in keys) Assert.Equal(1, await Store.TrySetAsync(key, Bytes(key), 0, Ct));
        var kept = keys.Where((_, i) => i % 7 == 0).ToList();
        var deleted = keys.Except(kept).Append(Key("many/never-written")).ToList();

        await Store.DeleteManyAsync(deleted, Ct);
        await Store.DeleteManyAsync([], Ct);

        Assert.Equal(kept, await Store.ListKeysAsync(Key("many/"), Ct));
        foreach (var key in kept) Assert.Equal(key, Text(await Store.GetAsync(key, Ct)));
        Assert.Null(await Store.GetAsync(keys[1], Ct));
        Assert.Equal(1, await Store.TrySetAsync(keys[1], Bytes("again"), 0, Ct));
    }

    [Fact]
    public async Task ListKeys_ReturnsKeysWithPrefixInOrdinalOrder()
    {
        foreach (var name in new[] { "runs/b/state.json", "runs/a/state.json", "runs/B/state.json", "runsx/state.json", "other/runs/c" })
            await Store.TrySetAsync(Key(name), Bytes(name), null, Ct);

        var keys = await Store.ListKeysAsync(Key("runs/"), Ct);

        Assert.Equal([Key("runs/B/state.json"), Key("runs/a/state.json"), Key("runs/b/state.json")], keys);
    }

    [Fact]
    public async Task ListKeys_PrefixIsAPlainStringPrefix()
    {
        await Store.TrySetAsync(Key("job-1"), Bytes("1"), null, Ct);
        await Store.TrySetAsync(Key("job-10"), Bytes("10"), null, Ct);
        await Store.TrySetAsync(Key("jab"), Bytes("x"), null, Ct);

        Assert.Equal([Key("job-1"), Key("job-10")], await Store.ListKeysAsync(Key("job-1"), Ct));
    }

    [Fact]
    public async Task ListKeys_OmitsDeletedKeys()
    {
        await Store.TrySetAsync(Key("list/keep"), Bytes("1"), null, Ct);
        await Store.TrySetAsync(Key("list/drop"), Bytes("2"), null, Ct);
        await Store.DeleteAsync(Key("list/drop"), Ct);

        Assert.Equal([Key("list/keep")], await Store.ListKeysAsync(Key("list/"), Ct));
    }

    [Fact]
    public async Task ListKeys_NoMatch_ReturnsEmpty()
    {
        Assert.Empty(await Store.ListKeysAsync(Key("nothing/"), Ct));
    }
}
