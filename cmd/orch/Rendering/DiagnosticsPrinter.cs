using System.Text.Json;
using Orch.Pipeline.Diagnostics;

namespace Orch.Cli.Rendering;

/// <summary>Prints pipeline diagnostics for people (stderr) or machines (JSON), and maps them to exit codes.</summary>
public static class DiagnosticsPrinter
{
    public static void Print(IReadOnlyList<Diagnostic> diagnostics, string? sourceText)
    {
        if (diagnostics.Count == 0) return;
        Console.Error.Write(DiagnosticFormatter.FormatAll(diagnostics, sourceText));
        Console.Error.Flush();
    }

    public static string ToJson(IReadOnlyList<Diagnostic> diagnostics) =>
        JsonSerializer.Serialize(diagnostics.Select(d => new
        {
            code = d.Code,
            severity = d.Severity.ToString().ToLowerInvariant(),
            file = d.Location.File,
            line = d.Location.Line,
            column = d.Location.Column,
            message = d.Message,
            hint = d.Hint,
        }), new JsonSerializerOptions { WriteIndented = true });

    public static int ExitCodeFor(IReadOnlyList<Diagnostic> diagnostics)
    {
        var errors = diagnostics.Where(d => d.IsError).ToList();
        if (errors.Any(d => d.Code == DiagnosticCodes.FileNotFound)) return ExitCodes.PipelineNotFound;
        if (errors.Any(d => d.Code == DiagnosticCodes.Cycle)) return ExitCodes.PipelineCycle;
        if (errors.Count > 0 && errors.All(d => d.Code == DiagnosticCodes.BadParamOverride)) return ExitCodes.ParamsInvalid;
        return ExitCodes.PipelineInvalid;
    }
}
