namespace Orch.Agents.Shell;

/// <summary>Maps a step's <c>shell:</c> setting to the argv that runs a script.</summary>
public static class ShellArgv
{
    private static readonly char[] Whitespace = [' ', '\t', '\r', '\n', '\f', '\v'];

    /// <summary>
    /// <c>null</c> or <c>"sh"</c> gives <c>["/bin/sh", "-e", "-c", script]</c>; <c>"bash"</c> gives
    /// <c>["bash", "-eo", "pipefail", "-c", script]</c>; anything else is split on whitespace and followed
    /// by <c>"-c"</c> and the script.
    /// </summary>
    public static IReadOnlyList<string> For(string? shell, string script)
    {
        ArgumentNullException.ThrowIfNull(script);
        if (shell is null || shell == "sh")
        {
            return ["/bin/sh", "-e", "-c", script];
        }

        if (shell == "bash")
        {
            return ["bash", "-eo", "pipefail", "-c", script];
        }

        var parts = shell.Split(Whitespace, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            throw new ArgumentException("The shell must not be empty or whitespace.", nameof(shell));
        }

        var argv = new string[parts.Length + 2];
        parts.CopyTo(argv, 0);
        argv[^2] = "-c";
        argv[^1] = script;
        return argv;
    }
}
