using Orch.Coordination.Redis;
using Orch.Coordination.Tests.Conformance;
using Orch.Protocol;

namespace Orch.Coordination.Tests.Redis;

/// <summary>The message bus kit against a real Redis server, plus redelivery and protocol round trips.</summary>
public sealed class RedisMessageBusTests : MessageBusConformance
{
    private static readonly TimeSpan ShortIdle = TimeSpan.FromMilliseconds(300);

    private RedisTestConnection? _redis;

    private RedisTestConnection Redis => _redis ?? throw new InvalidOperationException("used before InitializeAsync");

    // Entries of a crashed consumer are claimed after a second, so the kit's crash tests run quickly.
    protected override IMessageBus CreateBus() => new RedisMessageBus(Redis.Database, Redis.Prefix, TimeSpan.FromSeconds(1));

    public override async ValueTask InitializeAsync()
    {
        _redis = await RedisTestConnection.StartAsync();
        await base.InitializeAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (_redis is not null) await _redis.DisposeAsync();
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Crash_UnacknowledgedEntry_IsClaimedOnlyAfterTheIdleTime()
    {
        var bus = new RedisMessageBus(Redis.Database, Redis.Prefix, ShortIdle);
        var topic = Topic("crash");
        var crashed = await bus.SubscribeAsync<Ping>(topic, "workers", Ct);
        await using var survivor = await bus.SubscribeAsync<Ping>(topic, "workers", Ct);
        await bus.PublishAsync(topic, new Ping(1, "work"), Ct);

        var started = DateTime.UtcNow;
        var first = await crashed.ReadAsync(Ct).Within();
        Assert.Equal(new Ping(1, "work"), first.Message);
        await crashed.DisposeAsync(); // gone without acknowledging

        var redelivery = await survivor.ReadAsync(Ct).Within();
        Assert.Equal(new Ping(1, "work"), redelivery.Message);
        Assert.True(DateTime.UtcNow - started >= ShortIdle, "claimed before the idle time was up");
        await redelivery.AckAsync();

        using var quiet = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        quiet.CancelAfter(ShortIdle * 3);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => survivor.ReadAsync(quiet.Token).AsTask());
    }

    [Fact]
    public async Task Leave_TrimsWhatEveryGroupAcknowledged_AndKeepsWhatAGroupHasNot()
    {
        var bus = new RedisMessageBus(Redis.Database, Redis.Prefix, ShortIdle);
        var topic = Topic("trim");
        var stream = $"{Redis.Prefix}:bus:{topic}";
        var done = await bus.SubscribeAsync<Ping>(topic, "done", Ct);
        await using var slow = await bus.SubscribeAsync<Ping>(topic, "slow", Ct);
        await bus.PublishBatchAsync(topic, Enumerable.Range(1, 5).Select(n => new Ping(n, "x")).ToList(), Ct);
        var all = new List<int>();
        while (all.Count < 5)
        {
            var batch = await done.ReadBatchAsync(10, Ct).Within();
            all.AddRange(batch.Deliveries.Select(d => d.Message.Number));
            await batch.AckAsync();
        }
        var pending = await slow.ReadBatchAsync(2, Ct).Within(); // read, not acknowledged
        Assert.Equal(2, pending.Count);

        await done.DisposeAsync();

        // The slow group still needs all five (two pending, three not read yet).
        await Task.Delay(100, Ct);
        Assert.Equal(5, await Redis.Database.StreamLengthAsync(stream));
        await pending.AckAsync();
        var rest = new List<int>();
        while (rest.Count < 3)
        {
            var batch = await slow.ReadBatchAsync(10, Ct).Within();
            rest.AddRange(batch.Deliveries.Select(d => d.Message.Number));
            await batch.AckAsync();
        }
        Assert.Equal([3, 4, 5], rest.Order());

        await slow.DisposeAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (await Redis.Database.StreamLengthAsync(stream) > 1 && DateTime.UtcNow < deadline) await Task.Delay(20, Ct);
        Assert.True(await Redis.Database.StreamLengthAsync(stream) <= 1, "acknowledged entries were not trimmed");
    }

