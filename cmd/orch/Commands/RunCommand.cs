using System.ComponentModel;
using System.Globalization;
using Orch.Cli.Rendering;
using Orch.Engine;
using Orch.Hosting;
using Orch.Pipeline.Model;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Orch.Cli.Commands;

/// <summary><c>orch run FILE</c>: runs a pipeline and reports how it went.</summary>
public sealed class RunCommand : AsyncCommand<RunCommand.Settings>
{
    public sealed class Settings : PipelineSettings
    {
        [CommandOption("-p|--param <KEY=VALUE>")]
        [Description("Set a pipeline parameter; repeat for several.")]
        public string[] Params { get; init; } = [];

        [CommandOption("--resume <RUN_ID>")]
        [Description("Resume an earlier run ('last' for the newest run of this pipeline): only what did not succeed runs again.")]
        public string? Resume { get; init; }

        [CommandOption("--junit <FILE>")]
        [Description("Write a JUnit XML report (one testcase per task instance).")]
        public string? JUnit { get; init; }

        [CommandOption("--json")]
        [Description("Print the run summary as JSON on stdout; progress goes to stderr.")]
        public bool Json { get; init; }

        [CommandOption("--max-parallel <N>")]
        [Description("Most tasks running at once (default: number of processors).")]
        public int? MaxParallel { get; init; }

        [CommandOption("--timeout <DURATION>")]
        [Description("Stop the run after this long (e.g. 30m); exit code 124. Overrides the pipeline's timeout.")]
        public string? Timeout { get; init; }

        [CommandOption("--backend <ADDRESS>")]
        [Description("Where tasks run: 'embedded' (default, agents in this process), or orch-agent processes through redis://HOST:PORT, dapr or dapr://HOST:PORT?...")]
        public string? Backend { get; init; }

        [CommandOption("--backend-wait <DURATION>")]
        [Description("How long to wait for a remote backend that becomes unreachable mid-run (default 5m); then exit 31.")]
        public string? BackendWait { get; init; }

        [CommandOption("--shared-fs")]
        [Description("With a shared --backend: the agents see this machine's files at the same paths, so tasks run in place and no files are sent through the backend.")]
        public bool SharedFileSystem { get; init; }

        [CommandOption("--cluster-key-file <PATH>")]
        [Description("With a shared --backend: the file holding the cluster key that signs tasks (the agents' key). Default: the key text in $ORCH_CLUSTER_KEY.")]
        public string? ClusterKeyFile { get; init; }

        [CommandOption("--insecure")]
        [Description("With a shared --backend: run without a cluster key; only agents started with Agent:Insecure=true take the tasks.")]
        public bool Insecure { get; init; }

        /// <summary>The key <see cref="Validate"/> loaded; null on the embedded default and with --insecure.</summary>
        internal Orch.Coordination.Signing.ClusterKey? ClusterKey { get; private set; }

        [CommandOption("--plain")]
        [Description("Plain timestamped progress lines even on a terminal (the default without one).")]
        public bool Plain { get; init; }

        public override ValidationResult Validate()
        {
            foreach (var p in Params)
            {
                if (p.IndexOf('=', StringComparison.Ordinal) <= 0) return ValidationResult.Error($"-p expects KEY=VALUE, got '{p}'");
            }
            if (BackendAddress.Problem(Backend) is { } backendProblem) return ValidationResult.Error(backendProblem);
            if (ClusterKeyProblem() is { } keyProblem) return ValidationResult.Error(keyProblem);
            if (MaxParallel is < 1) return ValidationResult.Error("--max-parallel must be 1 or more");
            if (Timeout is not null && !Duration.TryParse(Timeout, out _)) return ValidationResult.Error($"--timeout: '{Timeout}' is not a duration (use e.g. 500ms, 30s, 5m, 1h30m)");
            if (BackendWait is not null && !Duration.TryParse(BackendWait, out _)) return ValidationResult.Error($"--backend-wait: '{BackendWait}' is not a duration (use e.g. 30s, 5m)");
            return ValidationResult.Success();
        }

