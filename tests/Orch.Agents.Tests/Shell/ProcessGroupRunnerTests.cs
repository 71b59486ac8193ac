using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Orch.Agents.Shell;
using static Orch.Agents.Tests.Shell.ShellTestSupport;

namespace Orch.Agents.Tests.Shell;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ProcessGroupRunnerTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static int ParsePid(string text) => int.Parse(text.Trim(), CultureInfo.InvariantCulture);

    [Fact]
    public async Task SuccessfulCommandExitsWithZero()
    {
        using var dir = new TempDirectory();
        var result = await ProcessGroupRunner.RunAsync(Sh(dir, "true"), Token);

        Assert.Equal(0, result.ExitCode);
        Assert.Null(result.Signal);
        Assert.False(result.TimedOut);
        Assert.False(result.Cancelled);
        Assert.True(result.Duration > TimeSpan.Zero);
    }

    [Fact]
    public async Task ExitCodeIsReported()
    {
        using var dir = new TempDirectory();
        var result = await ProcessGroupRunner.RunAsync(Sh(dir, "exit 3"), Token);

        Assert.Equal(3, result.ExitCode);
        Assert.Null(result.Signal);
    }

    [Fact]
    public async Task FailingCommandUnderErrexitStops()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, "echo before; false; echo after");
        var result = await ProcessGroupRunner.RunAsync(command, Token);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("before\n", ReadLog(command));
    }

    [Fact]
    public async Task DeathBySignalIsReported()
    {
        using var dir = new TempDirectory();
        var result = await ProcessGroupRunner.RunAsync(Sh(dir, "kill -KILL $$"), Token);

        Assert.Equal(128 + 9, result.ExitCode);
        Assert.Equal(9, result.Signal);
        Assert.False(result.TimedOut);
        Assert.False(result.Cancelled);
    }

    [Fact]
    public async Task StdoutAndStderrGoToTheLogInOrder()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, "echo out1; echo err1 >&2; echo out2; echo err2 1>&2");
        var result = await ProcessGroupRunner.RunAsync(command, Token);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("out1\nerr1\nout2\nerr2\n", ReadLog(command));
    }

    [Fact]
    public async Task ExistingLogIsTruncated()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, "echo hi");
        await File.WriteAllTextAsync(command.LogPath, new string('x', 10_000), Token);

        await ProcessGroupRunner.RunAsync(command, Token);

        Assert.Equal("hi\n", ReadLog(command));
    }

    [Fact]
    public async Task StdinIsDevNull()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, "readlink /proc/$$/fd/0; cat; echo end");
        var result = await ProcessGroupRunner.RunAsync(command, Token);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("/dev/null\nend\n", ReadLog(command));
    }

    [Fact]
    public async Task OnlyStandardDescriptorsAreInherited()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, "ls /proc/$$/fd");
        await ProcessGroupRunner.RunAsync(command, Token);

        // dash may open its own descriptors (e.g. 10 for the script); nothing at 3..9 comes from the parent.
        var fds = ReadLog(command).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
        Assert.Equal([0, 1, 2], fds.Where(fd => fd < 3));
        Assert.DoesNotContain(fds, fd => fd is >= 3 and < 10);
    }

    [Fact]
    public async Task EnvironmentIsPassedExactly()
    {
        using var dir = new TempDirectory();
        var environment = new Dictionary<string, string>
        {
            ["PATH"] = SearchPath,
            ["FOO"] = "bar baz",
            ["EMPTY"] = string.Empty,
            ["UNICODE"] = "grüße=ok",
        };
        var command = Sh(dir, "cat /proc/$$/environ") with { Environment = environment };

        var result = await ProcessGroupRunner.RunAsync(command, Token);

        Assert.Equal(0, result.ExitCode);
        var passed = ReadLog(command).Split('\0', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
            environment.Select(kv => $"{kv.Key}={kv.Value}").Order(StringComparer.Ordinal),
            passed.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task WorkingDirectoryIsHonoured()
    {
        using var dir = new TempDirectory();
        var sub = Directory.CreateDirectory(dir.File("sub dir")).FullName;
        var command = Sh(dir, "pwd; echo content > written.txt") with { WorkingDirectory = sub };

        var result = await ProcessGroupRunner.RunAsync(command, Token);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(sub + "\n", ReadLog(command));
        Assert.True(File.Exists(Path.Combine(sub, "written.txt")));
    }

    [Fact]
    public async Task ProgramIsLookedUpInTheChildsPath()
    {
        using var dir = new TempDirectory();
        var bin = Directory.CreateDirectory(dir.File("bin")).FullName;
        var tool = Path.Combine(bin, "orch-test-tool");
        await File.WriteAllTextAsync(tool, "#!/bin/sh\necho \"tool $1\"\n", Token);
        File.SetUnixFileMode(tool, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var command = Sh(dir, string.Empty) with
        {
            Argv = ["orch-test-tool", "arg"],
            Environment = new Dictionary<string, string> { ["PATH"] = $"/nonexistent:{bin}:{SearchPath}" },
        };

        var result = await ProcessGroupRunner.RunAsync(command, Token);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("tool arg\n", ReadLog(command));
    }

    [Fact]
    public async Task MissingWorkingDirectoryFailsToStart()
    {
        using var dir = new TempDirectory();
        var missing = dir.File("does-not-exist");
        var command = Sh(dir, "true") with { WorkingDirectory = missing };

        var error = await Assert.ThrowsAsync<ShellStartException>(() => ProcessGroupRunner.RunAsync(command, Token));

        Assert.Equal(2, error.ErrorNumber);
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        Assert.Contains("working directory", error.Message, StringComparison.Ordinal);
        Assert.Contains("No such file or directory", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingShellPathFailsToStart()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, "true") with { Argv = ["/nonexistent/orch-sh", "-c", "true"] };

        var error = await Assert.ThrowsAsync<ShellStartException>(() => ProcessGroupRunner.RunAsync(command, Token));

        Assert.Equal(2, error.ErrorNumber);
        Assert.Contains("/nonexistent/orch-sh", error.Message, StringComparison.Ordinal);
        Assert.Contains("No such file or directory", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ShellMissingFromPathFailsToStart()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, "true") with { Argv = ["orch-no-such-shell", "-c", "true"] };

        var error = await Assert.ThrowsAsync<ShellStartException>(() => ProcessGroupRunner.RunAsync(command, Token));

        Assert.Equal(2, error.ErrorNumber);
        Assert.Contains("orch-no-such-shell", error.Message, StringComparison.Ordinal);
        Assert.Contains(SearchPath, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnwritableLogFailsToStart()
    {
        using var dir = new TempDirectory();
        var log = dir.File("missing-dir/log.txt");
        var command = Sh(dir, "true") with { LogPath = log };

        var error = await Assert.ThrowsAsync<ShellStartException>(() => ProcessGroupRunner.RunAsync(command, Token));

        Assert.Contains(log, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AlreadyCancelledTokenStartsNothing()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, "true");

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => ProcessGroupRunner.RunAsync(command, new CancellationToken(canceled: true)));
        Assert.False(File.Exists(command.LogPath));
    }

    [Fact]
    public async Task ChildLeadsItsOwnProcessGroup()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, "echo $$; cut -d' ' -f5 /proc/$$/stat");

        await ProcessGroupRunner.RunAsync(command, Token);

        var lines = ReadLog(command).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Equal(lines[0], lines[1]);
        Assert.NotEqual(ProcessGroup(Environment.ProcessId), ParsePid(lines[1]));
    }

    [Fact]
    public async Task SignalMaskAndIgnoredSignalsAreReset()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, "grep -E '^Sig(Blk|Ign)' /proc/self/status");

        await ProcessGroupRunner.RunAsync(command, Token);

        Assert.Equal("SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n", ReadLog(command));
    }

    [Fact]
    public async Task LeaderIsReapedWhenRunReturns()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, "echo $$");

        await ProcessGroupRunner.RunAsync(command, Token);

        var pid = ParsePid(ReadLog(command));
        Assert.Null(ProcessState(pid));
    }

    [Fact]
    public async Task StrayBackgroundChildDiesWithTheLeader()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, "sleep 100 & echo $!");

        var result = await ProcessGroupRunner.RunAsync(command, Token);

        Assert.Equal(0, result.ExitCode);
        Assert.True(await BecomesDead(ParsePid(ReadLog(command))), "background child is still running");
    }

    [Fact]
    public async Task TimeoutKillsTheWholeTree()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, "sleep 100 & echo $!; echo $$; sleep 100; wait") with
        {
            Timeout = TimeSpan.FromMilliseconds(300),
        };

        var result = await ProcessGroupRunner.RunAsync(command, Token);

        Assert.True(result.TimedOut);
        Assert.False(result.Cancelled);
        Assert.Equal(15, result.Signal);
        Assert.Equal(128 + 15, result.ExitCode);
        Assert.True(result.Duration < TimeSpan.FromSeconds(5), $"took {result.Duration}");
        var lines = ReadLog(command).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Null(ProcessState(ParsePid(lines[1])));
        Assert.True(await BecomesDead(ParsePid(lines[0])), "background grandchild is still running");
    }

    [Fact]
    public async Task CancellationKillsTheWholeTree()
    {
        using var dir = new TempDirectory();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Token);
        var command = Sh(dir, "sleep 100 & echo $!; echo $$; sleep 100; wait");

        var run = ProcessGroupRunner.RunAsync(command, cts.Token);
        var lines = await WaitForLogLines(command.LogPath, 2, Token);
        var grandchild = ParsePid(lines[0]);
        Assert.True(ProcessState(grandchild) is 'S' or 'R', "background grandchild should be running");
        await cts.CancelAsync();
        var result = await run;

        Assert.True(result.Cancelled);
        Assert.False(result.TimedOut);
        Assert.Equal(15, result.Signal);
        Assert.Null(ProcessState(ParsePid(lines[1])));
        Assert.True(await BecomesDead(grandchild), "background grandchild is still running");
    }

    [Fact]
    public async Task TermIgnoringGroupIsKilledAfterGrace()
    {
        using var dir = new TempDirectory();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Token);
        var grace = TimeSpan.FromMilliseconds(300);
        var command = Sh(dir, "trap '' TERM; sleep 100 & echo $!; wait") with { KillGrace = grace };

        var run = ProcessGroupRunner.RunAsync(command, cts.Token);
        var grandchild = ParsePid((await WaitForLogLines(command.LogPath, 1, Token))[0]);
        var sinceCancel = Stopwatch.StartNew();
        await cts.CancelAsync();
        var result = await run;
        sinceCancel.Stop();

        Assert.True(result.Cancelled);
        Assert.Equal(9, result.Signal);
        Assert.Equal(128 + 9, result.ExitCode);
        Assert.True(sinceCancel.Elapsed >= grace - TimeSpan.FromMilliseconds(20), $"killed after {sinceCancel.Elapsed}");
        Assert.True(await BecomesDead(grandchild), "background grandchild is still running");
    }

    [Fact]
    public async Task ConcurrentRunsGetTheirOwnResults()
    {
        // Many short-lived children spawned and reaped at once: each result must belong to its own child
        // (and no child may be killed as collateral of another's exit).
        using var dir = new TempDirectory();
        for (var round = 0; round < 4; round++)
        {
            var runs = Enumerable.Range(0, 100).Select(i => ProcessGroupRunner.RunAsync(
                Sh(dir, $"exit {i}") with { LogPath = dir.File($"log{i}.txt") }, Token)).ToArray();

            var results = await Task.WhenAll(runs);

            Assert.Equal(Enumerable.Range(0, 100), results.Select(r => r.ExitCode));
        }
    }

    [Fact]
    public async Task SilentCommandCreatesNoLog()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, "true; echo -n '' ; exit 4");

        var result = await ProcessGroupRunner.RunAsync(command, Token);

        Assert.Equal(4, result.ExitCode);
        Assert.False(File.Exists(command.LogPath));
    }

    [Fact]
    public async Task ExistingLogIsTruncatedEvenWhenSilent()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, "true");
        await File.WriteAllTextAsync(command.LogPath, "stale", Token);

        await ProcessGroupRunner.RunAsync(command, Token);

        Assert.Equal(string.Empty, ReadLog(command));
    }

    [Fact]
    public async Task ExistingLogThatCannotBeWrittenFailsToStart()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, "true") with { LogPath = Directory.CreateDirectory(dir.File("log-dir")).FullName };

        var error = await Assert.ThrowsAsync<ShellStartException>(() => ProcessGroupRunner.RunAsync(command, Token));

        Assert.Contains(command.LogPath, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InterleavedStdoutAndStderrKeepTheirOrder()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, "i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo out$i; echo err$i >&2; printf 'p%s ' $i 1>&2; done");

        var result = await ProcessGroupRunner.RunAsync(command, Token);

        Assert.Equal(0, result.ExitCode);
        var expected = string.Concat(Enumerable.Range(1, 300).Select(i => $"out{i}\nerr{i}\np{i} "));
        Assert.Equal(expected, ReadLog(command));
    }

    [Fact]
    public async Task LargeOutputLandsIntact()
    {
        using var dir = new TempDirectory();
        const int size = 20 * 1024 * 1024;
        var command = Sh(dir, $"head -c {size} /dev/urandom > data.bin; cat data.bin");

        var result = await ProcessGroupRunner.RunAsync(command, Token);

        Assert.Equal(0, result.ExitCode);
        var expected = await File.ReadAllBytesAsync(dir.File("data.bin"), Token);
        var actual = await File.ReadAllBytesAsync(command.LogPath, Token);
        Assert.Equal(size, expected.Length);
        Assert.Equal(size, actual.Length);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(expected)), Convert.ToHexString(SHA256.HashData(actual)));
    }

    /// <summary>
    /// Starts <paramref name="program"/> in the background in a new session (so the final SIGKILL to the group
    /// misses it) with stdout still open, and waits until it has left the group; its pid is in stray.pid.
    /// </summary>
    private static string EscapingStray(string program) =>
        $"setsid sh -c 'echo $$ > stray.pid.tmp; mv stray.pid.tmp stray.pid; exec {program}' & "
        + "while [ ! -e stray.pid ]; do sleep 0.01; done";

    [Theory]
    [InlineData("sleep 30")]
    [InlineData("yes")]
    public async Task ProcessOutsideTheGroupHoldingStdoutDoesNotBlockCompletion(string stray)
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, EscapingStray(stray) + "; echo leader done");
        var sinceStart = Stopwatch.StartNew();

        var result = await ProcessGroupRunner.RunAsync(command, Token);
        sinceStart.Stop();

        var strayPid = ParsePid(await File.ReadAllTextAsync(dir.File("stray.pid"), Token));
        try
        {
            Assert.Equal(0, result.ExitCode);
            Assert.True(sinceStart.Elapsed < TimeSpan.FromSeconds(5), $"took {sinceStart.Elapsed}");
            Assert.Contains("leader done\n", ReadLog(command), StringComparison.Ordinal);
        }
        finally
        {
            try
            {
                using var process = Process.GetProcessById(strayPid);
                process.Kill();
            }
            catch (ArgumentException)
            {
                // Already gone (yes dies of SIGPIPE once the pipe is closed).
            }
        }
    }

    [Fact]
    public async Task StrayHoldingStdoutIsStillRunningWhenRunReturns()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, EscapingStray("sleep 30") + "; echo leader done");

        await ProcessGroupRunner.RunAsync(command, Token);

        var strayPid = ParsePid(await File.ReadAllTextAsync(dir.File("stray.pid"), Token));
        try
        {
            // The case being tested: the run completed although the pipe's write end is still open.
            Assert.StartsWith("pipe:", new FileInfo($"/proc/{strayPid}/fd/1").LinkTarget, StringComparison.Ordinal);
            Assert.Equal("leader done\n", ReadLog(command));
        }
        finally
        {
            using var process = Process.GetProcessById(strayPid);
            process.Kill();
        }
    }

    [Fact]
    public async Task OutputBeforeATimeoutIsInTheLog()
    {
        using var dir = new TempDirectory();
        var command = Sh(dir, "head -c 200000 /dev/zero | tr '\\0' x; echo; echo before; sleep 100; echo after") with
        {
            Timeout = TimeSpan.FromMilliseconds(500),
        };

        var result = await ProcessGroupRunner.RunAsync(command, Token);

        Assert.True(result.TimedOut);
        Assert.Equal(new string('x', 200000) + "\nbefore\n", ReadLog(command));
    }

    [Fact]
    public async Task OutputBeforeCancellationIsInTheLog()
    {
        using var dir = new TempDirectory();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Token);
        var command = Sh(dir, "echo one; echo two >&2; sleep 100; echo after");

        var run = ProcessGroupRunner.RunAsync(command, cts.Token);
        await WaitForLogLines(command.LogPath, 2, Token);
        await cts.CancelAsync();
        var result = await run;

        Assert.True(result.Cancelled);
        Assert.Equal("one\ntwo\n", ReadLog(command));
    }

    [Fact]
    public async Task ConcurrentRunsKeepTheirOutputsSeparate()
    {
        using var dir = new TempDirectory();
        for (var round = 0; round < 4; round++)
        {
            // Every third run prints nothing and must leave no log.
            var commands = Enumerable.Range(0, 100).Select(i => Sh(dir, i % 3 == 0
                    ? $"exit {i}"
                    : $"echo out {round} {i}; echo err {round} {i} >&2; seq 1 {i * 50}; exit {i}")
                with { LogPath = dir.File($"log{round}-{i}.txt") }).ToArray();

            var results = await Task.WhenAll(commands.Select(c => ProcessGroupRunner.RunAsync(c, Token)));

            Assert.Equal(Enumerable.Range(0, 100), results.Select(r => r.ExitCode));
            for (var i = 0; i < 100; i++)
            {
                if (i % 3 == 0)
                {
                    Assert.False(File.Exists(commands[i].LogPath), $"run {i} left a log");
                }
                else
                {
                    var numbers = string.Concat(Enumerable.Range(1, i * 50).Select(n => $"{n}\n"));
                    Assert.Equal($"out {round} {i}\nerr {round} {i}\n{numbers}", ReadLog(commands[i]));
                }
            }
        }
    }

    [Fact]
    public async Task InvalidCommandsAreRejected()
    {
        using var dir = new TempDirectory();
        await Assert.ThrowsAsync<ArgumentException>(
            () => ProcessGroupRunner.RunAsync(Sh(dir, "true") with { Argv = [] }, Token));
        await Assert.ThrowsAsync<ArgumentException>(
            () => ProcessGroupRunner.RunAsync(Sh(dir, "true\0false"), Token));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(
            () => ProcessGroupRunner.RunAsync(Sh(dir, "true") with { Timeout = TimeSpan.Zero }, Token));
        await Assert.ThrowsAsync<ArgumentException>(() => ProcessGroupRunner.RunAsync(
            Sh(dir, "true") with { Environment = new Dictionary<string, string> { ["A=B"] = "c" } }, Token));
    }
}
