using System.Threading.Channels;
using Orch.Coordination;
using Orch.Coordination.Attempts;
using Orch.Coordination.Resilience;
using Orch.Engine.Files;
using Orch.Engine.Planning;
using Orch.Pipeline.Model;
using Orch.Pipeline.Templates;
using Orch.Protocol;

namespace Orch.Engine;

/// <summary>
/// Drives one run: works out which task instances are ready, takes their resources, hands them to
/// agents over the message bus, and collects results. All run state is changed on one loop
/// (an actor), so the scheduling logic needs no locks. Agents are reached only through the
/// coordination ports, whether they run in this process or on other machines.
/// </summary>
public sealed partial class RunCoordinator(ICoordinationBackend backend, IRunObserver? observer = null, TimeProvider? time = null, RunProgress? progress = null)
{
    private readonly IRunObserver _observer = observer ?? NullRunObserver.Instance;
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public RunProgress Progress { get; } = progress ?? new();

    public async Task<RunReport> RunAsync(
        PipelineDefinition pipeline,
        IReadOnlyDictionary<string, object?> parameters,
        RunSettings settings,
        CancellationToken cancellationToken)
    {
        var run = new RunState(pipeline, parameters, settings, backend, _observer, _time, Progress);
        return await run.ExecuteAsync(cancellationToken).ConfigureAwait(false);
    }

    private abstract record Event;
    private sealed record ResultArrived(TaskResult Result) : Event;
    private sealed record RetryDue(InstanceNode Instance) : Event;
    private sealed record LocksGranted(InstanceNode Instance, LockLease Lease) : Event;
    private sealed record LocksFailed(InstanceNode Instance, Exception? Error) : Event;
    private sealed record StopRequested(RunStatus Reason) : Event;
    private sealed record RenewLeases : Event;
    private sealed record CheckAgents : Event;
    private sealed record PumpFailed(Exception Error) : Event;

    /// <summary>The state of one run; lives only inside <see cref="RunAsync"/>.</summary>
    private sealed partial class RunState
    {
        private readonly PipelineDefinition _pipeline;
        private readonly RunSettings _settings;
        private readonly ICoordinationBackend _backend;
        private readonly IRunObserver _observer;
        private readonly TimeProvider _time;
        private readonly RunProgress _progress;
        private readonly TaskRenderer _renderer;
        private readonly RunRecordStore _records;
        private readonly AttemptClaims _claims;
        private readonly Dictionary<string, object?> _params;
        // What templates see: path params are their place in the workspace when files are shipped.
        private readonly Dictionary<string, object?> _scopeParams;
        private readonly FileShipping? _files;
        private readonly Dictionary<string, TaskNode> _tasks = new(StringComparer.Ordinal);
        private readonly Dictionary<string, InstanceNode> _instances = new(StringComparer.Ordinal);
        private readonly Dictionary<string, InstanceRecord> _previous = new(StringComparer.Ordinal);
        private readonly Queue<InstanceNode> _ready = new();
        private readonly HashSet<InstanceNode> _running = [];
        private readonly HashSet<InstanceNode> _leased = [];
        // Batches whose claims stay revoked after the run: those with lost attempts or attempts that never answered.
        private readonly HashSet<BatchId> _revoked = [];
        // Live agents as last listed, with their pool topics, to place tasks that ask for labels;
        // listed only when some task does.
        private IReadOnlyList<(AgentInfo Agent, string Pool)> _placement = [];
        private readonly bool _placesByLabel;
        private int _poolTurn;
        private readonly Channel<Event> _events = Channel.CreateUnbounded<Event>(new UnboundedChannelOptions { SingleReader = true });
        private readonly CancellationTokenSource _stopping = new();
        private readonly Random _random = new();
        private static readonly string[] StatusNames = Enum.GetNames<AttemptStatus>().Select(n => n.ToLowerInvariant()).ToArray();
        // The persisted record, kept in step with the nodes as they change, so a save only serialises it.
        private readonly RunRecord _record;
        private readonly Dictionary<string, TaskRecord> _taskRecords = new(StringComparer.Ordinal);
        private readonly DateTimeOffset _startedAt;
        private int _unfinishedTasks;
        private int _waitingForLocks;
        private RunStatus? _stopReason;
        private DateTimeOffset _lastFlush;
        private TimeSpan _flushInterval = TimeSpan.FromMilliseconds(250);
        private bool _unsaved; // the run changed since the last flush
        private int _saves;

