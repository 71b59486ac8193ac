using Orch.Actions;
using Orch.Coordination;
using Orch.Coordination.Attempts;
using Orch.Coordination.Embedded;
using Orch.Protocol;

namespace Orch.Agents.Tests;

/// <summary>An agent of a shared backend taking batches of attempts: one claim per batch, attempts in order, hand-back at shutdown.</summary>
public sealed class AgentBatchTests : IAsyncLifetime
{
    private static readonly RunId Run = new("run-batches");
    private readonly EmbeddedBackend _embedded = new(null);
    private readonly ClaimsFailingOnce _backend;
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("orch-agent-batch-");
    private readonly CancellationTokenSource _stopAgent = new();
    private IMessageSubscription<ResultBatch> _results = null!;
    private Task _agent = Task.CompletedTask;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public AgentBatchTests() => _backend = new ClaimsFailingOnce(_embedded);

    public async ValueTask InitializeAsync()
    {
        _results = await _backend.Bus.SubscribeAsync<ResultBatch>(Topics.Results(Run), "coordinator", Ct);
        var worker = new AgentWorker(_backend, ActionRegistry.CreateDefault(), new AgentOptions
        {
            Id = new AgentId("batch-agent"),
            Slots = 1,
            ClaimAttempts = true,
            WorkDirectory = Path.Combine(_directory.FullName, "agent"),
        });
        _agent = worker.RunAsync(_stopAgent.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopAgent.CancelAsync();
        await _agent.WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
        await _results.DisposeAsync();
        await _embedded.DisposeAsync();
        _stopAgent.Dispose();
        _directory.Delete(recursive: true);
    }

    private TaskDispatch Shell(string script) => new()
    {
        RunId = Run,
        InstanceKey = "t[" + Guid.NewGuid().ToString("N")[..6] + "]",
        TaskId = "t",
        Attempt = 1,
        AttemptId = AttemptId.New(),
        Body = new ShellBody(null, script, new Dictionary<string, string>()),
        LogPath = Path.Combine(_directory.FullName, "logs", Guid.NewGuid().ToString("N") + ".log"),
        ArtifactDirectory = Path.Combine(_directory.FullName, "artifacts"),
        WorkingDirectory = _directory.FullName,
    };

    private static TaskBatch Batch(params TaskDispatch[] attempts) => new() { Id = BatchId.New(), RunId = Run, Attempts = attempts };

    private async Task<List<TaskResult>> ResultsAsync(int count)
    {
        var results = new List<TaskResult>();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(TimeSpan.FromSeconds(20));
        while (results.Count < count)
        {
            var delivery = await _results.ReadAsync(limit.Token);
            Assert.All(delivery.Message.Results, r => Assert.Equal(Run, r.RunId));
            results.AddRange(delivery.Message.Results);
            await delivery.AckAsync();
        }
        return results;
    }

    private string Ran => Path.Combine(_directory.FullName, "ran.log");

    [Fact]
    public async Task ABatch_IsClaimedOnce_ItsAttemptsRunInOrder_AndARedeliveredCopyIsDropped()
    {
        var attempts = Enumerable.Range(0, 3).Select(_ => Shell("echo \"$ORCH_ATTEMPT_ID\" >> ran.log")).ToArray();
        var batch = Batch(attempts);

        await _backend.Bus.PublishAsync(Topics.Tasks, batch, Ct);
        var results = await ResultsAsync(3);

        Assert.All(results, r => Assert.Equal(AttemptStatus.Succeeded, r.Status));
        Assert.Equal(attempts.Select(a => a.AttemptId), results.Select(r => r.AttemptId));
        Assert.Equal(attempts.Select(a => a.AttemptId.Value), File.ReadAllLines(Ran));
        var claim = await new AttemptClaims(_backend.State).GetAsync(Run, batch.Id, Ct);
        Assert.Equal(new AgentId("batch-agent"), claim!.Agent);

        // The same batch again (a redelivery), then a new one: the agent reads them in order with its
        // one slot, so once the new one's result is in, the copy has been dealt with.
        var next = Shell("echo \"$ORCH_ATTEMPT_ID\" >> ran.log");
        await _backend.Bus.PublishAsync(Topics.Tasks, batch, Ct);
        await _backend.Bus.PublishAsync(Topics.Tasks, Batch(next), Ct);
        var after = Assert.Single(await ResultsAsync(1));

        Assert.Equal(next.AttemptId, after.AttemptId);
        Assert.Equal([.. attempts.Select(a => a.AttemptId.Value), next.AttemptId.Value], File.ReadAllLines(Ran));
    }

    [Fact]
    public async Task AnEmptyBatch_IsDropped_WithoutKeepingTheAgentsOnlySlot()
    {
        var next = Shell("echo \"$ORCH_ATTEMPT_ID\" >> ran.log");

        await _backend.Bus.PublishAsync(Topics.Tasks, Batch(), Ct);
        await _backend.Bus.PublishAsync(Topics.Tasks, Batch(next), Ct);
        var result = Assert.Single(await ResultsAsync(1));

        Assert.Equal(next.AttemptId, result.AttemptId);
        Assert.Equal(AttemptStatus.Succeeded, result.Status);
    }

    [Fact]
    public async Task ABatchWhoseClaimCouldNotBeWritten_RunsWhenItIsDeliveredAgain()
    {
        var attempt = Shell("echo \"$ORCH_ATTEMPT_ID\" >> ran.log");
        var batch = Batch(attempt);
        _backend.FailNextClaim = true;

        await _backend.Bus.PublishAsync(Topics.Tasks, batch, Ct);
        // Delivered again (as the bus does with a message nobody acknowledged), to the same agent.
        await _backend.Bus.PublishAsync(Topics.Tasks, batch, Ct);
        var result = Assert.Single(await ResultsAsync(1));

        Assert.False(_backend.FailNextClaim, "the first claim was not tried");
        Assert.Equal(attempt.AttemptId, result.AttemptId);
        Assert.Equal(AttemptStatus.Succeeded, result.Status);
        Assert.Equal([attempt.AttemptId.Value], File.ReadAllLines(Ran));
    }

    [Fact]
    public async Task StoppingMidBatch_HandsBackTheRunningAttemptAndThoseNotStarted()
    {
        var started = Path.Combine(_directory.FullName, "started");
        var first = Shell($"touch '{started}'; sleep 30");
        var rest = new[] { Shell("echo \"$ORCH_ATTEMPT_ID\" >> ran.log"), Shell("echo \"$ORCH_ATTEMPT_ID\" >> ran.log") };
        await _backend.Bus.PublishAsync(Topics.Tasks, Batch([first, .. rest]), Ct);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!File.Exists(started))
        {
            Assert.True(DateTime.UtcNow < deadline, "the batch's first attempt did not start");
            await Task.Delay(10, Ct);
        }

        await _stopAgent.CancelAsync();
        await _agent.WaitAsync(TimeSpan.FromSeconds(20), Ct);
        var results = await ResultsAsync(3);

        Assert.Equal(new[] { first, rest[0], rest[1] }.Select(a => a.AttemptId.Value).Order(), results.Select(r => r.AttemptId.Value).Order());
        Assert.All(results, r =>
        {
            Assert.True(r.HandedBack, $"{r.InstanceKey} was not handed back: {r.Status} {r.Error}");
            Assert.Equal(AttemptStatus.Cancelled, r.Status);
            Assert.Contains("shutting down", r.Error, StringComparison.Ordinal);
        });
        Assert.False(File.Exists(Ran), "an attempt started after the agent was told to stop");
    }

