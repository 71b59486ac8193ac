using Orch.Cli.Tests.Infrastructure;

namespace Orch.Cli.Tests;

public sealed class TimeoutTests
{
    private const string Sleeper = """
        name: sleeper
        tasks:
          nap:
            run: |
              sleep 30 &
              echo $! > sleep.pid
              wait $!
              echo woke > woke.txt
        """;

    [Fact]
    public async Task TimeoutOption_Exits124Quickly_AndStopsTheTask()
    {
        using var dir = new TempDir();
        dir.Write("sleeper.yml", Sleeper);

        var result = await OrchCli.RunAsync(dir.Path, TimeSpan.FromSeconds(25), "run", "sleeper.yml", "--timeout", "500ms");

        Assert.True(result.ExitCode == 124, result.ToString());
        Assert.True(result.Elapsed < TimeSpan.FromSeconds(10), $"took {result.Elapsed}");
        Assert.Contains("timed out", result.Stdout, StringComparison.Ordinal);
        Assert.False(dir.Exists("woke.txt"));
        if (!dir.Exists("sleep.pid")) return; // timed out before the script got going: nothing to reap
        var sleepPid = int.Parse(dir.Read("sleep.pid").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(await Processes.WaitUntilGoneAsync(sleepPid, TimeSpan.FromSeconds(3)), $"the task's sleep {sleepPid} outlived the timed-out run");
    }

    [Fact]
    public async Task PipelineTimeout_Exits124()
    {
        using var dir = new TempDir();
        dir.Write("sleeper.yml", Sleeper.Replace("name: sleeper\n", "name: sleeper\ntimeout: 500ms\n", StringComparison.Ordinal));

        var result = await OrchCli.RunAsync(dir.Path, TimeSpan.FromSeconds(25), "run", "sleeper.yml");

        Assert.True(result.ExitCode == 124, result.ToString());
        Assert.True(result.Elapsed < TimeSpan.FromSeconds(10), $"took {result.Elapsed}");
    }

    [Fact]
    public async Task TimeoutOption_OverridesThePipelineTimeout()
    {
        using var dir = new TempDir();
        dir.Write("quick.yml", """
            name: quick
            timeout: 1ms
            tasks:
              nap:
                run: sleep 0.3 && echo done > done.txt
            """);

        var result = await OrchCli.RunAsync(dir.Path, "run", "quick.yml", "--timeout", "1m");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True(dir.Exists("done.txt"));
    }
    [Theory]
    [InlineData("1ms")]
    [InlineData("20ms")]
    [InlineData("60ms")]
    public async Task TinyTimeout_StillStopsQuickly(string timeout)
    {
        using var dir = new TempDir();
        dir.Write("nap.yml", """
            name: nap
            tasks:
              nap:
                run: sleep 5 && echo woke > woke.txt
            """);

        var result = await OrchCli.RunAsync(dir.Path, TimeSpan.FromSeconds(30), "run", "nap.yml", "--timeout", timeout);

        Assert.True(result.ExitCode == 124, result.ToString());
        Assert.True(result.Elapsed < TimeSpan.FromSeconds(4), $"took {result.Elapsed}\n{result}");
        Assert.DoesNotContain("did not stop within the cancel grace period", result.Stdout, StringComparison.Ordinal);
        await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
        Assert.False(dir.Exists("woke.txt"), "the task kept running after the run timed out");
    }

    [Theory]
    [InlineData("--timeout", "50d")]
    [InlineData("--timeout", "100000h")]
    public async Task HugeTimeout_IsNotAnInternalError(string option, string value)
    {
        using var dir = new TempDir();
        dir.Write("valid.yml", Pipelines.Valid);

        var result = await OrchCli.RunAsync(dir.Path, "run", "valid.yml", option, value);

        // Either run (the limit is effectively infinite) or refuse it as a usage error; never crash.
        Assert.True(result.ExitCode is 0 or 2, result.ToString());
        Assert.DoesNotContain("internal error", result.Stderr, StringComparison.Ordinal);
    }
}
