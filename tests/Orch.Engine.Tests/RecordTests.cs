using System.Text.Json;
using Orch.Actions;
using Orch.Agents;
using Orch.Coordination.Embedded;
using Orch.Hosting;
using Orch.Pipeline.Loading;
using Orch.Protocol;

namespace Orch.Engine.Tests;

public sealed class RecordTests
{
    [Fact]
    public async Task Run_Record_StateJsonHasEveryInstanceWithStatusAttemptsAndLog()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: recorded
            tasks:
              talk:
                for_each: [one, two]
                env: { WORD: "{{ item }}" }
                run: |
                  echo "to stdout: $WORD"
                  echo "to stderr: $WORD" >&2
              nap:
                uses: noop
              fail:
                needs: [nap]
                run: |
                  echo "failing now" >&2
                  exit 4
              never:
                needs: [fail]
                run: "true"
            """;

        var report = await engine.RunAsync(yaml);

        var path = Path.Combine(report.RunDirectory, "state.json");
        Assert.True(File.Exists(path), $"{path} is missing");
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        var root = json.RootElement;
        Assert.Equal(report.RunId.Value, root.GetProperty("run_id").GetString());
        Assert.Equal("recorded", root.GetProperty("pipeline").GetString());
        Assert.Equal("failed", root.GetProperty("status").GetString());
        Assert.True(root.TryGetProperty("finished_at", out _));
        var tasks = root.GetProperty("tasks").EnumerateArray().ToDictionary(t => t.GetProperty("id").GetString()!);
        Assert.Equal(["talk", "nap", "fail", "never"], tasks.Keys);
        Assert.Equal("upstream_failed", tasks["never"].GetProperty("status").GetString());

        var instances = tasks.Values.SelectMany(t => t.GetProperty("instances").EnumerateArray()).ToList();
        Assert.Equal(["talk[0]", "talk[1]", "nap", "fail"], instances.Select(i => i.GetProperty("key").GetString()));
        foreach (var instance in instances)
        {
            Assert.True(instance.TryGetProperty("status", out _));
            Assert.True(instance.TryGetProperty("fingerprint", out _));
            var attempt = Assert.Single(instance.GetProperty("attempts").EnumerateArray().ToList());
            Assert.Equal(1, attempt.GetProperty("number").GetInt32());
            Assert.False(string.IsNullOrEmpty(attempt.GetProperty("agent").GetString()));
            Assert.True(attempt.TryGetProperty("started_at", out _));
            Assert.True(attempt.TryGetProperty("finished_at", out _));
            var log = attempt.GetProperty("log").GetString()!;
            Assert.False(Path.IsPathRooted(log), "log paths are relative to the run directory");
        }
        Assert.Equal(4, instances.Single(i => i.GetProperty("key").GetString() == "fail").GetProperty("attempts")[0].GetProperty("exit_code").GetInt32());

        // The typed record loads back the same.
        var loaded = await engine.LoadRecordAsync(report.RunId);
        Assert.NotNull(loaded);
        Assert.Equal(InstanceStatus.Failed, loaded.Instance("fail").Status);
        Assert.Equal("exit code 4", loaded.Instance("fail").Error);
    }

    [Fact]
    public async Task Run_ShellLogs_ContainStdoutAndStderrOfEachAttempt()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: logs
            tasks:
              talk:
                for_each: [one, two]
                env: { WORD: "{{ item }}" }
                retry: { attempts: 2, backoff: 10ms }
                run: |
                  echo "to stdout: $WORD attempt $ORCH_ATTEMPT"
                  echo "to stderr: $WORD attempt $ORCH_ATTEMPT" >&2
                  [ "$ORCH_ATTEMPT" = 2 ]
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Succeeded, report.Status);
        foreach (var (key, word) in new[] { ("talk[0]", "one"), ("talk[1]", "two") })
        {
            var attempts = report.Instance(key).Attempts;
            Assert.Equal(2, attempts.Count);
            foreach (var attempt in attempts)
            {
                var log = Path.Combine(report.RunDirectory, attempt.Log!);
                Assert.True(File.Exists(log), $"{log} is missing");
                var text = File.ReadAllText(log);
                Assert.Contains($"to stdout: {word} attempt {attempt.Number}", text);
                Assert.Contains($"to stderr: {word} attempt {attempt.Number}", text);
            }
            Assert.NotEqual(attempts[0].Log, attempts[1].Log);
        }
    }

    [Fact]
    public async Task Run_FanOutOfNoops_LatencySummaryFilled()
    {
        await using var engine = await Engine.StartAsync(slots: 8);
        const string yaml = """
            name: latency
            tasks:
              fan:
                for_each: "{{ 200 }}"
                uses: noop
            """;

        var report = await engine.RunAsync(yaml);

        Assert.Equal(RunStatus.Succeeded, report.Status);
        var latency = report.Latency;
        Assert.Equal(200, latency.Count);
        Assert.True(latency.P50 > TimeSpan.Zero);
        Assert.True(latency.P50 <= latency.P99 && latency.P99 <= latency.Max, $"p50 {latency.P50} p99 {latency.P99} max {latency.Max}");
        Assert.True(latency.Max <= report.Elapsed, $"max latency {latency.Max} exceeds the run's {report.Elapsed}");
        Assert.True(report.Elapsed > TimeSpan.Zero);
    }

    [Fact]
    public async Task Run_Observer_HearsEveryTaskAndAttempt()
    {
        await using var engine = await Engine.StartAsync();
        const string yaml = """
            name: observed
            tasks:
              fan:
                for_each: [a, b, c]
                uses: noop
              after:
                needs: [fan]
                run: "true"
            """;
        var observer = new RecordingObserver();

        var report = await engine.RunAsync(yaml, [], null, observer);

        Assert.Equal(RunStatus.Succeeded, report.Status);
        lock (observer)
        {
            Assert.Equal(["fan:3", "after:1"], observer.Started);
            Assert.Equal(["fan:succeeded", "after:succeeded"], observer.Finished);
            Assert.Equal(["after#1", "fan[0]#1", "fan[1]#1", "fan[2]#1"], observer.Attempts.Order(StringComparer.Ordinal));
        }
    }

    [Fact]
    public async Task Run_FanOutOverStructuredActionOutputs_ItemIsTheListElement()
    {
        // An agent with one extra action that returns a real list of maps (not JSON text).
        var root = Directory.CreateTempSubdirectory("orch-structured-").FullName;
        try
        {
            await using var backend = new EmbeddedBackend(Path.Combine(root, ".orch"));
            var actions = new ActionRegistry([.. BuiltinActions.All(), new InventoryAction()]);
            var worker = new AgentWorker(backend, actions, new AgentOptions { Id = new AgentId("structured-agent"), Slots = 4 });
            using var stop = new CancellationTokenSource();
            var agent = Task.Run(() => worker.RunAsync(stop.Token), TestContext.Current.CancellationToken);
            while ((await backend.Agents.ListAsync(TestContext.Current.CancellationToken)).Count == 0) await Task.Delay(1, TestContext.Current.CancellationToken);

            const string yaml = """
                name: structured
                tasks:
                  inventory:
                    uses: test/inventory
                  ship:
                    needs: [inventory]
                    for_each: "{{ tasks.inventory.outputs.boxes }}"
                    env: { LINE: "{{ index }} {{ item.label }} {{ item.weight + 1 }} {{ item.tags | array.join '+' }}" }
                    run: echo "line=$LINE" >> "$ORCH_OUTPUT"
                  total:
                    needs: [inventory, ship]
                    env:
                      COUNT: "{{ tasks.inventory.outputs.count }}"
                      LINES: "{{ tasks.ship.outputs | array.map 'line' | array.join ';' }}"
                    run: echo "$COUNT|$LINES" > total.txt
                """;
            var load = PipelineLoader.Parse(yaml, "test.yml", new PipelineLoadOptions { KnownActions = actions.Names });
            Assert.True(load.Succeeded, string.Join("\n", load.Diagnostics.Select(d => d.Message)));
            var work = Directory.CreateDirectory(Path.Combine(root, "work")).FullName;
            var settings = new RunSettings { RunId = new RunId("structured"), WorkingDirectory = work, RunDirectory = Path.Combine(root, ".orch", "runs", "structured") };

            var report = await new RunCoordinator(backend).RunAsync(load.Pipeline!, new Dictionary<string, object?>(), settings, TestContext.Current.CancellationToken)
                .WaitAsync(Engine.RunLimit, TestContext.Current.CancellationToken);

            Assert.True(report.Status == RunStatus.Succeeded, report.Describe());
            Assert.Equal("2|0 small 2 red+round;1 large 11 blue", File.ReadAllText(Path.Combine(work, "total.txt")).Trim());
            await stop.CancelAsync();
            await agent;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private sealed class InventoryAction : IBuiltinAction
    {
        public string Name => "test/inventory";
        public IReadOnlyCollection<string> Inputs => [];

        public ValueTask<ActionResult> ExecuteAsync(ActionContext context, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new ActionResult(new Dictionary<string, object?>
            {
                ["boxes"] = new List<object?>
                {
                    new Dictionary<string, object?> { ["label"] = "small", ["weight"] = 1L, ["tags"] = new List<object?> { "red", "round" } },
                    new Dictionary<string, object?> { ["label"] = "large", ["weight"] = 10L, ["tags"] = new List<object?> { "blue" } },
                },
                ["count"] = 2L,
            }));
    }

    private sealed class RecordingObserver : IRunObserver
    {
        public List<string> Started { get; } = [];
        public List<string> Finished { get; } = [];
        public List<string> Attempts { get; } = [];

        public void TaskStarted(string taskId, int instances) { lock (this) Started.Add($"{taskId}:{instances}"); }
        public void AttemptStarted(string instanceKey, int attempt) { lock (this) Attempts.Add($"{instanceKey}#{attempt}"); }
        public void AttemptFinished(string instanceKey, TaskResult result, bool willRetry, TimeSpan? retryIn) { }
        public void TaskFinished(string taskId, InstanceStatus status) { lock (this) Finished.Add($"{taskId}:{status.ToDisplay()}"); }
        public void Warning(string message) { }
    }
}