        public RunState(PipelineDefinition pipeline, IReadOnlyDictionary<string, object?> parameters, RunSettings settings,
            ICoordinationBackend backend, IRunObserver observer, TimeProvider time, RunProgress progress)
        {
            _pipeline = pipeline;
            _settings = settings;
            _backend = backend;
            _observer = observer;
            _time = time;
            _progress = progress;
            _renderer = new TaskRenderer(pipeline);
            _records = new RunRecordStore(backend.State);
            _claims = new AttemptClaims(backend.State);
            _params = new Dictionary<string, object?>(parameters, StringComparer.Ordinal);
            _files = settings.Files;
            _scopeParams = _files?.TemplateValues(_params) ?? _params;
            _startedAt = time.GetUtcNow();
            _lastFlush = _startedAt;
            foreach (var instance in settings.Previous?.Tasks.SelectMany(t => t.Instances) ?? []) _previous[instance.Key] = instance;
            foreach (var definition in pipeline.Tasks) _tasks[definition.Id] = new TaskNode(definition);
            foreach (var node in _tasks.Values)
            {
                node.UnfinishedNeeds = node.Definition.Needs.Count;
                foreach (var need in node.Definition.Needs) _tasks[need].Dependents.Add(node);
            }
            _unfinishedTasks = _tasks.Count;
            _placesByLabel = pipeline.Tasks.Any(t => t.Labels.Count > 0);
            _record = new RunRecord
            {
                RunId = settings.RunId.Value,
                Pipeline = pipeline.Name,
                File = pipeline.FilePath,
                WorkingDirectory = settings.WorkingDirectory,
                Params = _params,
                Status = RunStatus.Running,
                StartedAt = _startedAt,
            };
            foreach (var definition in pipeline.Tasks)
            {
                var taskRecord = new TaskRecord { Id = definition.Id, Status = InstanceStatus.Pending };
                _record.Tasks.Add(taskRecord);
                _taskRecords[definition.Id] = taskRecord;
            }
        }

