using Orch.Coordination.Artifacts;
using Orch.Engine.Files;
using Orch.Protocol;

namespace Orch.Engine.Tests;

/// <summary>
/// Runs whose agents do not share the run's file system: path params and the files tasks make
/// travel through the artifact store (here the embedded state store; over Redis in the CLI tests).
/// </summary>
public sealed class FileShippingTests
{
    private static readonly ShippedParam Corpus = new("input", "data/corpus",
    [
        File("data/corpus/a.txt"), File("data/corpus/b.txt"), File("data/corpus/deep/c.txt"),
    ]);

    private static RunFile File(string path) => new(path, "runs/r/params/input/" + path, 1, new string('0', 64), 1);

    private static FileShipping Shipping(params ShippedParam[] pathParams) =>
        new(new ArtifactStore(new Orch.Coordination.Embedded.EmbeddedStateStore(null)), Path.Combine(Path.GetTempPath(), "orch-shipping-tests-unused"), pathParams);

    private static string[] Inputs(TaskBody body, params RunFile[] upstream) =>
        Shipping(Corpus).InputsFor(body, upstream).Select(f => f.Path).Order(StringComparer.Ordinal).ToArray();

    private static ActionBody With(object? value) => new("wordcount/count", new Dictionary<string, object?> { ["shard"] = value });

    [Fact]
    public void A_task_naming_one_file_of_a_directory_param_gets_that_file_only()
    {
        var shard = new Dictionary<string, object?> { ["path"] = "data/corpus/b.txt", ["start"] = 0L, ["end"] = 10L };

        Assert.Equal(["data/corpus/b.txt"], Inputs(With(shard)));
    }

    [Fact]
    public void A_task_naming_the_param_itself_gets_all_its_files()
    {
        Assert.Equal(["data/corpus/a.txt", "data/corpus/b.txt", "data/corpus/deep/c.txt"], Inputs(new ShellBody(null, "wc -l data/corpus > n", new Dictionary<string, string>())));
    }

    [Fact]
    public void A_subdirectory_gives_the_files_under_it_and_a_glob_gives_everything()
    {
        Assert.Equal(["data/corpus/deep/c.txt"], Inputs(new ShellBody(null, "cat 'data/corpus/deep/' | wc", new Dictionary<string, string>())));
        Assert.Equal(3, Inputs(new ShellBody(null, "cat data/corpus/*.txt", new Dictionary<string, string>())).Length);
    }

    [Fact]
    public void A_longer_name_that_starts_like_the_param_or_no_mention_gives_nothing_but_upstream_files()
    {
        var upstream = File(".orch/runs/r/artifacts/count/0/counts-00000.bin");

        Assert.Equal([upstream.Path], Inputs(new ShellBody(null, "cat data/corpus2/x && echo data/corpusfile", new Dictionary<string, string> { ["X"] = "data" }), upstream));
    }

    [Fact]
    public void Environment_values_count_as_naming_a_file()
    {
        Assert.Equal(["data/corpus/a.txt"], Inputs(new ShellBody(null, "cat \"$IN\"", new Dictionary<string, string> { ["IN"] = "data/corpus/a.txt" })));
    }

