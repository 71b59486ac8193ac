using Orch.Coordination.Resilience;
using System.Globalization;
using Orch.Actions;
using Orch.Engine;
using Orch.Engine.Files;
using Orch.Pipeline.Diagnostics;
using Orch.Pipeline.Loading;
using Orch.Pipeline.Params;
using Orch.Protocol;

namespace Orch.Hosting;

/// <summary>What <c>orch run</c> asks for.</summary>
public sealed record RunRequest
{
    public required string PipelineFile { get; init; }
    public IReadOnlyList<KeyValuePair<string, string>> Params { get; init; } = [];
    /// <summary>A run id, or <c>last</c>, to resume; null for a new run.</summary>
    public string? Resume { get; init; }
    public int? MaxParallel { get; init; }
    public TimeSpan? Timeout { get; init; }
    public string WorkingDirectory { get; init; } = Directory.GetCurrentDirectory();
    /// <summary>Where run records live; default <c>.orch</c> under the working directory.</summary>
    public string? StateDirectory { get; init; }
    /// <summary><c>embedded</c> (default: agents in this process) or <c>redis://HOST:PORT</c> (agents are <c>orch-agent</c> processes).</summary>
    public string? Backend { get; init; }
    /// <summary>How long a run over a remote backend waits for a live agent before giving up.</summary>
    public TimeSpan AgentWait { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>How long a run waits for a remote backend that became unreachable before it gives up (exit 31).</summary>
    public TimeSpan BackendWait { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>Signs and checks every bus message of a remote backend; required there unless <see cref="Insecure"/>.</summary>
    public Orch.Coordination.Signing.ClusterKey? ClusterKey { get; init; }
    /// <summary>Lets a run over a remote backend go without a cluster key (messages unauthenticated).</summary>
    public bool Insecure { get; init; }
    /// <summary>
    /// Agents of a remote backend see this machine's files at the same paths (a shared file
    /// system), so tasks run in the run's working directory and no files are sent. When false,
    /// path params and the files tasks make travel through the backend's artifact store.
    /// </summary>
    public bool SharedFileSystem { get; init; }
}

/// <summary>How a run request ended before or after running.</summary>
public abstract record RunOutcome;

/// <summary>The pipeline file has errors (or cannot be read); nothing ran.</summary>
public sealed record PipelineInvalid(PipelineLoadResult Load) : RunOutcome;

/// <summary>The request itself is wrong (a bad -p value, an unknown run to resume); nothing ran.</summary>
public sealed record RequestInvalid(IReadOnlyList<Diagnostic> Diagnostics, string? SourceText) : RunOutcome;

public sealed record RunCompleted(RunReport Report) : RunOutcome;

/// <summary>The backend could not be reached, or no agent serves it; nothing ran.</summary>
public sealed record BackendFailed(string Message) : RunOutcome;

/// <summary>
/// The backend became unreachable during the run and stayed so past the wait limit. Nothing
/// that did not finish was marked done; the last saved record lets <c>--resume</c> continue.
/// </summary>
public sealed record BackendLost(string Message, RunId RunId) : RunOutcome;

/// <summary>
/// Loads, checks and runs a pipeline on the embedded default. The CLI's <c>run</c> command is a
/// thin shell over this.
/// </summary>
/// <param name="time">The clock; the system clock unless given.</param>
/// <param name="logger">Hears about bus messages rejected as unverifiable (remote backends).</param>
public sealed class RunService(TimeProvider? time = null, Microsoft.Extensions.Logging.ILogger? logger = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public static PipelineLoadOptions LoadOptions { get; } = CreateLoadOptions(ActionRegistry.CreateDefault());

    private static PipelineLoadOptions CreateLoadOptions(ActionRegistry actions) => new()
    {
        KnownActions = actions.Names,
        ActionInputs = actions.Names.ToDictionary(name => name, name => { actions.TryGet(name, out var action); return action.Inputs; }, StringComparer.Ordinal),
    };

    /// <summary>Loads and validates a pipeline file.</summary>
    public static PipelineLoadResult Load(string path) => PipelineLoader.Load(path, LoadOptions);

    /// <param name="observer">Hears task events (progress lines, failures).</param>
    /// <param name="progress">Counters the caller may poll for a live display.</param>
    public Task<RunOutcome> RunAsync(RunRequest request, IRunObserver? observer, RunProgress? progress, CancellationToken cancellationToken) =>
        RunAsync(Load(request.PipelineFile), request, observer, progress, cancellationToken);

    /// <summary>Runs a pipeline the caller has already loaded (to show its warnings first, say).</summary>
    public async Task<RunOutcome> RunAsync(PipelineLoadResult load, RunRequest request, IRunObserver? observer, RunProgress? progress, CancellationToken cancellationToken)
    {
        if (!load.Succeeded) return new PipelineInvalid(load);
        var pipeline = load.Pipeline!;

        var stateDirectory = Path.GetFullPath(request.StateDirectory ?? ".orch", request.WorkingDirectory);
        if (!BackendAddress.IsEmbedded(request.Backend) && request.ClusterKey is null && !request.Insecure)
            return new BackendFailed(ClusterKeys.Missing("a cluster key", "insecure"));
        IRunRuntime runtime;
        try
        {
            runtime = BackendAddress.IsEmbedded(request.Backend)
                ? new EmbeddedRuntime(stateDirectory, request.MaxParallel ?? Environment.ProcessorCount, _time)
                : await RemoteRuntime.ConnectAsync(request.Backend!, request.AgentWait, request.BackendWait, (observer ?? NullRunObserver.Instance).Warning, request.ClusterKey, logger).ConfigureAwait(false);
        }
        catch (BackendUnavailableException ex)
        {
            return new BackendFailed(ex.Message);
        }
        await using var _ = runtime;
        var records = new RunRecordStore(runtime.Backend.State);

        RunRecord? previous = null;
        RunId runId;
        if (request.Resume is { } resume)
        {
            var id = resume == "last" ? LatestRun(stateDirectory, pipeline.Name) : resume;
            if (id is not null && (id.Length == 0 || id.Contains("..", StringComparison.Ordinal) || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            {
                return new RequestInvalid([new Diagnostic(DiagnosticCodes.ResumeNotPossible, DiagnosticSeverity.Error, SourceLocation.None(request.PipelineFile),
                    $"'{id}' is not a run id", "run ids look like 20261125-073552-wordcount-3f9a; see .orch/runs, or use --resume last")], null);
            }
            previous = id is null ? null : await records.LoadAsync(new RunId(id), cancellationToken).ConfigureAwait(false);
            if (previous is null)
            {
                var message = id is null ? $"no earlier run of '{pipeline.Name}' to resume" : $"no run '{id}' to resume";
                return new RequestInvalid([new Diagnostic(DiagnosticCodes.ResumeNotPossible, DiagnosticSeverity.Error, SourceLocation.None(Path.Combine(stateDirectory, "runs")), message, "see the run ids under .orch/runs, or omit --resume to start a new run")], null);
            }
            if (previous.Pipeline != pipeline.Name)
            {
                return new RequestInvalid([new Diagnostic(DiagnosticCodes.ResumeNotPossible, DiagnosticSeverity.Error, SourceLocation.None(request.PipelineFile),
                    $"run '{previous.RunId}' is a run of pipeline '{previous.Pipeline}', not '{pipeline.Name}'", $"resume it with the file it ran: orch run {previous.File} --resume {previous.RunId}")], null);
            }
            runId = new RunId(previous.RunId);
        }
        else
        {
            runId = NewRunId(pipeline.Name);
        }

        var resolution = ParamResolver.Resolve(pipeline, request.Params);
        if (resolution.Diagnostics.Any(d => d.IsError)) return new RequestInvalid(resolution.Diagnostics, load.SourceText);
        var parameters = new Dictionary<string, object?>(resolution.Values, StringComparer.Ordinal);
        if (previous is not null)
        {
            // A resumed run keeps the values it started with unless -p changes them.
            var overridden = request.Params.Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
            foreach (var (name, value) in previous.Params)
            {
                if (!overridden.Contains(name) && parameters.ContainsKey(name)) parameters[name] = value;
            }
        }

        var store = new Orch.Coordination.Artifacts.ArtifactStore(runtime.Backend.State);
        // Agents that share no files with this machine run tasks in workspaces that stand for the
        // working directory, so a resumed run may work from any directory (another machine too).
        // On a shared file system it works where it started: tasks' absolute paths must mean the same.
        var shipsFiles = runtime.AgentsAreRemote && !request.SharedFileSystem;
        var workingDirectory = shipsFiles ? request.WorkingDirectory : previous?.WorkingDirectory ?? request.WorkingDirectory;
        if (ShippedParam.Missing(pipeline, parameters, workingDirectory) is { Count: > 0 } missing) return new RequestInvalid(missing, load.SourceText);

        int slots;
        try
        {
            slots = await runtime.WaitForAgentsAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (BackendUnavailableException ex)
        {
            return new BackendFailed(ex.Message);
        }
        if (await UnplaceableTasksAsync(pipeline, runtime, cancellationToken).ConfigureAwait(false) is { Count: > 0 } unplaceable)
            return new RequestInvalid(unplaceable, load.SourceText);
        FileShipping? files = null;
        if (shipsFiles)
        {
            try
            {
                files = new FileShipping(store, workingDirectory, await ShippedParam.UploadAsync(pipeline, parameters, workingDirectory, runId, store, cancellationToken).ConfigureAwait(false));
            }
            catch (Orch.Coordination.Artifacts.ArtifactException ex)
            {
                return new RequestInvalid([new Diagnostic(DiagnosticCodes.PathParamUnusable, DiagnosticSeverity.Error, SourceLocation.None(request.PipelineFile),
                    $"cannot send the path params to the agents: {ex.Message}", "send less, or run with --shared-fs where the agents see these files at the same paths")], null);
            }
        }
        if (previous is null) RememberLatestRun(stateDirectory, pipeline.Name, runId);
        var settings = new RunSettings
        {
            RunId = runId,
            WorkingDirectory = workingDirectory,
            RunDirectory = Path.Combine(stateDirectory, "runs", runId.Value),
            DispatchWindow = Math.Max(16, slots * 16),
            Timeout = request.Timeout ?? pipeline.Timeout,
            Previous = previous,
            LostAgentCheckInterval = runtime.AgentsAreRemote ? TimeSpan.FromSeconds(1) : null,
            Files = files,
        };
        // Made here, not by the first task that logs: with agents elsewhere nothing else may make it.
        Directory.CreateDirectory(settings.RunDirectory);
        var coordinator = new RunCoordinator(runtime.Backend, observer, _time, progress);
        try
        {
            var report = await coordinator.RunAsync(pipeline, parameters, settings, cancellationToken).ConfigureAwait(false);
            return new RunCompleted(report);
        }
        catch (BackendLostException ex)
        {
            return new BackendLost(ex.Message, runId);
        }
    }

    /// <summary>
    /// Tasks that ask for labels or slots no live agent offers: an error before the run starts,
    /// not a task that waits for ever. Each names the agents there are.
    /// </summary>
    private static async Task<List<Diagnostic>> UnplaceableTasksAsync(Orch.Pipeline.Model.PipelineDefinition pipeline, IRunRuntime runtime, CancellationToken cancellationToken)
    {
        var problems = new List<Diagnostic>();
        var placed = pipeline.Tasks.Where(t => t.Labels.Count > 0 || t.Slots > 1).ToList();
        if (placed.Count == 0) return problems;
        var agents = await runtime.Backend.Agents.ListAsync(cancellationToken).ConfigureAwait(false);
        var offered = string.Join("; ", agents.Select(a => $"{a.Id} ({(a.Labels.Count == 0 ? "no labels" : string.Join(", ", a.Labels))}, {a.Slots} slots)"));
        foreach (var task in placed)
        {
            if (agents.Any(a => a.CanRun(task.Labels, task.Slots))) continue;
            var wanted = task.Labels.Count == 0 ? $"{task.Slots} slots" : $"the labels {string.Join(", ", task.Labels)}{(task.Slots > 1 ? $" and {task.Slots} slots" : "")}";
            var hint = runtime.AgentsAreRemote
                ? $"live agents: {offered}; start one with --Agent:Labels:0=LABEL (and --Agent:Slots=N), or change the task"
                : "the embedded default runs tasks in this process, which has no labels; use --backend with orch-agent processes that have them" + (task.Labels.Count == 0 ? ", or raise --max-parallel" : "");
            problems.Add(new Diagnostic(DiagnosticCodes.NoMatchingAgent, DiagnosticSeverity.Error, task.PlacementLocation ?? task.Location,
                $"no live agent can run task '{task.Id}': it needs {wanted}", hint));
        }
        return problems;
    }

    /// <summary>The id of the newest run of a pipeline, from the pointer each new run leaves; null when there is none.</summary>
    public static string? LatestRun(string stateDirectory, string pipelineName)
    {
        var pointer = LastRunPointer(stateDirectory, pipelineName);
        return File.Exists(pointer) ? File.ReadAllText(pointer).Trim() : null;
    }

    /// <summary>
    /// One small file per pipeline name holding its newest run id. The file name carries a hash of
    /// the exact name, so names that clean up alike (<c>etl.daily</c>, <c>etl_daily</c>) stay apart.
    /// </summary>
    private static string LastRunPointer(string stateDirectory, string pipelineName)
    {
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(pipelineName)).AsSpan(0, 6));
        return Path.Combine(stateDirectory, "last", $"{SafeName(pipelineName)}-{hash}");
    }

    private static void RememberLatestRun(string stateDirectory, string pipelineName, RunId run)
    {
        var pointer = LastRunPointer(stateDirectory, pipelineName);
        Directory.CreateDirectory(Path.GetDirectoryName(pointer)!);
        File.WriteAllText(pointer + ".tmp", run.Value);
        File.Move(pointer + ".tmp", pointer, overwrite: true);
    }

    private static string SafeName(string name) =>
        new(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_').ToArray());

    private RunId NewRunId(string pipelineName)
    {
        var now = _time.GetUtcNow();
        var suffix = Random.Shared.Next(0x10000).ToString("x4", CultureInfo.InvariantCulture);
        return new RunId($"{now:yyyyMMdd-HHmmss}-{SafeName(pipelineName)}-{suffix}");
    }

}
