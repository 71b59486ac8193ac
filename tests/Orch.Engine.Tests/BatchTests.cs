using Orch.Coordination;
using Orch.Coordination.Attempts;
using Orch.Protocol;

namespace Orch.Engine.Tests;

/// <summary>
/// Attempts of short tasks travel to agents several to a message (<see cref="TaskBatch"/>): each
/// still runs exactly once, tasks that hold resources or are not known to be short go one to a
/// message, and a batch claimed by an agent that dies is run again attempt by attempt.
/// </summary>
public sealed class BatchTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const string ShortTasks = """
        name: short
        params:
          n: { default: 600, type: int }
        tasks:
          noop:
            for_each: "{{ params.n }}"
            uses: noop
        """;

    /// <summary>Every batch published on the shared task topic so far (read through a group of the test's own).</summary>
    private static List<TaskBatch> Drain(IMessageSubscription<TaskBatch> watch)
    {
        var batches = new List<TaskBatch>();
        while (watch.TryRead(out var delivery)) batches.Add(delivery.Message);
        return batches;
    }

    [Fact]
    public async Task ShortTasks_TravelSeveralToAMessage_AndEachInstanceRunsOnce()
    {
        await using var engine = await Engine.StartAsync(slots: 2);
        await using var watch = await engine.Runtime.Backend.Bus.SubscribeAsync<TaskBatch>(Topics.Tasks, "test-watch", Ct);

        var report = await engine.RunAsync(ShortTasks);

        Assert.Equal(RunStatus.Succeeded, report.Status);
        var batches = Drain(watch);
        var attempts = batches.SelectMany(b => b.Attempts).ToList();
        Assert.Equal(600, attempts.Count);
        Assert.Equal(600, attempts.Select(a => a.InstanceKey).Distinct().Count());
        // Nothing is known about a task before its first result: it starts one attempt to a message.
        Assert.Single(batches[0].Attempts);
        var largest = batches.Max(b => b.Attempts.Count);
        Assert.True(largest > 1, "no batch carried more than one attempt");
        Assert.True(largest <= new RunSettings { RunId = default, WorkingDirectory = "", RunDirectory = "" }.DispatchWindow / 4, $"a batch of {largest} is larger than a quarter of the dispatch window");
        Assert.All(batches, b => Assert.All(b.Attempts, a => Assert.Equal(b.RunId, a.RunId)));
        var instances = report.Record.Tasks.Single().Instances;
        Assert.All(instances, i => Assert.Equal("succeeded", Assert.Single(i.Attempts).Status));
    }

    [Fact]
    public async Task TasksHoldingResources_GoOneToAMessage_EvenWhenShort()
    {
        await using var engine = await Engine.StartAsync(slots: 2);
        await using var watch = await engine.Runtime.Backend.Bus.SubscribeAsync<TaskBatch>(Topics.Tasks, "test-watch", Ct);

        var report = await engine.RunAsync("""
            name: held
            resources:
              gate: { capacity: 4 }
            tasks:
              held:
                for_each: "{{ 100 }}"
                locks: [gate]
                uses: noop
            """);

        Assert.Equal(RunStatus.Succeeded, report.Status);
        var batches = Drain(watch);
        Assert.Equal(100, batches.Count);
        Assert.All(batches, b => Assert.Single(b.Attempts));
    }

    [Fact]
    public async Task ABatchClaimedByAnAgentThatDies_IsRunAgain_EachOfItsAttemptsOnce()
    {
        await using var engine = await Engine.StartAsync(slots: 2);
        var backend = engine.Runtime.Backend;
        var claims = new AttemptClaims(backend.State);
        // The tasks ask for a label only a stand-in agent of this test has (the engine's own agent
        // has none), so every batch reaches it. It answers every batch at once, except the first
        // one with several attempts: that one it claims as another agent, which then never
        // heartbeats (it died), and it does not answer.
        await backend.Agents.HeartbeatAsync(new AgentInfo(new AgentId("stand-in"), "test", ["batch-test"], 2, "0", 0, DateTimeOffset.UtcNow)
        {
            HeartbeatInterval = TimeSpan.FromMinutes(5),
            Incarnation = "stand-in",
        }, Ct);
        await using var pool = await backend.Bus.SubscribeAsync<TaskBatch>(Topics.Pool(["batch-test"]), Topics.AgentsGroup, Ct);
        TaskBatch? stolen = null;
        using var stopServing = new CancellationTokenSource();
        var serving = Task.Run(async () =>
        {
            while (true)
            {
                var delivery = await pool.ReadAsync(stopServing.Token);
                await delivery.AckAsync();
                var batch = delivery.Message;
                if (stolen is null && batch.Attempts.Count > 1)
                {
                    Assert.True(await claims.TryClaimAsync(batch.RunId, batch.Id, new AgentId("dead-agent"), "dead", Ct));
                    stolen = batch;
                    continue;
                }
                var now = DateTimeOffset.UtcNow;
                var results = batch.Attempts.Select(a => new TaskResult
                {
                    RunId = a.RunId,
                    InstanceKey = a.InstanceKey,
                    Attempt = a.Attempt,
                    AttemptId = a.AttemptId,
                    AgentId = new AgentId("stand-in"),
                    Status = AttemptStatus.Succeeded,
                    StartedAt = now,
                    FinishedAt = now.AddMilliseconds(1),
                }).ToList();
                await backend.Bus.PublishAsync(Topics.Results(batch.RunId), new ResultBatch { RunId = batch.RunId, Results = results }, Ct);
            }
        }, Ct);

        var report = await engine.RunAsync(ShortTasks.Replace("    uses: noop", "    on: { labels: [batch-test] }\n    uses: noop", StringComparison.Ordinal), [("n", "300")],
            s => s with { LostAgentCheckInterval = TimeSpan.FromMilliseconds(50) });
        await stopServing.CancelAsync();
        try { await serving; } catch (OperationCanceledException) { }

        Assert.Equal(RunStatus.Succeeded, report.Status);
        Assert.NotNull(stolen);
        Assert.True(stolen.Attempts.Count > 1);
        var instances = report.Record.Tasks.Single().Instances.ToDictionary(i => i.Key);
        foreach (var attempt in stolen.Attempts)
        {
            var attempts = instances[attempt.InstanceKey].Attempts;
            var lost = attempts.Single(a => a.Id == attempt.AttemptId.Value);
            Assert.Equal("lost", lost.Status);
            Assert.Equal("dead-agent", lost.Agent);
            Assert.Equal(2, attempts.Count);
        }
        // Every instance ended with one succeeded attempt; only the dead agent's attempts ran twice.
        Assert.All(instances.Values, i => Assert.Equal("succeeded", i.Attempts[^1].Status));
        Assert.Equal(300 + stolen.Attempts.Count, instances.Values.Sum(i => i.Attempts.Count));
        // The claim stays revoked, so a copy of the batch still in the bus would be dropped.
        Assert.True((await claims.GetAsync(stolen.RunId, stolen.Id, Ct))!.Revoked);
    }
}
