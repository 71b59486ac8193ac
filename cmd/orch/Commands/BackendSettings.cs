using System.ComponentModel;
using Orch.Hosting;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Orch.Cli.Commands;

/// <summary>Settings of commands that look at a shared backend.</summary>
public class BackendSettings : CommandSettings
{
    [CommandOption("--backend <ADDRESS>")]
    [Description("The backend to look at: redis://HOST:PORT, dapr or dapr://HOST:PORT?...")]
    public string? Backend { get; init; }

    [CommandOption("--json")]
    [Description("Print JSON on stdout.")]
    public bool Json { get; init; }

    /// <summary>Connects to the backend; null (after saying why on stderr) when it cannot be reached.</summary>
    public async Task<Orch.Coordination.ICoordinationBackend?> ConnectAsync()
    {
        try
        {
            return await BackendAddress.ConnectAsync(Backend!);
        }
        catch (BackendUnavailableException ex)
        {
            Console.Error.WriteLine($"orch: {ex.Message}");
            return null;
        }
    }

    public override ValidationResult Validate()
    {
        if (BackendAddress.IsEmbedded(Backend))
            return ValidationResult.Error("--backend ADDRESS is required (redis://HOST:PORT, dapr): the embedded default has agents and locks only while a run is going on");
        return BackendAddress.Problem(Backend) is { } problem ? ValidationResult.Error(problem) : ValidationResult.Success();
    }
}
