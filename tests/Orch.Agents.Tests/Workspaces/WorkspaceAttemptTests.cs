using Orch.Actions;
using Orch.Coordination.Artifacts;
using Orch.Coordination.Embedded;
using Orch.Protocol;

namespace Orch.Agents.Tests.Workspaces;

/// <summary>An agent running attempts of a run whose files travel through the artifact store.</summary>
public sealed class WorkspaceAttemptTests : IAsyncLifetime
{
    private static readonly ArtifactLimits SmallFiles = ArtifactLimits.Default with { ChunkBytes = 1024, MaxArtifactBytes = 4096 };
    private readonly EmbeddedBackend _backend = new(null);
    private readonly DirectoryInfo _agentDirectory = Directory.CreateTempSubdirectory("orch-agent-test-");
    private AgentWorker _agent = null!;
    private ArtifactStore _store = null!;

    public ValueTask InitializeAsync()
    {
        _store = new ArtifactStore(_backend.State, SmallFiles);
        _agent = new AgentWorker(_backend, ActionRegistry.CreateDefault(), new AgentOptions
        {
            Id = new AgentId("test-agent"),
            Slots = 1,
            ClaimAttempts = false,
            WorkDirectory = _agentDirectory.FullName,
            ArtifactLimits = SmallFiles,
        });
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _backend.DisposeAsync();
        _agentDirectory.Delete(recursive: true);
    }

    private static TaskDispatch Shell(string script, params RunFile[] inputs)
    {
        var attempt = AttemptId.New();
        return new TaskDispatch
        {
            RunId = new RunId("run-1"),
            InstanceKey = "t",
            TaskId = "t",
            Attempt = 1,
            AttemptId = attempt,
            Body = new ShellBody(null, script, new Dictionary<string, string>()),
            LogPath = "unused.log",
            ArtifactDirectory = ".orch/runs/run-1/artifacts/t",
            WorkingDirectory = ".",
            Files = new TaskFiles { Inputs = inputs, SaveAs = $"runs/run-1/files/{attempt.Value}", LogAs = $"runs/run-1/logs/{attempt.Value}" },
        };
    }

