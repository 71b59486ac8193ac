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
    public async Task BatchesClaimedByAnAgentThatDies_AreRunAgainElsewhere_EachAttemptOnce()
    {
        await using var engine = await Engine.StartAsync(slots: 2);
        var backend = engine.Runtime.Backend;
        var claims = new AttemptClaims(backend.State);
        // An agent that takes batches from the shared topic, claims them and dies before running
        // any (it never heartbeats), until it has taken one with several attempts.
        await using var thief = await backend.Bus.SubscribeAsync<TaskBatch>(Topics.Tasks, Topics.AgentsGroup, Ct);
        var stolen = new List<TaskBatch>();
        using var stopStealing = new CancellationTokenSource();
        var stealing = Task.Run(async () =>
        {
            while (!stolen.Any(b => b.Attempts.Count > 1))
            {
                var delivery = await thief.ReadAsync(stopStealing.Token);
                Assert.True(await claims.TryClaimAsync(delivery.Message.RunId, delivery.Message.Id, new AgentId("dead-agent"), "dead", stopStealing.Token));
                await delivery.AckAsync();
                stolen.Add(delivery.Message);
            }
        }, Ct);

        var report = await engine.RunAsync(ShortTasks, [("n", "300")],
            s => s with { LostAgentCheckInterval = TimeSpan.FromMilliseconds(50), MaxLostAttempts = 1000 });
        await stopStealing.CancelAsync();
        try { await stealing; } catch (OperationCanceledException) { }

        Assert.Equal(RunStatus.Succeeded, report.Status);
        Assert.Contains(stolen, b => b.Attempts.Count > 1);
        var instances = report.Record.Tasks.Single().Instances.ToDictionary(i => i.Key);
        var stolenAttempts = stolen.SelectMany(b => b.Attempts).ToList();
        foreach (var attempt in stolenAttempts)
        {
            var record = instances[attempt.InstanceKey].Attempts.Single(a => a.Id == attempt.AttemptId.Value);
            Assert.Equal("lost", record.Status);
            Assert.Equal("dead-agent", record.Agent);
        }
        // Every instance ended with one succeeded attempt, after exactly the attempts the dead agent took.
        Assert.All(instances.Values, i => Assert.Equal("succeeded", i.Attempts[^1].Status));
        Assert.Equal(stolenAttempts.Count, instances.Values.Sum(i => i.Attempts.Count(a => a.Status == "lost")));
        Assert.Equal(300 + stolenAttempts.Count, instances.Values.Sum(i => i.Attempts.Count));
        // The claims stay revoked, so a copy of a stolen batch still in the bus would be dropped.
        foreach (var batch in stolen) Assert.True((await claims.GetAsync(batch.RunId, batch.Id, Ct))!.Revoked);
    }
}