    [Fact]
    public async Task A_made_file_that_cannot_be_fetched_fails_the_run_but_one_of_a_reused_instance_only_warns()
    {
        var shipping = Shipping();
        var gone = File("out/gone.txt");

        shipping.FetchBack([gone]);
        shipping.FetchBack([gone with { Path = "out/old.txt" }], reused: true);
        shipping.FetchBack([gone with { Path = "../outside.txt" }]);
        var problems = await shipping.DrainAsync();

        Assert.Equal(3, problems.Count);
        Assert.Contains(problems, p => p.FailsRun && p.Message.StartsWith("could not fetch 'out/gone.txt': ", StringComparison.Ordinal));
        Assert.Contains(problems, p => !p.FailsRun && p.Message.StartsWith("could not fetch 'out/old.txt': ", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.FailsRun && p.Message == "'../outside.txt' is not a path inside the run's working directory; not fetched");
    }

    [Fact]
    public async Task Whole_run_ships_inputs_to_workspaces_and_fetches_made_files_and_logs_back()
    {
        await using var engine = await Engine.StartAsync(slots: 2);
        System.IO.File.WriteAllText(engine.At("letters.txt"), "alpha\nbeta\n");
        var pipeline = Engine.Load("""
            name: shipping
            params:
              src: { type: path, default: letters.txt }
            tasks:
              make:
                run: |
                  pwd > where.txt
                  mkdir -p "$ORCH_ARTIFACTS"
                  tr a-z A-Z < {{ params.src }} > "$ORCH_ARTIFACTS/upper.txt"
                  echo "upper=$ORCH_ARTIFACTS/upper.txt" >> "$ORCH_OUTPUT"
                  echo made it
              use:
                needs: [make]
                run: |
                  mkdir -p out
                  cat {{ tasks.make.outputs.upper }} > out/final.txt
                  ls > listing.txt
              broken:
                needs: [make]
                run: echo "broken because" && exit 3
            """);
        var parameters = Engine.Params(pipeline);
        var settings = engine.Settings("run-ship");
        var store = new ArtifactStore(engine.Runtime.Backend.State);
        var shipped = await ShippedParam.UploadAsync(pipeline, parameters, engine.Work, settings.RunId, store, TestContext.Current.CancellationToken);
        settings = settings with { Files = new FileShipping(store, engine.Work, shipped) };

        var report = await new RunCoordinator(engine.Runtime.Backend).RunAsync(pipeline, parameters, settings, TestContext.Current.CancellationToken).WaitAsync(Engine.RunLimit, TestContext.Current.CancellationToken);

        Assert.True(report.Record.Tasks.Sum(t => t.Instances.Count) == 3 && report.Instance("use").Status == InstanceStatus.Succeeded,
            report.Describe() + "\n" + string.Join("\n", Directory.GetFiles(settings.RunDirectory, "*.log", SearchOption.AllDirectories).Select(System.IO.File.ReadAllText)));
        Assert.Equal(RunStatus.Failed, report.Status);
        // The made files came back to the working directory, the tasks ran somewhere else.
        Assert.Equal(["ALPHA", "BETA"], engine.Lines("out/final.txt"));
        Assert.Equal(".orch/runs/run-ship/artifacts/make/upper.txt", report.Instance("make").Outputs!["upper"]);
        Assert.NotEqual(engine.Work, engine.Lines("where.txt").Single());
        // A task gets every file of the tasks it needs, and only the path params it names ('use' does not name src).
        Assert.Equal(["listing.txt", "out", "where.txt"], engine.Lines("listing.txt"));
        // Logs of a success and of a failure are where this run keeps them.
        Assert.Contains("made it", System.IO.File.ReadAllText(Path.Combine(settings.RunDirectory, report.Instance("make").Attempts[0].Log!)), StringComparison.Ordinal);
        Assert.Contains("broken because", System.IO.File.ReadAllText(Path.Combine(settings.RunDirectory, report.Instance("broken").Attempts[0].Log!)), StringComparison.Ordinal);
        Assert.Equal(["where.txt"], report.Instance("make").Files!.Select(f => f.Path).Where(p => !p.StartsWith(".orch/", StringComparison.Ordinal)));
        // A failed run keeps its files in the store for --resume.
        Assert.NotEmpty(await store.ListAsync($"runs/{settings.RunId.Value}/", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_file_made_again_downstream_reaches_later_tasks_in_its_newer_version()
    {
        await using var engine = await Engine.StartAsync();
        var pipeline = Engine.Load("""
            name: rewrite
            tasks:
              first:
                run: echo first > note.txt
              second:
                needs: [first]
                run: echo second > note.txt
              third:
                needs: [second]
                run: cp note.txt seen.txt
            """);
        var settings = engine.Settings("run-rewrite");
        var store = new ArtifactStore(engine.Runtime.Backend.State);
        settings = settings with { Files = new FileShipping(store, engine.Work, []) };

        var report = await new RunCoordinator(engine.Runtime.Backend).RunAsync(pipeline, Engine.Params(pipeline), settings, TestContext.Current.CancellationToken).WaitAsync(Engine.RunLimit, TestContext.Current.CancellationToken);

        Assert.True(report.Status == RunStatus.Succeeded, report.Describe());
        Assert.Equal(["second"], engine.Lines("seen.txt"));
    }

    [Fact]
    public async Task A_succeeded_run_removes_its_files_from_the_store()
    {
        await using var engine = await Engine.StartAsync(slots: 2);
        var pipeline = Engine.Load("""
            name: tidy
            tasks:
              make:
                run: echo hi > hello.txt
            """);
        var parameters = Engine.Params(pipeline);
        var settings = engine.Settings("run-tidy");
        var store = new ArtifactStore(engine.Runtime.Backend.State);
        settings = settings with { Files = new FileShipping(store, engine.Work, []) };

        var report = await new RunCoordinator(engine.Runtime.Backend).RunAsync(pipeline, parameters, settings, TestContext.Current.CancellationToken).WaitAsync(Engine.RunLimit, TestContext.Current.CancellationToken);

        Assert.Equal(RunStatus.Succeeded, report.Status);
        Assert.Equal(["hi"], engine.Lines("hello.txt"));
        Assert.Empty(await store.ListAsync("runs/", TestContext.Current.CancellationToken));
    }
}