        public async Task<RunReport> ExecuteAsync(CancellationToken cancellationToken)
        {
            await using var results = await _backend.Bus.SubscribeAsync<ResultBatch>(Topics.Results(_settings.RunId), "coordinator", cancellationToken).ConfigureAwait(false);
            using var pumpStop = new CancellationTokenSource();
            var pump = PumpResultsAsync(results, pumpStop.Token);
            await using var onCancel = cancellationToken.Register(() => _events.Writer.TryWrite(new StopRequested(RunStatus.Cancelled)));
            // Timers cannot wait longer than about 49 days; a longer limit is no limit in practice.
            using var runTimeout = _settings.Timeout is { } limit && limit < TimeSpan.FromDays(49)
                ? _time.CreateTimer(_ => _events.Writer.TryWrite(new StopRequested(RunStatus.TimedOut)), null, limit, Timeout.InfiniteTimeSpan)
                : null;

            using var leaseRenewal = _time.CreateTimer(_ => _events.Writer.TryWrite(new RenewLeases()), null, _settings.LeaseTime / 3, _settings.LeaseTime / 3);
            using var agentCheck = _settings.LostAgentCheckInterval is { } every
                ? _time.CreateTimer(_ => _events.Writer.TryWrite(new CheckAgents()), null, every, every)
                : null;

            await FlushAsync(RunStatus.Running).ConfigureAwait(false);
            if (_placesByLabel) PlaceOn(await _backend.Agents.ListAsync(CancellationToken.None).ConfigureAwait(false));
            foreach (var task in _tasks.Values.Where(t => t.UnfinishedNeeds == 0).ToList()) Start(task);

            DateTimeOffset? giveUpAt = null;
            while (true)
            {
                await DispatchReadyAsync().ConfigureAwait(false);
                if (_stopReason is null ? _unfinishedTasks == 0 : _running.Count == 0 && _waitingForLocks == 0) break;

                Event next;
                if (giveUpAt is { } deadline)
                {
                    var remaining = deadline - _time.GetUtcNow();
                    if (remaining <= TimeSpan.Zero) break;
                    using var wait = new CancellationTokenSource(remaining, _time);
                    try { next = await _events.Reader.ReadAsync(wait.Token).ConfigureAwait(false); }
                    catch (OperationCanceledException) { break; }
                }
                else if (!_events.Reader.TryRead(out next!))
                {
                    // Idle with unsaved changes: save them once the flush interval is up, even if no event comes.
                    var flushIn = _lastFlush + _flushInterval - _time.GetUtcNow();
                    if (!_unsaved)
                    {
                        next = await _events.Reader.ReadAsync(CancellationToken.None).ConfigureAwait(false);
                    }
                    else
                    {
                        using var wait = new CancellationTokenSource(flushIn > TimeSpan.Zero ? flushIn : TimeSpan.Zero, _time);
                        try { next = await _events.Reader.ReadAsync(wait.Token).ConfigureAwait(false); }
                        catch (OperationCanceledException) { await FlushAsync(RunStatus.Running).ConfigureAwait(false); continue; }
                    }
                }

                do
                {
                    await HandleAsync(next).ConfigureAwait(false);
                    if (_stopReason is not null && giveUpAt is null) giveUpAt = _time.GetUtcNow() + _settings.CancelGrace;
                } while (_events.Reader.TryRead(out next!));
                _unsaved = true;

                if (_time.GetUtcNow() - _lastFlush >= _flushInterval) await FlushAsync(RunStatus.Running).ConfigureAwait(false);
            }

            // Attempts that did not answer within the grace period are recorded as cancelled.
            foreach (var instance in _running) _revoked.Add(instance.CurrentBatch!.Value);
            foreach (var instance in _running.ToList())
            {
                await ReleaseLeaseAsync(instance).ConfigureAwait(false);
                Complete(instance, InstanceStatus.Cancelled, "did not stop within the cancel grace period");
            }

            var unfetched = _files is null ? [] : await _files.DrainAsync().ConfigureAwait(false);
            foreach (var problem in unfetched) _observer.Warning(problem.Message);
            var status = _stopReason ?? (unfetched.Any(p => p.FailsRun) || _tasks.Values.Any(t => t.Status is InstanceStatus.Failed or InstanceStatus.Cancelled) ? RunStatus.Failed : RunStatus.Succeeded);
            var record = await FlushAsync(status).ConfigureAwait(false);
            if (_settings.LostAgentCheckInterval is not null) await ForgetClaimsAsync().ConfigureAwait(false);
            // Everything a succeeded run made is here now; a failed one keeps its files for --resume.
            if (_files is not null && status == RunStatus.Succeeded) await _files.ForgetRunAsync(_settings.RunId, CancellationToken.None).ConfigureAwait(false);
            await pumpStop.CancelAsync().ConfigureAwait(false);
            try { await pump.ConfigureAwait(false); } catch (OperationCanceledException) { }
            await _stopping.CancelAsync().ConfigureAwait(false);

            var latencies = _instances.Values
                .Where(i => i.DoneAt is not null && i.DispatchedAt is not null) // ran in this run, not reused
                .Select(i => i.DoneAt!.Value - i.ReadyAt)
                .ToList();
            var serviceTimes = _instances.Values
                .Where(i => i.DoneAt is not null && i.DispatchedAt is not null)
                .Select(i => i.DoneAt!.Value - i.DispatchedAt!.Value)
                .ToList();
            return new RunReport(_settings.RunId, status, record, _settings.RunDirectory, _time.GetUtcNow() - _startedAt, LatencySummary.From(latencies))
            {
                DispatchLatency = LatencySummary.From(serviceTimes),
            };
        }

