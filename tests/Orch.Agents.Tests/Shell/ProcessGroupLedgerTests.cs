using System.Globalization;
using Orch.Agents.Shell;
using static Orch.Agents.Tests.Shell.ShellTestSupport;

namespace Orch.Agents.Tests.Shell;

public sealed class ProcessGroupLedgerTests
{
    private static string StartTime(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19];
    }

    /// <summary>Starts <c>sleep</c> in a group of its own, recorded in <paramref name="ledger"/> (if any); returns the group and the run.</summary>
    private static async Task<(int Group, Task<ShellResult> Run)> StartSleeperAsync(TempDirectory dir, ProcessGroupLedger? ledger, CancellationToken cancel)
    {
        var pidFile = dir.File(Guid.NewGuid().ToString("N") + ".pid");
        var run = ProcessGroupRunner.RunAsync(Sh(dir, $"echo $$ > {pidFile}; exec sleep 30") with { Ledger = ledger }, cancel);
        while (!File.Exists(pidFile) || File.ReadAllText(pidFile).Length == 0) await Task.Delay(10, cancel);
        return (int.Parse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture), run);
    }

    [Fact]
    public async Task Groups_of_a_live_agent_are_left_alone_and_forgotten_when_they_end()
    {
        using var dir = new TempDirectory();
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var ledger = new ProcessGroupLedger(dir.File("groups"));
        var (group, run) = await StartSleeperAsync(dir, ledger, cancel.Token);

        Assert.True(File.Exists(Path.Combine(dir.File("groups"), group.ToString(CultureInfo.InvariantCulture))));
        Assert.Equal(0, new ProcessGroupLedger(dir.File("groups")).StopLeftovers());
        Assert.False(run.IsCompleted);

        await cancel.CancelAsync();
        await run;
        Assert.Empty(Directory.GetFiles(dir.File("groups")));
    }

    [Fact]
    public async Task Groups_of_a_dead_agent_are_killed_unless_their_pid_now_belongs_to_another_process()
    {
        using var dir = new TempDirectory();
        var groups = Directory.CreateDirectory(dir.File("groups")).FullName;
        var (orphan, orphanRun) = await StartSleeperAsync(dir, null, TestContext.Current.CancellationToken);
        var (stranger, strangerRun) = await StartSleeperAsync(dir, null, TestContext.Current.CancellationToken);
        // Entries as a killed agent (a pid that is not running) would have left them; the second
        // names a leader start time that is not the running process's, as after pid reuse.
        File.WriteAllText(Path.Combine(groups, orphan.ToString(CultureInfo.InvariantCulture)), $"{StartTime(orphan)} 999999 1\n");
        File.WriteAllText(Path.Combine(groups, stranger.ToString(CultureInfo.InvariantCulture)), "1 999999 1\n");

        var stopped = new ProcessGroupLedger(groups).StopLeftovers();

        Assert.Equal(1, stopped);
        var killed = await orphanRun.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(9, killed.Signal);
        Assert.False(strangerRun.IsCompleted);
        Assert.Empty(Directory.GetFiles(groups));
        System.Diagnostics.Process.GetProcessById(stranger).Kill();
        await strangerRun.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
    }
}
