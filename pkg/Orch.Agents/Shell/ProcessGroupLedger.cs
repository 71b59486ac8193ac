using System.Globalization;

namespace Orch.Agents.Shell;

/// <summary>
/// The process groups an agent has running, one small file each, so that the next agent to start
/// with the same work directory can stop what one that was killed (<c>kill -9</c>, a crash) left
/// running: no lost agent's task goes on beside its rerun longer than the agent stays down.
/// A file names the group, the start time of its leader and the agent that started it; groups of
/// agents that are still alive are left alone.
/// </summary>
public sealed class ProcessGroupLedger
{
    private readonly string _directory;
    private readonly string _owner;

    public ProcessGroupLedger(string directory)
    {
        _directory = directory;
        Directory.CreateDirectory(directory);
        _owner = $"{Environment.ProcessId} {StartTime(Environment.ProcessId)}";
    }

    // Best effort: a full disk must not fail the task, it only loses this safety net.
    internal void Started(int group)
    {
        try { File.WriteAllText(Path.Combine(_directory, group.ToString(CultureInfo.InvariantCulture)), $"{StartTime(group)} {_owner}\n"); }
        catch (IOException) { }
    }

    internal void Ended(int group)
    {
        try { File.Delete(Path.Combine(_directory, group.ToString(CultureInfo.InvariantCulture))); }
        catch (IOException) { }
    }

    /// <summary>SIGKILLs the groups that agents no longer alive left in the ledger, and forgets them. Returns how many it stopped.</summary>
    public int StopLeftovers()
    {
        var stopped = 0;
        foreach (var file in Directory.GetFiles(_directory))
        {
            if (!int.TryParse(Path.GetFileName(file), NumberStyles.None, CultureInfo.InvariantCulture, out var group)) continue;
            var fields = File.ReadAllText(file).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (fields.Length != 3 || !int.TryParse(fields[1], CultureInfo.InvariantCulture, out var agent)) continue;
            if (StartTime(agent) == fields[2]) continue; // that agent still runs: its groups are its own business
            // A leader with that pid but another start time is someone else's process; without a
            // leader the group id cannot have been given out again while any member is left, so
            // whatever is in the group is what the dead agent started.
            var leader = StartTime(group);
            if (leader is null || leader == fields[0])
            {
                if (LibC.Kill(-group, LibC.SIGKILL) == 0) stopped++;
            }
            File.Delete(file);
        }
        return stopped;
    }

    /// <summary>Field 22 of <c>/proc/PID/stat</c> (start time in clock ticks since boot), or null when there is no such process.</summary>
    private static string? StartTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            // The command name (field 2) is in parentheses and may hold spaces: count from after it.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields.Length > 19 ? fields[19] : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