        private async Task PumpResultsAsync(IMessageSubscription<ResultBatch> results, CancellationToken cancellationToken)
        {
            try
            {
                while (!cancellationToken.IsCancellationRequested)
                {
                    var batch = await results.ReadBatchAsync(64, cancellationToken).ConfigureAwait(false);
                    foreach (var delivery in batch.Deliveries)
                    {
                        foreach (var result in delivery.Message.Results) _events.Writer.TryWrite(new ResultArrived(result));
                    }
                    await batch.AckAsync().ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // The loop must hear of it: without results the run would wait for ever.
                _events.Writer.TryWrite(new PumpFailed(ex));
            }
        }

        private async ValueTask HandleAsync(Event e)
        {
            switch (e)
            {
                case ResultArrived { Result: var result }:
                    await OnResultAsync(result).ConfigureAwait(false);
                    break;
                case RetryDue { Instance: var instance }:
                    if (_stopReason is null) Enqueue(instance);
                    break;
                case LocksGranted { Instance: var instance, Lease: var lease }:
                    _waitingForLocks--;
                    if (_stopReason is not null)
                    {
                        await _backend.Locks.ReleaseAsync(lease.LeaseId, CancellationToken.None).ConfigureAwait(false);
                        SetStatus(instance, InstanceStatus.Pending);
                        break;
                    }
                    instance.Lease = lease;
                    _leased.Add(instance);
                    _ready.Enqueue(instance);
                    break;
                case LocksFailed { Instance: var instance, Error: var error }:
                    _waitingForLocks--;
                    if (error is null) SetStatus(instance, InstanceStatus.Pending); // cancelled while waiting: resumable
                    else Complete(instance, InstanceStatus.Failed, $"could not take resources: {error.Message}");
                    break;
                case RenewLeases:
                    await RenewLeasesAsync().ConfigureAwait(false);
                    break;
                case CheckAgents:
                    await CheckAgentsAsync().ConfigureAwait(false);
                    break;
                case PumpFailed { Error: var error }:
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
                    break;
                case StopRequested { Reason: var reason }:
                    await StopAsync(reason).ConfigureAwait(false);
                    break;
            }
        }

        private void Start(TaskNode task)
        {
            task.Expanded = true;
            task.Status = InstanceStatus.Running;
            _taskRecords[task.Id].Status = task.Status;
            task.Scope = new TemplateScope { Params = _scopeParams, Tasks = new AncestorViews(task, id => _tasks[id], TaskView) };
            if (_files is not null) task.UpstreamFiles = UpstreamFiles(task);
            IReadOnlyList<object?> items;
            try
            {
                items = task.Definition.IsFanOut ? _renderer.ExpandForEach(task.Definition, task.Scope) : [null];
            }
            catch (TemplateRenderException ex)
            {
                var failed = AddInstance(task, task.Id, null, null);
                _progress.AddKnown(1);
                _observer.TaskStarted(task.Id, 1);
                Complete(failed, InstanceStatus.Failed, $"{ex.Location}: for_each: {ex.Message}");
                return;
            }

            for (var i = 0; i < items.Count; i++)
            {
                AddInstance(task, task.Definition.IsFanOut ? $"{task.Id}[{i}]" : task.Id, task.Definition.IsFanOut ? i : null, items[i]);
            }
            task.Unfinished = task.Instances.Count;
            _progress.AddKnown(task.Instances.Count);
            _observer.TaskStarted(task.Id, task.Instances.Count);
            if (task.Instances.Count == 0)
            {
                FinishTask(task, InstanceStatus.Succeeded);
                return;
            }
            foreach (var instance in task.Instances.ToList()) Prepare(instance);
        }

        private InstanceNode AddInstance(TaskNode task, string key, int? index, object? item)
        {
            var instance = new InstanceNode(task, key, index, item) { ReadyAt = _time.GetUtcNow() };
            instance.Record = new InstanceRecord { Key = key, Index = index, Status = InstanceStatus.Pending, Attempts = instance.Attempts };
            _taskRecords[task.Id].Instances.Add(instance.Record);
            task.Instances.Add(instance);
            task.Unfinished = task.Instances.Count;
            _instances[key] = instance;
            return instance;
        }

        /// <summary>Renders an instance's templates once, then skips it, reuses an earlier result, or queues it.</summary>
        private void Prepare(InstanceNode instance)
        {
            var definition = instance.Task.Definition;
            var scope = InstanceScope(instance);
            try
            {
                if (!_renderer.ShouldRun(definition, scope))
                {
                    Complete(instance, InstanceStatus.Skipped, null);
                    return;
                }
                instance.Body = _renderer.RenderBody(definition, scope);
                var directory = _renderer.RenderWorkingDirectory(definition, scope);
                var local = directory is null ? _settings.WorkingDirectory : Path.GetFullPath(directory, _settings.WorkingDirectory);
                // With files shipped, tasks run in workspaces: the working directory's place in the
                // run's, not where that is on this machine, is what the agent gets and what decides what an attempt does.
                instance.WorkingDirectory = _files is null ? local : WorkspacePath(local);
                instance.Locks = _renderer.RenderLocks(definition, scope);
                if (instance.WorkingDirectory is null)
                {
                    Complete(instance, InstanceStatus.Failed, $"{definition.Location}: working_directory '{local}' is outside the run's working directory "
                        + $"'{_settings.WorkingDirectory}'; agents that do not share this machine's files run tasks in a copy of the run's working directory only (or run with --shared-fs)");
                    return;
                }
                instance.Record.Fingerprint = TaskRenderer.Fingerprint(instance.Body, instance.WorkingDirectory);
            }
            catch (TemplateRenderException ex)
            {
                Complete(instance, InstanceStatus.Failed, $"{ex.Location}: {ex.Message}");
                return;
            }

            if (_previous.TryGetValue(instance.Key, out var earlier)
                && earlier.Status == InstanceStatus.Succeeded
                && earlier.Fingerprint == instance.Record.Fingerprint)
            {
                instance.Outputs = earlier.Outputs ?? [];
                instance.Record.Outputs = earlier.Outputs;
                instance.Record.Reused = true;
                instance.Record.Files = earlier.Files;
                instance.Files = earlier.Files ?? [];
                if (earlier.Files is { } files) _files?.FetchBack(files, reused: true);
                instance.Attempts.AddRange(earlier.Attempts);
                Complete(instance, InstanceStatus.Succeeded, null);
                return;
            }
            if (earlier is not null)
            {
                // Rerun on resume: keep the earlier attempts (and their logs) and number on from them.
                instance.Attempts.AddRange(earlier.Attempts);
                instance.PriorAttempts = earlier.Attempts.Count == 0 ? 0 : earlier.Attempts.Max(a => a.Number);
            }
            Enqueue(instance);
        }

        private void Enqueue(InstanceNode instance)
        {
            if (instance.Locks.Count == 0)
            {
                _ready.Enqueue(instance);
                return;
            }
            SetStatus(instance, InstanceStatus.Waiting);
            _waitingForLocks++;
            var requests = instance.Locks.Select(name => new LockRequest(name, CapacityOf(name))).ToList();
            _ = AcquireAsync(instance, requests);
        }

        private async Task AcquireAsync(InstanceNode instance, List<LockRequest> requests)
        {
            try
            {
                var lease = await _backend.Locks.AcquireAsync(requests, $"{_settings.RunId.Value}/{instance.Key}", _settings.LeaseTime, _stopping.Token).ConfigureAwait(false);
                _events.Writer.TryWrite(new LocksGranted(instance, lease));
            }
            catch (OperationCanceledException)
            {
                _events.Writer.TryWrite(new LocksFailed(instance, null));
            }
            catch (Exception ex)
            {
                _events.Writer.TryWrite(new LocksFailed(instance, ex));
            }
        }

        private int CapacityOf(string lockName)
        {
            var colon = lockName.IndexOf(':', StringComparison.Ordinal);
            var resource = colon < 0 ? lockName : lockName[..colon];
            return _pipeline.FindResource(resource)?.Capacity ?? 1;
        }

        private async ValueTask DispatchReadyAsync()
        {
            // Batches for one topic are published together after the loop: one round trip for the whole window where the bus can.
            List<TaskBatch>? outgoing = null;
            string? outgoingTopic = null;
            while (_stopReason is null && _ready.TryPeek(out var head))
            {
                var room = _settings.DispatchWindow - _running.Count;
                if (room <= 0) break;
                // A short task waits for room for a whole batch while others run: a message with
                // one attempt costs the agent and the bus about as much as one with several.
                var size = Math.Min(BatchSizeFor(head), _ready.Count);
                if (size > room && _running.Count > 0) break;
                if (TopicFor(head.Task.Definition) is not { } topic)
                {
                    var definition = head.Task.Definition;
                    _ready.Dequeue();
                    await ReleaseLeaseAsync(head).ConfigureAwait(false);
                    Complete(head, InstanceStatus.Failed, $"no live agent has the labels {string.Join(", ", definition.Labels)}{(definition.Slots > 1 ? $" and {definition.Slots} slots" : "")} any more");
                    continue;
                }
                var id = BatchId.New();
                var take = Math.Min(size, room);
                var attempts = new List<TaskDispatch>(take);
                while (attempts.Count < take && _ready.TryPeek(out var next) && next.Task == head.Task && (attempts.Count == 0 || BatchSizeFor(next) > 1))
                {
                    _ready.Dequeue();
                    attempts.Add(Dispatch(next, id));
                }
                if (outgoingTopic is not null && outgoingTopic != topic) await _backend.Bus.PublishBatchAsync(outgoingTopic, outgoing!, CancellationToken.None).ConfigureAwait(false);
                if (outgoingTopic != topic) (outgoing, outgoingTopic) = ([], topic);
                outgoing!.Add(new TaskBatch { Id = id, RunId = _settings.RunId, Attempts = attempts });
            }
            if (outgoingTopic is not null) await _backend.Bus.PublishBatchAsync(outgoingTopic, outgoing!, CancellationToken.None).ConfigureAwait(false);
        }

        /// <summary>
        /// How many attempts of <paramref name="instance"/>'s task may go to an agent in one message:
        /// several only for tasks seen to be short that hold no resources and take one slot, so
        /// an agent never sits on work another could start (at worst a batch's few milliseconds).
        /// </summary>
        private int BatchSizeFor(InstanceNode instance) =>
            instance.Lease is null && instance.Locks.Count == 0 && instance.Task.Definition.Slots == 1 && instance.Task.RunsShorterThan(ShortAttempt)
                ? Math.Max(1, _settings.DispatchWindow / 4)
                : 1;

        /// <summary>Attempts of a task that take less than this on average travel in batches.</summary>
        private static readonly TimeSpan ShortAttempt = TimeSpan.FromMilliseconds(10);

        /// <summary>Starts the next attempt of <paramref name="instance"/>: records it as running and says what to run.</summary>
        private TaskDispatch Dispatch(InstanceNode instance, BatchId batch)
        {
            instance.Attempt++;
            var number = instance.PriorAttempts + instance.Attempt;
            var attemptId = AttemptId.New();
            instance.CurrentAttempt = attemptId;
            instance.CurrentBatch = batch;
            // One log directory per task, not per instance: creating a directory per item costs
            // as much as the log file itself on a large fan-out of short tasks.
            var attemptLog = instance.Index is { } index
                ? $"logs/{instance.Task.Id}/{index.ToString(System.Globalization.CultureInfo.InvariantCulture)}.attempt-{number}.log"
                : $"logs/{instance.Task.Id}/attempt-{number}.log";
            var logPath = $"{_settings.RunDirectory}/{attemptLog}";
            var artifacts = $"{_settings.RunDirectory}/artifacts/{InstanceDirectory(instance)}";
            var dispatch = new TaskDispatch
            {
                RunId = _settings.RunId,
                InstanceKey = instance.Key,
                TaskId = instance.Task.Id,
                Attempt = number,
                AttemptId = attemptId,
                Body = instance.Body!,
                Timeout = instance.Task.Definition.Timeout,
                LogPath = logPath,
                ArtifactDirectory = _files is null ? artifacts : WorkspacePath(artifacts)!,
                WorkingDirectory = instance.WorkingDirectory!,
                Files = _files is null ? null : new TaskFiles
                {
                    Inputs = _files.InputsFor(instance.Body!, instance.Task.UpstreamFiles),
                    SaveAs = $"runs/{_settings.RunId.Value}/files/{attemptId.Value}",
                    LogAs = $"runs/{_settings.RunId.Value}/logs/{attemptId.Value}",
                },
                Locks = instance.Lease?.Grants ?? [],
                LeaseId = instance.Lease?.LeaseId,
                Slots = instance.Task.Definition.Slots,
            };
            instance.Attempts.Add(new AttemptRecord
            {
                Number = number,
                Id = attemptId.Value,
                Log = attemptLog,
                StartedAt = _time.GetUtcNow(),
            });
            SetStatus(instance, InstanceStatus.Running);
            instance.DispatchedAt = _time.GetUtcNow();
            _running.Add(instance);
            _observer.AttemptStarted(instance.Key, number);
            return dispatch;
        }

        /// <summary>
        /// A local path as the agents' workspaces know it: relative to the run's working directory,
        /// or under <c>.orch/</c> for the run directory when that is elsewhere (files come back
        /// there); null for a path outside both.
        /// </summary>
        private string? WorkspacePath(string local) =>
            FileShipping.PathInside(_settings.WorkingDirectory, local)
            ?? (FileShipping.PathInside(_settings.RunDirectory, local) is { } inRun ? $".orch/runs/{_settings.RunId.Value}/{inRun}" : null);

        /// <summary>Where an instance's artifacts go, relative to the run's <c>artifacts/</c>: <c>count/3</c> or <c>merge</c>.</summary>
        private static string InstanceDirectory(InstanceNode instance) =>
            instance.Index is { } index ? $"{instance.Task.Id}/{index.ToString(System.Globalization.CultureInfo.InvariantCulture)}" : instance.Task.Id;

        private async ValueTask OnResultAsync(TaskResult result)
        {
            // A result for an attempt we no longer wait for (a duplicate, or a late answer after a
            // retry was dispatched) must not overwrite the current one.
            if (!_instances.TryGetValue(result.InstanceKey, out var instance) || instance.CurrentAttempt != result.AttemptId || !_running.Remove(instance))
                return;

            await ReleaseLeaseAsync(instance).ConfigureAwait(false);

            var attempt = instance.Attempts[^1];
            attempt.Status = StatusNames[(int)result.Status];
            attempt.ExitCode = result.ExitCode;
            attempt.Error = result.Error;
            attempt.Agent = result.AgentId.Value;
            attempt.StartedAt = result.StartedAt;
            attempt.FinishedAt = result.FinishedAt;
            instance.Task.Timed(result.FinishedAt - result.StartedAt);
            if (_files is not null && result.Log is { } log) _files.FetchLog(log, $"{_settings.RunDirectory}/{attempt.Log}");

            if (result.HandedBack && _stopReason is null)
            {
                RunElsewhere(instance, result);
                return;
            }

            if (result.Status == AttemptStatus.Succeeded)
            {
                instance.Outputs = result.Outputs;
                if (_files is not null && result.Files.Count > 0)
                {
                    instance.Files = result.Files;
                    instance.Record.Files = [.. result.Files];
                    _files.FetchBack(result.Files);
                }
                instance.Record.Outputs = result.Outputs.Count == 0 ? null
                    : result.Outputs as Dictionary<string, object?> ?? new Dictionary<string, object?>(result.Outputs);
                _observer.AttemptFinished(instance.Key, result, false, null);
                Complete(instance, InstanceStatus.Succeeded, null);
                return;
            }

            var retry = instance.Task.Definition.Retry;
            var tries = instance.Attempt - instance.LostAttempts;
            if (_stopReason is null && result.Retryable && result.Status != AttemptStatus.Cancelled && tries < retry.Attempts)
            {
                var delay = Backoff.Delay(retry, tries + 1, _random);
                _observer.AttemptFinished(instance.Key, result, true, delay);
                SetStatus(instance, InstanceStatus.Pending);
                if (delay <= TimeSpan.Zero) Enqueue(instance);
                else _ = RetryLaterAsync(instance, delay);
                return;
            }

            _observer.AttemptFinished(instance.Key, result, false, null);
            if (_stopReason is not null && result.Status == AttemptStatus.Cancelled)
            {
                Complete(instance, InstanceStatus.Cancelled, result.Error ?? "cancelled");
                return;
            }
            Complete(instance, InstanceStatus.Failed, result.Error ?? $"attempt {result.Status.ToString().ToLowerInvariant()}");
        }

        private async ValueTask ReleaseLeaseAsync(InstanceNode instance)
        {
            if (instance.Lease is not { } lease) return;
            instance.Lease = null;
            _leased.Remove(instance);
            await _backend.Locks.ReleaseAsync(lease.LeaseId, CancellationToken.None).ConfigureAwait(false);
        }

        /// <summary>
        /// Keeps the leases of instances that hold resources but may not have started yet (queued
        /// for a slot, or waiting in an agent's queue); agents renew them too once the task runs.
        /// </summary>
        private async ValueTask RenewLeasesAsync()
        {
            foreach (var instance in _leased)
            {
                if (instance.Lease is { } lease && !await _backend.Locks.RenewAsync(lease.LeaseId, _settings.LeaseTime, CancellationToken.None).ConfigureAwait(false))
                    _observer.Warning($"{instance.Key}: the lease on {string.Join(", ", instance.Locks)} expired before it could be renewed");
            }
        }

        private async Task RetryLaterAsync(InstanceNode instance, TimeSpan delay)
        {
            try
            {
                await Task.Delay(delay, _time, _stopping.Token).ConfigureAwait(false);
                _events.Writer.TryWrite(new RetryDue(instance));
            }
            catch (OperationCanceledException)
            {
                // The run is stopping; the instance stays pending and a resumed run takes it up.
            }
        }

        private void Complete(InstanceNode instance, InstanceStatus status, string? error)
        {
            _running.Remove(instance);
            SetStatus(instance, status);
            instance.Record.Error = error;
            instance.DoneAt = _time.GetUtcNow();
            var task = instance.Task;
            task.Unfinished--;
            if (task.Unfinished == 0)
            {
                var taskStatus = task.Instances.Any(i => i.Status is InstanceStatus.Failed or InstanceStatus.Cancelled) ? InstanceStatus.Failed
                    : task.Instances.All(i => i.Status == InstanceStatus.Skipped) ? InstanceStatus.Skipped
                    : InstanceStatus.Succeeded;
                FinishTask(task, taskStatus);
            }
        }

        private void SetStatus(InstanceNode instance, InstanceStatus status)
        {
            _progress.Move(instance.Status, status);
            instance.Status = status;
            instance.Record.Status = status;
        }

        private void FinishTask(TaskNode task, InstanceStatus status)
        {
            task.Status = status;
            _taskRecords[task.Id].Status = status;
            _unfinishedTasks--;
            _observer.TaskFinished(task.Id, status);
            foreach (var dependent in task.Dependents)
            {
                if (dependent.Expanded || dependent.Status != InstanceStatus.Pending) continue;
                if (!status.LetsDependentsRun())
                {
                    // After a cancel, dependents stay pending: a resumed run decides about them.
                    if (_stopReason is null) MarkUpstreamFailed(dependent);
                    continue;
                }
                dependent.UnfinishedNeeds--;
                if (dependent.UnfinishedNeeds == 0 && _stopReason is null) Start(dependent);
            }
        }

        private void MarkUpstreamFailed(TaskNode task)
        {
            if (task.Status != InstanceStatus.Pending) return;
            task.Status = InstanceStatus.UpstreamFailed;
            _taskRecords[task.Id].Status = task.Status;
            _unfinishedTasks--;
            _observer.TaskFinished(task.Id, task.Status);
            foreach (var dependent in task.Dependents) MarkUpstreamFailed(dependent);
        }

        private async ValueTask StopAsync(RunStatus reason)
        {
            if (_stopReason is not null) return;
            _stopReason = reason;
            _observer.Warning(reason == RunStatus.TimedOut ? "run timed out: stopping running tasks" : "cancelling: stopping running tasks");
            await _stopping.CancelAsync().ConfigureAwait(false);
            while (_ready.TryDequeue(out var queued))
            {
                await ReleaseLeaseAsync(queued).ConfigureAwait(false);
                SetStatus(queued, InstanceStatus.Pending);
            }
            // First, so that no agent takes one of them while it stops the others.
            if (_settings.LostAgentCheckInterval is not null) await EndUntakenAttemptsAsync().ConfigureAwait(false);
            foreach (var instance in _running)
            {
                var message = new CancelAttempt(_settings.RunId, instance.CurrentAttempt!.Value, reason == RunStatus.TimedOut ? "run timed out" : "run cancelled");
                await _backend.Bus.PublishAsync(Topics.Control, message, CancellationToken.None).ConfigureAwait(false);
            }
        }

        private static TemplateScope InstanceScope(InstanceNode instance) =>
            instance.Task.Definition.IsFanOut
                ? new TemplateScope { Params = instance.Task.Scope!.Params, Tasks = instance.Task.Scope.Tasks, HasItem = true, Item = instance.Item, Index = instance.Index ?? 0 }
                : instance.Task.Scope!;

        /// <summary>
        /// The files made by every task this one needs, directly or through others, each once. Made
        /// from the needs' own lists (they started first), farther tasks' files before nearer ones',
        /// so that where two made the same path, the nearer one's file is the one sent.
        /// </summary>
        private List<Orch.Protocol.RunFile> UpstreamFiles(TaskNode task)
        {
            var files = new List<Orch.Protocol.RunFile>();
            var seen = new HashSet<Orch.Protocol.RunFile>();
            foreach (var need in task.Definition.Needs.Select(id => _tasks[id]))
            {
                foreach (var file in need.UpstreamFiles.Concat(need.Instances.SelectMany(i => i.Files)))
                {
                    if (seen.Add(file)) files.Add(file);
                }
            }
            return files;
        }

        /// <summary>
        /// What <c>tasks.ID</c> shows a template: a fan-out's outputs are a list in item order. Made
        /// once the task has finished, when a template first reads it.
        /// </summary>
        private static Dictionary<string, object?> TaskView(TaskNode task) => task.View ??= new(StringComparer.Ordinal)
        {
            ["status"] = task.Status.ToDisplay(),
            ["outputs"] = task.Definition.IsFanOut
                ? task.Instances.Select(i => (object?)i.Outputs).ToList()
                : task.Instances.Count > 0 ? task.Instances[0].Outputs : new Dictionary<string, object?>(),
        };

        private async ValueTask<RunRecord> FlushAsync(RunStatus status)
        {
            var started = _time.GetUtcNow();
            var record = _record;
            record.Status = status;
            record.FinishedAt = status == RunStatus.Running ? null : started;
            await _records.SaveAsync(record, CancellationToken.None).ConfigureAwait(false);
            var now = _time.GetUtcNow();
            _lastFlush = now;
            _unsaved = false;
            // Keep snapshot writing to a small share of the loop's time on very large runs. The first
            // save pays for warming up (serialiser, connection) and says nothing about the record's size.
            if (_saves++ > 0) _flushInterval = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(250).Ticks, (now - started).Ticks * 10));
            return record;
        }
    }
}