    private async Task<RunFile> StoreAsync(string path, string text)
    {
        var stored = await _store.PutAsync("runs/run-1/params/in/" + path, new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)), TestContext.Current.CancellationToken);
        return stored.ToRunFile(path);
    }

    [Fact]
    public async Task Inputs_are_in_place_and_made_files_and_log_are_stored_with_outputs_relative_to_the_workspace()
    {
        var input = await StoreAsync("data/in.txt", "hello\n");

        var result = await _agent.ExecuteAsync(Shell("""
            mkdir -p "$ORCH_ARTIFACTS" out
            tr a-z A-Z < data/in.txt > "$ORCH_ARTIFACTS/up.txt"
            echo "up=$ORCH_ARTIFACTS/up.txt" >> "$ORCH_OUTPUT"
            echo "here=$PWD" >> "$ORCH_OUTPUT"
            echo side > out/side.txt
            echo working
            """, input));

        Assert.True(result.Status == AttemptStatus.Succeeded, result.Error);
        Assert.Equal(".orch/runs/run-1/artifacts/t/up.txt", result.Outputs["up"]);
        Assert.Equal(".", result.Outputs["here"]);
        Assert.Equal([".orch/runs/run-1/artifacts/t/up.txt", "out/side.txt"], result.Files.Select(f => f.Path));
        var up = new MemoryStream();
        await _store.GetAsync(result.Files[0].ToArtifactRef(), up, TestContext.Current.CancellationToken);
        Assert.Equal("HELLO\n", System.Text.Encoding.UTF8.GetString(up.ToArray()));
        var log = new MemoryStream();
        await _store.GetAsync(result.Log!.ToArtifactRef(), log, TestContext.Current.CancellationToken);
        Assert.Equal("working\n", System.Text.Encoding.UTF8.GetString(log.ToArray()));
        // Nothing of the attempt is left in the workspaces; the fetched input stays in the agent's cache.
        Assert.Empty(Directory.GetFiles(Path.Combine(_agentDirectory.FullName, "workspaces"), "*", SearchOption.AllDirectories));
        Assert.Single(Directory.GetFiles(Path.Combine(_agentDirectory.FullName, "cache"), "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task An_empty_workspace_is_used_again_and_one_with_files_left_is_not()
    {
        var places = Path.Combine(_agentDirectory.FullName, "places.txt");

        var first = await _agent.ExecuteAsync(Shell($"pwd >> {places}"));
        var second = await _agent.ExecuteAsync(Shell($"pwd >> {places}; ls -A >&2; echo left > file.txt"));
        var third = await _agent.ExecuteAsync(Shell($"pwd >> {places}; ls -A > listing"));

        Assert.All(new[] { first, second, third }, r => Assert.Equal(AttemptStatus.Succeeded, r.Status));
        var pwd = File.ReadAllLines(places);
        Assert.Equal(pwd[0], pwd[1]);
        Assert.NotEqual(pwd[1], pwd[2]);
        // The reused workspace was empty (the listing went to the log), and so is the fresh one.
        Assert.Equal("", await ReadAsync(second.Log));
        Assert.Equal("listing\n", await ReadAsync(third.Files.Single()));
    }

    [Fact]
    public async Task Actions_that_write_no_files_share_the_workspace_with_shell_attempts_and_leave_them_no_log()
    {
        var places = Path.Combine(_agentDirectory.FullName, "places.txt");

        var first = await _agent.ExecuteAsync(Shell($"pwd >> {places}; echo one"));
        var noops = new[] { await _agent.ExecuteAsync(Noop()), await _agent.ExecuteAsync(Noop()) };
        var last = await _agent.ExecuteAsync(Shell($"pwd >> {places}; echo two; ls -A"));

        Assert.All(noops.Append(first).Append(last), r => Assert.Equal(AttemptStatus.Succeeded, r.Status));
        Assert.All(noops, r => Assert.Null(r.Log));
        Assert.All(noops, r => Assert.Empty(r.Files));
        Assert.Equal("one\n", await ReadAsync(first.Log));
        // The same workspace all along, empty, and the last log is its own alone.
        Assert.Single(File.ReadAllLines(places).Distinct());
        Assert.Equal("two\n", await ReadAsync(last.Log));
    }

    private static TaskDispatch Noop() => Shell("") with { Body = new ActionBody("noop", new Dictionary<string, object?>()) };

    private async Task<string> ReadAsync(RunFile? file)
    {
        if (file is null) return "";
        var content = new MemoryStream();
        await _store.GetAsync(file.ToArtifactRef(), content, TestContext.Current.CancellationToken);
        return System.Text.Encoding.UTF8.GetString(content.ToArray());
    }

    [Fact]
    public async Task A_made_file_over_the_size_limit_fails_the_attempt_for_good_with_the_limit_named()
    {
        var result = await _agent.ExecuteAsync(Shell("head -c 5000 /dev/zero > big.bin"));

        Assert.Equal(AttemptStatus.Failed, result.Status);
        Assert.False(result.Retryable);
        Assert.Contains("'runs/run-1/files/", result.Error, StringComparison.Ordinal);
        Assert.Contains("big.bin' is 5000 bytes", result.Error, StringComparison.Ordinal);
        Assert.Contains("more than the limit of 4096 bytes", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_input_missing_from_the_store_fails_before_the_task_runs()
    {
        var gone = new RunFile("data/gone.txt", "runs/run-1/params/in/data/gone.txt", 3, new string('a', 64), 1);

        var result = await _agent.ExecuteAsync(Shell("touch ran", gone));

        Assert.Equal(AttemptStatus.Failed, result.Status);
        Assert.StartsWith("input files: ", result.Error, StringComparison.Ordinal);
        Assert.Empty(result.Files);
    }

    [Fact]
    public async Task An_input_path_that_leaves_the_workspace_is_refused()
    {
        var input = await StoreAsync("x.txt", "x");

        var result = await _agent.ExecuteAsync(Shell("true", input with { Path = "../escape.txt" }));

        Assert.Equal(AttemptStatus.Failed, result.Status);
        Assert.Contains("'..' segment", result.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_agentDirectory.FullName, "workspaces", "escape.txt")));
    }
}
