using System.ComponentModel;
using Orch.Cli.Rendering;
using Orch.Hosting;
using Orch.Pipeline.Graph;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Orch.Cli.Commands;

/// <summary><c>orch graph FILE</c>: the task graph as Mermaid (default) or Graphviz DOT.</summary>
public sealed class GraphCommand : Command<GraphCommand.Settings>
{
    public sealed class Settings : PipelineSettings
    {
        [CommandOption("--format <FORMAT>")]
        [Description("mermaid (default) or dot.")]
        public string Format { get; init; } = "mermaid";

        public override ValidationResult Validate() =>
            Format is "mermaid" or "dot" ? ValidationResult.Success() : ValidationResult.Error($"--format must be 'mermaid' or 'dot', not '{Format}'");
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var load = RunService.Load(settings.File);
        if (!load.Succeeded)
        {
            DiagnosticsPrinter.Print(load.Diagnostics, load.SourceText);
            return DiagnosticsPrinter.ExitCodeFor(load.Diagnostics);
        }
        Console.Out.Write(settings.Format == "dot" ? PipelineGraph.ToDot(load.Pipeline!) : PipelineGraph.ToMermaid(load.Pipeline!));
        return ExitCodes.Success;
    }
}
