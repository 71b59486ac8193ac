using System.ComponentModel;
using Spectre.Console.Cli;

namespace Orch.Cli.Commands;

/// <summary>Settings shared by commands that take a pipeline file.</summary>
public class PipelineSettings : CommandSettings
{
    [CommandArgument(0, "<FILE>")]
    [Description("The pipeline YAML file.")]
    public string File { get; init; } = "";
}
