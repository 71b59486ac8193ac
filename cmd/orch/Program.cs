using Orch.Cli;
using Orch.Cli.Commands;
using Spectre.Console.Cli;

using var interrupt = new CancellationTokenSource();
var interrupts = 0;
Console.CancelKeyPress += (_, e) =>
{
    // First Ctrl-C cancels the run gracefully (state is saved, the run can be resumed); a second one
    // exits at once, taking the tasks' process groups down too (they don't get the terminal's signal).
    if (Interlocked.Increment(ref interrupts) > 1)
    {
        Orch.Agents.Shell.ProcessGroupRunner.KillAll();
        return;
    }
    e.Cancel = true;
    interrupt.Cancel();
};
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    interrupt.Cancel();
});

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("orch");
    config.SetApplicationVersion(typeof(ExitCodes).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");
    config.PropagateExceptions();
    config.UseStrictParsing();
    config.CancellationExitCode(ExitCodes.Cancelled);
    config.AddCommand<RunCommand>("run")
        .WithDescription("Run a pipeline: on the embedded default (agents in this process), or on orch-agent processes through a shared --backend.")
        .WithExample("run", "pipelines/wordcount.yml", "-p", "input=examples/wordcount/corpus", "-p", "output=out/wordcount.json")
        .WithExample("run", "pipelines/wordcount.yml", "--resume", "last");
    config.AddCommand<ValidateCommand>("validate")
        .WithDescription("Check a pipeline file and report every problem at once.")
        .WithExample("validate", "pipelines/wordcount.yml");
    config.AddCommand<AgentsCommand>("agents")
        .WithDescription("List the live agents of a shared backend: slots, running tasks, heartbeat age.")
        .WithExample("agents", "--backend", "redis://127.0.0.1:6379");
    config.AddCommand<LocksCommand>("locks")
        .WithDescription("List resources of a shared backend with their holders and waiters.")
        .WithExample("locks", "--backend", "redis://127.0.0.1:6379");
    config.AddCommand<GraphCommand>("graph")
        .WithDescription("Print a pipeline's task graph as Mermaid or Graphviz DOT.")
        .WithExample("graph", "pipelines/wordcount.yml", "--format", "dot");
});

try
{
    return await app.RunAsync(args, interrupt.Token);
}
catch (CommandParseException ex)
{
    Console.Error.WriteLine($"orch: {ex.Message}");
    Console.Error.WriteLine("Try 'orch --help'.");
    return ExitCodes.Usage;
}
catch (CommandRuntimeException ex)
{
    Console.Error.WriteLine($"orch: {ex.Message}");
    Console.Error.WriteLine("Try 'orch --help'.");
    return ExitCodes.Usage;
}
catch (IOException ex)
{
    Console.Error.WriteLine($"orch: {ex.Message}");
    return ExitCodes.Infrastructure;
}
catch (UnauthorizedAccessException ex)
{
    Console.Error.WriteLine($"orch: {ex.Message}");
    return ExitCodes.Infrastructure;
}
catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
{
    // Interrupted before a run began (connecting, waiting for agents): nothing to save or resume.
    Console.Error.WriteLine("orch: cancelled");
    return ExitCodes.Cancelled;
}
catch (Exception ex)
{
    Console.Error.WriteLine($"orch: internal error: {ex}");
    Console.Error.WriteLine("This is a bug in orch; please report it with the text above.");
    return ExitCodes.InternalError;
}
