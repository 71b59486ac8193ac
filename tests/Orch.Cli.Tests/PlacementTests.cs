using System.Globalization;
using Orch.Cli.Tests.Infrastructure;

namespace Orch.Cli.Tests;

/// <summary>
/// <c>on: { labels }</c> and <c>slots:</c> over a real redis-server with two real agents: one
/// labelled <c>gpu</c>, one without labels, two slots each.
/// </summary>
public sealed class PlacementTests : RedisClusterTests
{
    private AgentProcess _gpu = null!;

    protected override void StartAgents(RedisCluster cluster)
    {
        _gpu = cluster.StartAgent("gpu-1", slots: 2, "--Agent:Labels:0=gpu", "--Agent:Labels:1=zone=eu-1");
        cluster.StartAgent("cpu-1", slots: 2);
    }

    [Fact]
    public async Task LabelledTasks_RunOnlyOnAgentsWithTheLabels_OthersAnywhere()
    {
        using var dir = new TempDir();
        var marks = Directory.CreateDirectory(dir["marks"]).FullName;
        dir.Write("placed.yml", $$"""
            name: placed
            tasks:
              train:
                for_each: [0, 1, 2, 3, 4, 5, 6, 7]
                on: { labels: [gpu] }
                run: echo "$PPID" > "{{marks}}/train.$ORCH_ATTEMPT_ID"
              anywhere:
                for_each: [0, 1, 2, 3, 4, 5, 6, 7]
                run: sleep 0.2; echo "$PPID" > "{{marks}}/anywhere.$ORCH_ATTEMPT_ID"
            """);
        await WaitForAgentsAsync(dir);

        var result = await OrchCli.RunAsync(dir.Path, "run", "placed.yml", "--backend", Backend, "--cluster-key-file", KeyFile);

        Assert.True(result.ExitCode == 0, result + Logs());
        var train = Pids(marks, "train");
        Assert.Equal(8, train.Count);
        Assert.All(train, pid => Assert.Equal(_gpu.Pid, pid));
        Assert.Equal(8, Pids(marks, "anywhere").Count);
    }

    [Fact]
    public async Task TasksTakingTwoSlots_NeverShareAnAgentWithEachOther()
    {
        using var dir = new TempDir();
        var busy = Directory.CreateDirectory(dir["busy"]).FullName;
        // mkdir is atomic: a second two-slot task on the same agent at the same time fails it.
        dir.Write("wide.yml", $$"""
            name: wide
            tasks:
              wide:
                for_each: [0, 1, 2, 3, 4, 5]
                slots: 2
                env: { BUSY: "{{busy}}" }
                run: |
                  mkdir "$BUSY/$PPID" || { echo "agent $PPID runs two wide tasks at once" >&2; exit 1; }
                  sleep 0.3
                  rmdir "$BUSY/$PPID"
            """);
        await WaitForAgentsAsync(dir);

        var result = await OrchCli.RunAsync(dir.Path, "run", "wide.yml", "--backend", Backend, "--cluster-key-file", KeyFile);

        Assert.True(result.ExitCode == 0, result + Logs());
    }

    [Fact]
    public async Task LabelNoLiveAgentHas_Exits13BeforeRunningAnything_NamingTheLiveAgents()
    {
        using var dir = new TempDir();
        dir.Write("tpu.yml", """
            name: tpu
            tasks:
              first:
                run: touch ran.txt
              train:
                needs: [first]
                on: { labels: [tpu] }
                run: echo never
            """);
        await WaitForAgentsAsync(dir);

        var result = await OrchCli.RunAsync(dir.Path, "run", "tpu.yml", "--backend", Backend, "--cluster-key-file", KeyFile);

        Assert.True(result.ExitCode == 13, result.ToString());
        Assert.Contains("tpu.yml:7:5: error ORCH042: no live agent can run task 'train': it needs the labels tpu", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("gpu-1 (gpu, zone=eu-1, 2 slots)", result.Stderr, StringComparison.Ordinal);
        Assert.False(dir.Exists("ran.txt"), "nothing may run when a task cannot be placed");
    }

    [Fact]
    public async Task LabelledTaskOnTheEmbeddedDefault_Exits13SayingWhy()
    {
        using var dir = new TempDir();
        dir.Write("gpu.yml", "name: gpu\ntasks:\n  train:\n    on: { labels: [gpu] }\n    run: echo hi\n");

        var result = await OrchCli.RunAsync(dir.Path, "run", "gpu.yml");

        Assert.True(result.ExitCode == 13, result.ToString());
        Assert.Contains("gpu.yml:4:5: error ORCH042", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("--backend", result.Stderr, StringComparison.Ordinal);
    }

    /// <summary>Waits until both agents are listed, so placement sees them.</summary>
    private async Task WaitForAgentsAsync(TempDir dir)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var agents = await OrchCli.RunAsync(dir.Path, "agents", "--backend", Backend, "--json");
            if (agents.ExitCode == 0 && agents.Stdout.Contains("gpu-1", StringComparison.Ordinal) && agents.Stdout.Contains("cpu-1", StringComparison.Ordinal)) return;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        Assert.Fail("the agents did not register within 30 s" + Logs());
    }

    private static List<int> Pids(string marks, string task) =>
        Directory.GetFiles(marks, task + ".*").Select(f => int.Parse(File.ReadAllText(f).Trim(), CultureInfo.InvariantCulture)).ToList();

}