    [Fact]
    public async Task Read_AcknowledgedMessage_IsNotClaimedByOthers()
    {
        var bus = new RedisMessageBus(Redis.Database, Redis.Prefix, ShortIdle);
        var topic = Topic("acked");
        await using var first = await bus.SubscribeAsync<Ping>(topic, "workers", Ct);
        await using var second = await bus.SubscribeAsync<Ping>(topic, "workers", Ct);
        await bus.PublishAsync(topic, new Ping(1, "once"), Ct);

        await (await first.ReadAsync(Ct).Within()).AckAsync();

        using var quiet = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        quiet.CancelAfter(ShortIdle * 3);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second.ReadAsync(quiet.Token).AsTask());
    }

    [Fact]
    public async Task Publish_TaskDispatchesWithEitherBody_RoundTripAsPlainValues()
    {
        var topic = Topic("dispatch");
        await using var subscription = await Bus.SubscribeAsync<TaskDispatch>(topic, "agents", Ct);
        var with = new Dictionary<string, object?>
        {
            ["count"] = 3L,
            ["ratio"] = 0.25,
            ["name"] = "words.txt",
            ["enabled"] = true,
            ["nothing"] = null,
            ["list"] = new List<object?> { 1L, "two", 3.5, new List<object?> { false } },
            ["map"] = new Dictionary<string, object?> { ["depth"] = 2L, ["tags"] = new List<object?> { "a", "b" } },
        };
        var action = Dispatch("count[3]", new ActionBody("count-words", with)) with
        {
            Timeout = TimeSpan.FromMinutes(5),
            Locks = [new LockGrant("fork:3", 42)],
            LeaseId = "lease-7",
        };
        var shell = Dispatch("merge", new ShellBody("/bin/bash", "cat *.txt > all.txt", new Dictionary<string, string> { ["LANG"] = "C" }));

        await Bus.PublishAsync(topic, action, Ct);
        await Bus.PublishAsync(topic, shell, Ct);
        var got = new List<TaskDispatch>();
        for (var i = 0; i < 2; i++)
        {
            var delivery = await subscription.ReadAsync(Ct).Within();
            got.Add(delivery.Message);
            await delivery.AckAsync();
        }

        var gotAction = got.Single(d => d.InstanceKey == "count[3]");
        Assert.Equal(action with { Body = gotAction.Body, Locks = gotAction.Locks }, gotAction);
        Assert.Equal(action.Locks, gotAction.Locks);
        var actionBody = Assert.IsType<ActionBody>(gotAction.Body);
        Assert.Equal("count-words", actionBody.Action);
        Assert.Equal(with.Keys.Order(StringComparer.Ordinal), actionBody.With.Keys.Order(StringComparer.Ordinal));
        Assert.IsType<long>(actionBody.With["count"]);
        Assert.Equal(3L, actionBody.With["count"]);
        Assert.IsType<double>(actionBody.With["ratio"]);
        Assert.Equal(0.25, actionBody.With["ratio"]);
        Assert.Equal("words.txt", actionBody.With["name"]);
        Assert.Equal(true, actionBody.With["enabled"]);
        Assert.Null(actionBody.With["nothing"]);
        var list = Assert.IsType<List<object?>>(actionBody.With["list"]);
        Assert.Equal<object?>([1L, "two", 3.5], list.Take(3));
        Assert.Equal<object?>([false], Assert.IsType<List<object?>>(list[3]));
        var map = Assert.IsType<Dictionary<string, object?>>(actionBody.With["map"]);
        Assert.Equal(2L, map["depth"]);
        Assert.Equal<object?>(["a", "b"], Assert.IsType<List<object?>>(map["tags"]));

        var gotShell = got.Single(d => d.InstanceKey == "merge");
        Assert.Equal(shell with { Body = gotShell.Body, Locks = gotShell.Locks }, gotShell);
        Assert.Empty(gotShell.Locks);
        var shellBody = Assert.IsType<ShellBody>(gotShell.Body);
        Assert.Equal("/bin/bash", shellBody.Shell);
        Assert.Equal("cat *.txt > all.txt", shellBody.Script);
        Assert.Equal(new Dictionary<string, string> { ["LANG"] = "C" }, shellBody.Environment);
    }

    [Fact]
    public async Task Publish_TaskResultWithOutputs_RoundTripsAsPlainValues()
    {
        var topic = Topic("results");
        await using var subscription = await Bus.SubscribeAsync<TaskResult>(topic, "coordinator", Ct);
        var now = new DateTimeOffset(2030, 1, 1, 12, 0, 0, TimeSpan.FromHours(1));
        var result = new TaskResult
        {
            RunId = new RunId("20300101-120000-demo-0001"),
            InstanceKey = "count[1]",
            Attempt = 2,
            AttemptId = AttemptId.New(),
            AgentId = new AgentId("agent-1"),
            Status = AttemptStatus.TimedOut,
            ExitCode = 124,
            Error = "took too long",
            Retryable = false,
            Outputs = new Dictionary<string, object?> { ["words"] = 1234L, ["mean"] = 4.5, ["files"] = new List<object?> { "a.txt" } },
            Files = [new RunFile("out/a.txt", "runs/r/files/x/out/a.txt", 12, new string('a', 64), 1)],
            Log = new RunFile("runs/r/logs/x", "runs/r/logs/x", 3, new string('b', 64), 1),
            StartedAt = now,
            FinishedAt = now + TimeSpan.FromSeconds(3),
        };

        await Bus.PublishAsync(topic, result, Ct);
        var delivery = await subscription.ReadAsync(Ct).Within();
        await delivery.AckAsync();

        var got = delivery.Message;
        Assert.Equal(result with { Outputs = got.Outputs, Files = got.Files }, got);
        Assert.Equal(result.Files, got.Files);
        Assert.Equal(1234L, Assert.IsType<long>(got.Outputs["words"]));
        Assert.Equal(4.5, Assert.IsType<double>(got.Outputs["mean"]));
        Assert.Equal<object?>(["a.txt"], Assert.IsType<List<object?>>(got.Outputs["files"]));
    }

    [Fact]
    public async Task Read_EntriesThatAreNotMessagesOfTheType_AreAcknowledgedAndSkipped()
    {
        var topic = Topic("poison");
        var stream = $"{Redis.Prefix}:bus:{topic}";
        await using var subscription = await Bus.SubscribeAsync<Ping>(topic, "g", Ct);
        await Redis.Database.StreamAddAsync(stream, "m", "not json at all {");
        await Redis.Database.StreamAddAsync(stream, "other-field", "{}");
        await Redis.Database.StreamAddAsync(stream, "m", "null");
        await Bus.PublishAsync(topic, new Ping(1, "after"), Ct);
        await Redis.Database.StreamAddAsync(stream, "m", "[1,2]");
        await Bus.PublishAsync(topic, new Ping(2, "last"), Ct);

        var first = await subscription.ReadAsync(Ct).Within();
        await first.AckAsync();
        Assert.True(subscription.TryRead(out var second));
        await second.AckAsync();

        Assert.Equal([new Ping(1, "after"), new Ping(2, "last")], [first.Message, second.Message]);
        Assert.False(subscription.TryRead(out _));
        Assert.Equal(0, (await Redis.Database.StreamPendingAsync(stream, "g")).PendingMessageCount);
    }

    private static TaskDispatch Dispatch(string instance, TaskBody body) => new()
    {
        RunId = new RunId("20300101-120000-demo-0001"),
        InstanceKey = instance,
        TaskId = instance.Split('[')[0],
        Attempt = 1,
        AttemptId = AttemptId.New(),
        Body = body,
        LogPath = "/runs/demo/" + instance + ".log",
        ArtifactDirectory = "/runs/demo/artifacts",
        WorkingDirectory = "/srv/demo",
    };
}
