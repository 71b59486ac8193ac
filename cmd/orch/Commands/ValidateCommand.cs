using System.ComponentModel;
using Orch.Cli.Rendering;
using Orch.Hosting;
using Spectre.Console.Cli;

namespace Orch.Cli.Commands;

/// <summary><c>orch validate FILE</c>: reports every problem in a pipeline file, or says it is fine.</summary>
public sealed class ValidateCommand : Command<ValidateCommand.Settings>
{
    public sealed class Settings : PipelineSettings
    {
        [CommandOption("--json")]
        [Description("Print the diagnostics as JSON on stdout.")]
        public bool Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var load = RunService.Load(settings.File);
        if (settings.Json)
        {
            Console.Out.WriteLine(DiagnosticsPrinter.ToJson(load.Diagnostics));
        }
        else
        {
            DiagnosticsPrinter.Print(load.Diagnostics, load.SourceText);
            if (load.Succeeded) Console.Out.WriteLine($"{settings.File}: ok ({load.Pipeline!.Tasks.Count} {(load.Pipeline.Tasks.Count == 1 ? "task" : "tasks")})");
        }
        return load.Succeeded ? ExitCodes.Success : DiagnosticsPrinter.ExitCodeFor(load.Diagnostics);
    }
}
