namespace Orch.Agents.Shell;

/// <summary>The command could not be started (missing program, bad working directory, unwritable log, ...).</summary>
public sealed class ShellStartException : Exception
{
    public ShellStartException()
    {
    }

    public ShellStartException(string message)
        : base(message)
    {
    }

    public ShellStartException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public ShellStartException(string message, int errorNumber)
        : base(message)
    {
        ErrorNumber = errorNumber;
    }

    /// <summary>The errno value reported by the system, or 0 when not applicable.</summary>
    public int ErrorNumber { get; }
}
