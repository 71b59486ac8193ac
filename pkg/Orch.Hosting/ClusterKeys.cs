using Orch.Coordination.Signing;

namespace Orch.Hosting;

/// <summary>
/// Where processes find the cluster key: a key file named on the command line (or in settings),
/// else the <see cref="EnvironmentVariable"/> holding the key text. Shared backends need one,
/// so that write access to the broker alone cannot get a task run; the embedded default does not.
/// </summary>
public static class ClusterKeys
{
    /// <summary>Holds the key text itself (base64 or hex), for where a file is awkward.</summary>
    public const string EnvironmentVariable = "ORCH_CLUSTER_KEY";

    /// <summary>
    /// Loads the key from <paramref name="file"/> when given, else from the environment variable's
    /// value <paramref name="environmentValue"/>. Null with no problem when neither is set; a
    /// problem (naming the file or the variable, never the key) when the one given is not a key.
    /// </summary>
    public static string? TryLoad(string? file, string? environmentValue, out ClusterKey? key)
    {
        key = null;
        if (!string.IsNullOrWhiteSpace(file))
        {
            try
            {
                key = ClusterKey.FromFile(file);
                return null;
            }
            catch (FormatException ex)
            {
                return ex.Message;
            }
        }
        if (string.IsNullOrWhiteSpace(environmentValue)) return null;
        return ClusterKey.TryParse(environmentValue, out key, out var problem) ? null : $"{EnvironmentVariable}: {problem}";
    }

    /// <summary>Loads the key from <paramref name="file"/> or the process's <see cref="EnvironmentVariable"/>.</summary>
    public static string? TryLoad(string? file, out ClusterKey? key) =>
        TryLoad(file, Environment.GetEnvironmentVariable(EnvironmentVariable), out key);

    /// <summary>What to say when a shared backend is used without a key.</summary>
    /// <param name="fileOption">How this program names its key file option.</param>
    /// <param name="insecureOption">How this program names its opt-out.</param>
    public static string Missing(string fileOption, string insecureOption) =>
        $"a shared backend needs the cluster key its agents and runs share: set {fileOption} or {EnvironmentVariable}; " +
        $"{ClusterKey.CreateHint} (or give {insecureOption} to run without authenticating tasks)";

    /// <summary>What to say when both a key and the opt-out are given.</summary>
    public static string Contradiction(string insecureOption) =>
        $"{insecureOption} turns message signing off, but a cluster key is set too; drop one of them";
}