    /// <summary>The embedded backend, except that the next claim written fails as an unreachable store would.</summary>
    private sealed class ClaimsFailingOnce(EmbeddedBackend inner) : ICoordinationBackend
    {
        private readonly FailingState _state = new(inner.State);

        public bool FailNextClaim { get => _state.FailNext; set => _state.FailNext = value; }
        public string Name => inner.Name;
        public IMessageBus Bus => inner.Bus;
        public IStateStore State => _state;
        public IResourceLocks Locks => inner.Locks;
        public IAgentRegistry Agents => inner.Agents;
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        private sealed class FailingState(IStateStore store) : IStateStore
        {
            public volatile bool FailNext;

            public ValueTask<VersionedValue?> GetAsync(string key, CancellationToken cancellationToken) => store.GetAsync(key, cancellationToken);

            public ValueTask<long?> TrySetAsync(string key, ReadOnlyMemory<byte> value, long? expectedVersion, CancellationToken cancellationToken)
            {
                if (key.StartsWith("claims/", StringComparison.Ordinal) && FailNext)
                {
                    FailNext = false;
                    throw new IOException("the state store is unreachable");
                }
                return store.TrySetAsync(key, value, expectedVersion, cancellationToken);
            }

            public ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken) => store.DeleteAsync(key, cancellationToken);

            public ValueTask<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken) => store.ListKeysAsync(prefix, cancellationToken);
        }
    }
}