        private string? ClusterKeyProblem()
        {
            var remote = !BackendAddress.IsEmbedded(Backend);
            // On the embedded default a key file is still checked (it was asked for), the variable is not.
            if (!remote) return ClusterKeyFile is null ? null : ClusterKeys.TryLoad(ClusterKeyFile, null, out _) is { } p ? $"--cluster-key-file: {p}" : null;
            if (ClusterKeys.TryLoad(ClusterKeyFile, out var key) is { } problem) return ClusterKeyFile is null ? problem : $"--cluster-key-file: {problem}";
            if (Insecure && key is not null) return ClusterKeys.Contradiction("--insecure");
            if (!Insecure && key is null) return ClusterKeys.Missing("--cluster-key-file PATH", "--insecure");
            ClusterKey = key;
            return null;
        }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var request = new RunRequest
        {
            PipelineFile = settings.File,
            Params = settings.Params.Select(p => new KeyValuePair<string, string>(p[..p.IndexOf('=', StringComparison.Ordinal)], p[(p.IndexOf('=', StringComparison.Ordinal) + 1)..])).ToList(),
            Resume = settings.Resume,
            Backend = settings.Backend,
            MaxParallel = settings.MaxParallel,
            Timeout = settings.Timeout is null ? null : Duration.TryParse(settings.Timeout, out var t) ? t : null,
            ClusterKey = settings.ClusterKey,
            Insecure = settings.Insecure,
            SharedFileSystem = settings.SharedFileSystem,
        };
        if (settings.BackendWait is not null && Duration.TryParse(settings.BackendWait, out var wait)) request = request with { BackendWait = wait };
        if (settings.Insecure && !BackendAddress.IsEmbedded(settings.Backend))
            Console.Error.WriteLine("orch: warning: --insecure: tasks go to the agents unsigned, so anyone who can write to the backend can run commands on them");

        var human = settings.Json ? Console.Error : Console.Out;
        // Warnings (e.g. unquoted values in scripts) don't stop a run, but they are shown first.
        var load = RunService.Load(settings.File);
        if (load.Succeeded) DiagnosticsPrinter.Print(load.Diagnostics, load.SourceText);
        var live = !settings.Plain && !settings.Json && !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("CI") is null or "" or "false";
        var progress = new RunProgress();
        var tracker = new TaskProgress();
        IRunObserver observer = live ? new LiveProgressObserver(tracker) : new PlainProgressObserver(tracker, human, progress);

        RunOutcome outcome;
        if (live)
        {
            outcome = await LiveProgressObserver.ShowAsync(progress, tracker, token => new RunService(null, StderrLogger.Instance).RunAsync(load, request, observer, progress, token), cancellationToken);
        }
        else
        {
            using var ticker = ((PlainProgressObserver)observer).StartTicker();
            outcome = await new RunService(null, StderrLogger.Instance).RunAsync(load, request, observer, progress, cancellationToken);
        }

        switch (outcome)
        {
            case PipelineInvalid invalid:
                DiagnosticsPrinter.Print(invalid.Load.Diagnostics, invalid.Load.SourceText);
                return DiagnosticsPrinter.ExitCodeFor(invalid.Load.Diagnostics);
            case RequestInvalid bad:
                DiagnosticsPrinter.Print(bad.Diagnostics, bad.SourceText);
                return ExitCodes.ParamsInvalid;
            case BackendFailed failed:
                Console.Error.WriteLine($"orch: {failed.Message}");
                return ExitCodes.Infrastructure;
            case BackendLost lost:
                Console.Error.WriteLine($"orch: {lost.Message}");
                Console.Error.WriteLine($"orch: nothing unfinished was marked done; once the backend is back: orch run {settings.File} --backend {BackendAddress.Display(settings.Backend)} --resume {lost.RunId.Value}");
                return ExitCodes.BackendLost;
            case RunCompleted { Report: var report }:
                RunSummary.Print(report, human);
                if (settings.JUnit is { } junit) JUnitReport.Write(report, junit);
                if (settings.Json) Console.Out.WriteLine(RunSummary.ToJson(report));
                return report.Status switch
                {
                    RunStatus.Succeeded => ExitCodes.Success,
                    RunStatus.Cancelled => ExitCodes.Cancelled,
                    RunStatus.TimedOut => ExitCodes.TimedOut,
                    _ => ExitCodes.TaskFailed,
                };
            default:
                throw new InvalidOperationException($"unexpected outcome {outcome.GetType().Name}");
        }
    }
}
