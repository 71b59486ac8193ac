using System.Collections;
using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Orch.Actions;
using Orch.Agents.Shell;
using Orch.Agents.Workspaces;
using Orch.Coordination;
using Orch.Coordination.Artifacts;
using Orch.Coordination.Attempts;
using Orch.Protocol;

namespace Orch.Agents;

/// <summary>
/// The worker side: takes batches of attempts from the bus while it has free slots, runs them
/// (shell tasks as killable process groups, built-in actions in-process), renews their resource
/// leases, and publishes each attempt's result. The same class runs inside <c>orch run</c>
/// (embedded default) and inside <c>orch-agent</c> on other machines.
/// </summary>
public sealed partial class AgentWorker(
    ICoordinationBackend backend,
    ActionRegistry actions,
    AgentOptions options,
    TimeProvider? time = null,
    ILogger<AgentWorker>? logger = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ILogger _logger = logger ?? NullLogger<AgentWorker>.Instance;
    private readonly ConcurrentDictionary<AttemptId, CancellationTokenSource> _running = new();
    // Cancels that arrived before their attempt started here (or before it was registered):
    // the attempt checks this when it starts, so a cancel is never lost to that race.
    private readonly RecentIds<AttemptId> _cancelled = new(time ?? TimeProvider.System);
    private readonly IReadOnlyDictionary<string, string> _baseEnvironment = CurrentEnvironment();
    private readonly AttemptClaims _claims = new(backend.State);
    // Batches this process has claimed (or tried to), so a copy delivered again is not run twice here.
    private readonly RecentIds<BatchId> _taken = new(time ?? TimeProvider.System);
    // Results waiting to be published (see ReportResultsAsync). An idle reporter goes on at once
    // on the thread that reports (no hop to another thread: a single task's round trip is shorter);
    // no caller of Report holds a lock, so nothing waits on it meanwhile.
    private readonly Channel<TaskResult> _outbox = Channel.CreateUnbounded<TaskResult>(new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = true });
    private readonly ArtifactStore _artifacts = new(backend.State, options.ArtifactLimits);
    // Made on first use: only runs whose files travel through the backend need them.
    private readonly Lazy<FileCache> _cache = new(() => new FileCache(Path.Combine(options.WorkDirectory, "cache"), new ArtifactStore(backend.State, options.ArtifactLimits), options.CacheBytes));
    private readonly Lazy<WorkspacePool> _workspaces = new(() => new WorkspacePool(options.WorkDirectory));
    private ProcessGroupLedger? _groups;
    private readonly string _incarnation = Guid.NewGuid().ToString("N");
    // Set when the agent stops its running attempts because it is shutting down.
    private volatile bool _handingBack;

    public AgentOptions Options => options;

    private ICoordinationBackend Backend => backend;

    /// <summary>Runs until <paramref name="stoppingToken"/> fires, then stops taking work and cancels running attempts.</summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        if (options.ClaimAttempts)
        {
            // An agent of a shared backend can be killed apart from anything else: what an earlier
            // agent in this work directory left running when it died is stopped before new work starts.
            _groups = new ProcessGroupLedger(Path.Combine(options.WorkDirectory, "groups"));
            if (_groups.StopLeftovers() is > 0 and var stopped)
                _logger.LogWarning("Stopped {Count} process group(s) left running by an agent that died in {Directory}", stopped, options.WorkDirectory);
        }
        // Registered before taking work: a coordinator judges the agent that claims an attempt by its heartbeats.
        await backend.Agents.HeartbeatAsync(Heartbeat(), stoppingToken).ConfigureAwait(false);
        await using var tasks = await backend.Bus.SubscribeAsync<TaskBatch>(Topics.Tasks, Topics.AgentsGroup, stoppingToken).ConfigureAwait(false);
        // An agent with labels also serves its pool: tasks that ask for labels it has.
        await using var pool = options.Labels.Count == 0 ? null
            : await backend.Bus.SubscribeAsync<TaskBatch>(Topics.Pool(options.Labels), Topics.AgentsGroup, stoppingToken).ConfigureAwait(false);
        await using var control = await backend.Bus.SubscribeAsync<CancelAttempt>(Topics.Control, "agent." + options.Id.Value, stoppingToken).ConfigureAwait(false);
        var controlLoop = ControlLoopAsync(control, stoppingToken);
        var heartbeat = HeartbeatLoopAsync(stoppingToken);
        var reporting = ReportResultsAsync();

        using var slots = new SemaphoreSlim(options.Slots, options.Slots);
        var inFlight = new ConcurrentDictionary<Task, byte>();
        try
        {
            while (true)
            {
                await slots.WaitAsync(stoppingToken).ConfigureAwait(false);
                var delivery = pool is null
                    ? await tasks.ReadAsync(stoppingToken).ConfigureAwait(false)
                    : await ReadEitherAsync(pool, tasks, stoppingToken).ConfigureAwait(false);
                await StartBatchAsync(delivery, slots, inFlight, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // No new work from here on. Running attempts get the grace period to finish; those
            // still running then are stopped and handed back, to run again on another agent.
            var all = Task.WhenAll(inFlight.Keys);
            if (_running.Count > 0 && options.ShutdownGrace > TimeSpan.Zero)
            {
                _logger.LogInformation("Stopping: waiting up to {Grace} for {Count} running attempt(s) to finish", Format(options.ShutdownGrace), _running.Count);
                await Task.WhenAny(all, Task.Delay(options.ShutdownGrace, _time, CancellationToken.None)).ConfigureAwait(false);
            }
            _handingBack = true;
            if (_running.Count > 0) _logger.LogInformation("Stopping: handing back {Count} running attempt(s)", _running.Count);
            foreach (var cts in _running.Values) await cts.CancelAsync().ConfigureAwait(false);
            await all.ConfigureAwait(false);
        }
        finally
        {
            // Every result (handed-back ones too) is reported before the agent says it is gone.
            _outbox.Writer.TryComplete();
            await reporting.ConfigureAwait(false);
            await backend.Agents.UnregisterAsync(options.Id, CancellationToken.None).ConfigureAwait(false);
            await Task.WhenAll(IgnoreCancel(controlLoop), IgnoreCancel(heartbeat)).ConfigureAwait(false);
        }
    }

    /// <summary>Runs one attempt and describes its outcome; never throws for task failures.</summary>
    public async Task<TaskResult> ExecuteAsync(TaskDispatch dispatch)
    {
        var started = _time.GetUtcNow();
        using var cancel = new CancellationTokenSource();
        _running[dispatch.AttemptId] = cancel;
        if (_cancelled.Remove(dispatch.AttemptId)) await cancel.CancelAsync().ConfigureAwait(false);
        var renewal = dispatch.LeaseId is { } leaseId ? RenewLeaseAsync(leaseId, cancel.Token) : Task.CompletedTask;
        try
        {
            Outcome outcome;
            try
            {
                outcome = cancel.IsCancellationRequested
                    ? new Outcome(AttemptStatus.Cancelled, null, "cancelled before it started", true, TaskResult.EmptyOutputs)
                    : dispatch.Files is { } files
                        ? await RunInWorkspaceAsync(dispatch, files, cancel.Token).ConfigureAwait(false)
                        : await RunBodyAsync(dispatch, cancel.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                outcome = new Outcome(AttemptStatus.Cancelled, null, "cancelled", true, TaskResult.EmptyOutputs);
            }
            catch (Exception ex)
            {
                // A fault of the agent, not of the task: report it so the coordinator can retry.
                _logger.LogError(ex, "Attempt {Attempt} of {TaskId} in run {RunId} failed inside the agent", dispatch.Attempt, dispatch.InstanceKey, dispatch.RunId);
                outcome = new Outcome(AttemptStatus.Failed, null, $"agent error: {ex.Message}", true, TaskResult.EmptyOutputs);
            }
            return Result(dispatch, outcome, started, handedBack: _handingBack && outcome.Status == AttemptStatus.Cancelled);
        }
        finally
        {
            _running.TryRemove(dispatch.AttemptId, out _);
            await cancel.CancelAsync().ConfigureAwait(false);
            await IgnoreCancel(renewal).ConfigureAwait(false);
        }
    }

    /// <summary>What the coordinator hears of an attempt; one handed back says so instead of why it stopped.</summary>
    private TaskResult Result(TaskDispatch dispatch, Outcome outcome, DateTimeOffset started, bool handedBack) => new()
    {
        HandedBack = handedBack,
        RunId = dispatch.RunId,
        InstanceKey = dispatch.InstanceKey,
        Attempt = dispatch.Attempt,
        AttemptId = dispatch.AttemptId,
        AgentId = options.Id,
        Status = outcome.Status,
        ExitCode = outcome.ExitCode,
        Error = handedBack ? $"handed back: agent {options.Id} is shutting down" : outcome.Error,
        Retryable = outcome.Retryable,
        Outputs = outcome.Outputs,
        Files = outcome.Files,
        Log = outcome.Log,
        StartedAt = started,
        FinishedAt = _time.GetUtcNow(),
    };

    private sealed record Outcome(AttemptStatus Status, int? ExitCode, string? Error, bool Retryable, IReadOnlyDictionary<string, object?> Outputs)
    {
        public IReadOnlyList<RunFile> Files { get; init; } = [];
        public RunFile? Log { get; init; }
    }

    private Task<Outcome> RunBodyAsync(TaskDispatch dispatch, CancellationToken cancel) => dispatch.Body switch
    {
        ActionBody action => RunActionAsync(dispatch, action, cancel),
        ShellBody shell => RunShellAsync(dispatch, shell, cancel),
        _ => Task.FromResult(new Outcome(AttemptStatus.Failed, null, $"unknown task body {dispatch.Body.GetType().Name}", false, TaskResult.EmptyOutputs)),
    };

    /// <summary>
    /// Runs an attempt of a run whose files this agent does not share: in an empty workspace with
    /// the inputs it was sent, then stores its log and (when it succeeded) the files it made.
    /// </summary>
    private async Task<Outcome> RunInWorkspaceAsync(TaskDispatch dispatch, TaskFiles files, CancellationToken cancel)
    {
        using var workspace = _workspaces.Value.Rent();
        Outcome outcome;
        try
        {
            await workspace.PlaceInputsAsync(files.Inputs, _cache.Value, cancel).ConfigureAwait(false);
            outcome = await RunBodyAsync(workspace.Localise(dispatch), cancel).ConfigureAwait(false);
        }
        catch (ArtifactException ex)
        {
            // Retrying cannot bring back an input that is gone or a path that is not allowed.
            return new Outcome(AttemptStatus.Failed, null, $"input files: {ex.Message}", false, TaskResult.EmptyOutputs);
        }

        if (dispatch.Body is ActionBody body && actions.TryGet(body.Action, out var action) && !action.WritesFiles) workspace.MadeNoFiles();
        // Stored whatever happens to the task: the log is what tells why it failed.
        var log = await workspace.SaveLogAsync(_artifacts, files.LogAs, CancellationToken.None).ConfigureAwait(false);
        if (outcome.Status != AttemptStatus.Succeeded || workspace.LeftEmpty) return outcome with { Log = log };
        try
        {
            var made = await workspace.SaveCreatedFilesAsync(_artifacts, files.SaveAs, CancellationToken.None).ConfigureAwait(false);
            return outcome with { Outputs = workspace.RelativiseOutputs(outcome.Outputs), Files = made, Log = log };
        }
        catch (ArtifactException ex)
        {
            return new Outcome(AttemptStatus.Failed, outcome.ExitCode, $"the files the task made cannot be stored: {ex.Message}", false, TaskResult.EmptyOutputs) { Log = log };
        }
    }

    private async Task<Outcome> RunActionAsync(TaskDispatch dispatch, ActionBody body, CancellationToken cancel)
    {
        if (!actions.TryGet(body.Action, out var action))
            return new Outcome(AttemptStatus.Failed, null, $"this agent has no action '{body.Action}' (agent version {options.Version})", false, TaskResult.EmptyOutputs);

        using var timeout = dispatch.Timeout is { } limit && limit < TimeSpan.FromDays(49) ? new CancellationTokenSource(limit, _time) : null;
        using var linked = timeout is null ? null : CancellationTokenSource.CreateLinkedTokenSource(cancel, timeout.Token);
        await using var log = new LazyFileWriter(dispatch.LogPath);
        var context = new ActionContext
        {
            With = body.With,
            WorkingDirectory = dispatch.WorkingDirectory,
            ArtifactDirectory = dispatch.ArtifactDirectory,
            Log = log,
        };
        try
        {
            var result = await action.ExecuteAsync(context, linked?.Token ?? cancel).ConfigureAwait(false);
            return new Outcome(AttemptStatus.Succeeded, null, null, true, result.Outputs);
        }
        catch (OperationCanceledException) when (timeout?.IsCancellationRequested == true)
        {
            return new Outcome(AttemptStatus.TimedOut, null, $"timed out after {Format(dispatch.Timeout!.Value)}", true, TaskResult.EmptyOutputs);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            return new Outcome(AttemptStatus.Cancelled, null, "cancelled", true, TaskResult.EmptyOutputs);
        }
        catch (ActionInputException ex)
        {
            await log.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return new Outcome(AttemptStatus.Failed, null, ex.Message, false, TaskResult.EmptyOutputs);
        }
        catch (Exception ex)
        {
            await log.WriteLineAsync(ex.ToString()).ConfigureAwait(false);
            return new Outcome(AttemptStatus.Failed, null, $"{body.Action}: {ex.Message}", true, TaskResult.EmptyOutputs);
        }
    }

    private async Task<Outcome> RunShellAsync(TaskDispatch dispatch, ShellBody body, CancellationToken cancel)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(dispatch.LogPath)!);
        var outputPath = Path.ChangeExtension(dispatch.LogPath, ".outputs");
        var environment = new Dictionary<string, string>(_baseEnvironment, StringComparer.Ordinal);
        foreach (var (name, value) in body.Environment) environment[name] = value;
        environment["ORCH_RUN_ID"] = dispatch.RunId.Value;
        environment["ORCH_TASK"] = dispatch.TaskId;
        environment["ORCH_INSTANCE"] = dispatch.InstanceKey;
        environment["ORCH_ATTEMPT"] = dispatch.Attempt.ToString(CultureInfo.InvariantCulture);
        environment["ORCH_ATTEMPT_ID"] = dispatch.AttemptId.Value;
        // The same for every attempt of this instance in this run, so a task can make a side
        // effect once even when an attempt is run again (after a lost agent, or a retry).
        environment["ORCH_IDEMPOTENCY_KEY"] = $"{dispatch.RunId.Value}/{dispatch.InstanceKey}";
        environment["ORCH_OUTPUT"] = outputPath;
        environment["ORCH_ARTIFACTS"] = dispatch.ArtifactDirectory;
        if (dispatch.Locks.Count > 0)
            environment["ORCH_LOCKS"] = string.Join(' ', dispatch.Locks.Select(l => $"{l.Resource}={l.FencingToken.ToString(CultureInfo.InvariantCulture)}"));

        ShellResult result;
        try
        {
            result = await ProcessGroupRunner.RunAsync(new ShellCommand
            {
                Argv = ShellArgv.For(body.Shell, body.Script),
                WorkingDirectory = dispatch.WorkingDirectory,
                Environment = environment,
                LogPath = dispatch.LogPath,
                Timeout = dispatch.Timeout,
                KillGrace = options.KillGrace,
                Ledger = _groups,
            }, cancel).ConfigureAwait(false);
        }
        catch (ShellStartException ex)
        {
            return new Outcome(AttemptStatus.Failed, null, ex.Message, false, TaskResult.EmptyOutputs);
        }

        if (result.TimedOut) return new Outcome(AttemptStatus.TimedOut, result.ExitCode, $"timed out after {Format(dispatch.Timeout!.Value)}", true, TaskResult.EmptyOutputs);
        if (result.Cancelled) return new Outcome(AttemptStatus.Cancelled, result.ExitCode, "cancelled", true, TaskResult.EmptyOutputs);
        if (result.ExitCode != 0)
        {
            var why = result.Signal is { } signal ? $"killed by signal {signal}" : $"exit code {result.ExitCode}";
            return new Outcome(AttemptStatus.Failed, result.ExitCode, why, true, TaskResult.EmptyOutputs);
        }

        try
        {
            var outputs = OutputFile.Parse(outputPath);
            var plain = new Dictionary<string, object?>(outputs.Count, StringComparer.Ordinal);
            foreach (var (name, value) in outputs) plain[name] = value;
            return new Outcome(AttemptStatus.Succeeded, 0, null, true, plain);
        }
        catch (FormatException ex)
        {
            return new Outcome(AttemptStatus.Failed, 0, $"$ORCH_OUTPUT: {ex.Message}", false, TaskResult.EmptyOutputs);
        }
    }

    private async Task RenewLeaseAsync(string leaseId, CancellationToken cancel)
    {
        var every = options.LeaseTime / 3;
        while (true)
        {
            await Task.Delay(every, _time, cancel).ConfigureAwait(false);
            if (!await backend.Locks.RenewAsync(leaseId, options.LeaseTime, cancel).ConfigureAwait(false))
                _logger.LogWarning("Lease {Resource} expired before it could be renewed", leaseId);
        }
    }

    private async Task ControlLoopAsync(IMessageSubscription<CancelAttempt> control, CancellationToken stop)
    {
        while (true)
        {
            var delivery = await control.ReadAsync(stop).ConfigureAwait(false);
            // Cancels for attempts that never come here (another agent ran them) are forgotten after a while.
            _cancelled.Add(delivery.Message.AttemptId);
            if (_running.TryGetValue(delivery.Message.AttemptId, out var cts))
            {
                _cancelled.Remove(delivery.Message.AttemptId);
                try { await cts.CancelAsync().ConfigureAwait(false); } catch (ObjectDisposedException) { }
            }
            await delivery.AckAsync().ConfigureAwait(false);
        }
    }

    private AgentInfo Heartbeat() =>
        new(options.Id, options.Host, options.Labels, options.Slots, options.Version, _running.Count, _time.GetUtcNow())
        {
            HeartbeatInterval = options.HeartbeatInterval,
            Incarnation = _incarnation,
        };

    private async Task HeartbeatLoopAsync(CancellationToken stop)
    {
        while (true)
        {
            await Task.Delay(options.HeartbeatInterval, _time, stop).ConfigureAwait(false);
            try
            {
                await backend.Agents.HeartbeatAsync(Heartbeat(), stop).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Keep beating: once the backend answers again, coordinators must see this agent alive.
                _logger.LogWarning("Heartbeat failed: {Error}", ex.Message);
            }
        }
    }

    private static async Task IgnoreCancel(Task task)
    {
        try { await task.ConfigureAwait(false); }
        catch (OperationCanceledException) { }
    }

    private static string Format(TimeSpan span) =>
        span.TotalSeconds < 1 ? $"{span.TotalMilliseconds:0}ms" : span.TotalMinutes < 1 ? $"{span.TotalSeconds:0.#}s" : span.ToString("g", CultureInfo.InvariantCulture);

    private static Dictionary<string, string> CurrentEnvironment()
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            if (entry.Key is string key && entry.Value is string value) environment[key] = value;
        }
        return environment;
    }
}
