using System.Globalization;
using Orch.Hosting;
using Orch.Pipeline.Loading;
using Orch.Pipeline.Model;
using Orch.Pipeline.Params;
using Orch.Protocol;

namespace Orch.Engine.Tests;

/// <summary>
/// A temporary directory with an embedded runtime (in-process bus, locks, state store and agent)
/// for driving whole runs. Shell tasks start in <see cref="Work"/>, so pipelines can use relative
/// paths for their marker files. Everything is deleted on dispose.
/// </summary>
internal sealed class Engine : IAsyncDisposable
{
    /// <summary>No test run should take longer than this; a hang fails the test instead of the suite.</summary>
    public static readonly TimeSpan RunLimit = TimeSpan.FromSeconds(30);

    private Engine(string root, int slots)
    {
        Root = root;
        Slots = slots;
        Directory.CreateDirectory(Work);
        Runtime = new EmbeddedRuntime(StateDirectory, slots);
    }

    public string Root { get; }
    public string Work => Path.Combine(Root, "work");
    public string StateDirectory => Path.Combine(Root, ".orch");
    public int Slots { get; }
    public EmbeddedRuntime Runtime { get; }

    public static async Task<Engine> StartAsync(int slots = 4)
    {
        var engine = new Engine(Directory.CreateTempSubdirectory("orch-engine-").FullName, slots);
        await engine.Runtime.WaitForAgentsAsync(TestContext.Current.CancellationToken).WaitAsync(RunLimit);
        return engine;
    }

    /// <summary>A path under the working directory.</summary>
    public string At(string relative) => Path.Combine(Work, relative);

    public static PipelineDefinition Load(string yaml)
    {
        var load = PipelineLoader.Parse(yaml, "test.yml", RunService.LoadOptions);
        Assert.True(load.Succeeded, "pipeline did not load:\n" + string.Join("\n", load.Diagnostics.Select(d => $"{d.Location}: {d.Message}")));
        return load.Pipeline!;
    }

    public static Dictionary<string, object?> Params(PipelineDefinition pipeline, params (string Name, string Value)[] overrides)
    {
        var resolution = ParamResolver.Resolve(pipeline, overrides.Select(o => new KeyValuePair<string, string>(o.Name, o.Value)).ToList());
        Assert.True(resolution.Succeeded, string.Join("\n", resolution.Diagnostics.Select(d => d.Message)));
        return new Dictionary<string, object?>(resolution.Values, StringComparer.Ordinal);
    }

    /// <summary>Settings for a run with its directory under <see cref="StateDirectory"/>, where the state store keeps its record.</summary>
    public RunSettings Settings(string runId) => new()
    {
        RunId = new RunId(runId),
        WorkingDirectory = Work,
        RunDirectory = Path.Combine(StateDirectory, "runs", runId),
    };

    /// <summary>Runs <paramref name="yaml"/> to the end.</summary>
    public Task<RunReport> RunAsync(string yaml, params (string Name, string Value)[] overrides) =>
        RunAsync(yaml, overrides, null);

    public Task<RunReport> RunAsync(
        string yaml,
        (string Name, string Value)[] overrides,
        Func<RunSettings, RunSettings>? configure,
        IRunObserver? observer = null) =>
        RunCancellableAsync(yaml, overrides, configure, observer, TestContext.Current.CancellationToken);

    /// <summary>Runs <paramref name="yaml"/>; <paramref name="cancellationToken"/> is handed to the coordinator.</summary>
    public async Task<RunReport> RunCancellableAsync(
        string yaml,
        (string Name, string Value)[] overrides,
        Func<RunSettings, RunSettings>? configure,
        IRunObserver? observer,
        CancellationToken cancellationToken)
    {
        var pipeline = Load(yaml);
        var parameters = Params(pipeline, overrides);
        var settings = Settings("run-" + Guid.NewGuid().ToString("N")[..8]);
        if (configure is not null) settings = configure(settings);
        var coordinator = new RunCoordinator(Runtime.Backend, observer);
        return await coordinator.RunAsync(pipeline, parameters, settings, cancellationToken).WaitAsync(RunLimit, TestContext.Current.CancellationToken);
    }

    public Task<RunRecord?> LoadRecordAsync(RunId id) =>
        new RunRecordStore(Runtime.Backend.State).LoadAsync(id, TestContext.Current.CancellationToken).AsTask();

    /// <summary>Lines of a file under the working directory; empty when it does not exist.</summary>
    public string[] Lines(string relative)
    {
        var path = At(relative);
        return File.Exists(path) ? File.ReadAllLines(path) : [];
    }

    public async ValueTask DisposeAsync()
    {
        await Runtime.DisposeAsync();
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>Waits for a file to appear (a task signalling that it has started).</summary>
    public static async Task WaitForFileAsync(string path, TimeSpan? limit = null)
    {
        var deadline = DateTime.UtcNow + (limit ?? TimeSpan.FromSeconds(10));
        while (!File.Exists(path))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{path} did not appear");
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }
    }

    public static long ReadLong(string path) => long.Parse(File.ReadAllText(path).Trim(), CultureInfo.InvariantCulture);
}

internal static class RecordExtensions
{
    public static InstanceRecord Instance(this RunRecord record, string key) =>
        record.Tasks.SelectMany(t => t.Instances).SingleOrDefault(i => i.Key == key)
        ?? throw new Xunit.Sdk.XunitException($"no instance '{key}' in the record; have: {string.Join(", ", record.Tasks.SelectMany(t => t.Instances).Select(i => i.Key))}");

    public static TaskRecord Task(this RunRecord record, string id) =>
        record.Tasks.SingleOrDefault(t => t.Id == id) ?? throw new Xunit.Sdk.XunitException($"no task '{id}' in the record");

    public static InstanceRecord Instance(this RunReport report, string key) => report.Record.Instance(key);
    public static TaskRecord Task(this RunReport report, string id) => report.Record.Task(id);

    /// <summary>Every instance and its error, for assertion messages.</summary>
    public static string Describe(this RunReport report) =>
        $"run {report.Status}: " + string.Join("; ", report.Record.Tasks.Select(t =>
            $"{t.Id}={t.Status.ToDisplay()}[" + string.Join(", ", t.Instances.Select(i => $"{i.Key}:{i.Status.ToDisplay()}{(i.Error is null ? "" : " (" + i.Error + ")")}")) + "]"));
}
