using System.Text.Json;
using Orch.Cli.Tests.Infrastructure;

namespace Orch.Cli.Tests;

/// <summary>
/// <c>orch run --backend redis://...</c> where the agents do not share the run's files: each
/// <c>orch-agent</c> runs in a directory of its own, path params and the files tasks make travel
/// through Redis, and what the tasks made comes back to the directory <c>orch run</c> ran in.
/// </summary>
public sealed class FileShippingRunTests : RedisClusterTests
{
    protected override void StartAgents(RedisCluster cluster)
    {
        foreach (var id in new[] { "agent-a", "agent-b" }) cluster.StartAgent(id);
    }

    [Fact]
    public async Task WordCount_WithTheCorpusOnlyWhereOrchRunRuns_CountsExactlyAndWritesTheResultThere()
    {
        using var dir = new TempDir();
        CopyDirectory(Repo.Corpus, dir["corpus"]);

        var result = await OrchCli.RunAsync(dir.Path, "run", Repo.Pipeline("wordcount.yml"), "--backend", Backend, "--cluster-key-file", KeyFile, "--json",
            "-p", "input=corpus", "-p", "output=out.json", "-p", "counts=counts.tsv", "-p", "shards=6");

        Assert.True(result.ExitCode == 0, result + Logs());
        WordCountTests.AssertMatches(WordCountOracle.OfPath(dir["corpus"]), dir, top: 20);
        using var summary = JsonDocument.Parse(result.Stdout);
        Assert.NotEmpty(summary.RootElement.GetProperty("agents").EnumerateArray());
        // The agents fetched the corpus into their caches and removed the workspaces they ran in.
        Assert.All(Agents, a => Assert.False(Directory.Exists(a.Home[".orch/workspaces"]) && Directory.EnumerateFiles(a.Home[".orch/workspaces"], "*", SearchOption.AllDirectories).Any(), $"{a.Id} left files in a workspace"));
        Assert.Contains(Agents, a => Directory.Exists(a.Home[".orch/cache"]) && Directory.GetFiles(a.Home[".orch/cache"], "*", SearchOption.AllDirectories).Length > 0);
    }

    [Fact]
    public async Task ShellTasks_PassFilesDownstream_AndFailureLogsComeBackHere()
    {
        using var dir = new TempDir();
        dir.Write("notes/today.txt", "buy milk\n");
        var pipeline = dir.Write("files.yml", """
            name: files
            params:
              notes: { type: path, default: notes }
            tasks:
              shout:
                run: |
                  mkdir -p "$ORCH_ARTIFACTS"
                  tr a-z A-Z < {{ params.notes | sh }}/today.txt > "$ORCH_ARTIFACTS/loud.txt"
                  echo "loud=$ORCH_ARTIFACTS/loud.txt" >> "$ORCH_OUTPUT"
                  pwd > shout.pwd
              report:
                needs: [shout]
                run: |
                  mkdir -p out
                  cat {{ tasks.shout.outputs.loud | sh }} > out/report.txt
              complain:
                needs: [shout]
                run: |
                  echo "cannot find the printer" >&2
                  exit 4
            """);

        var result = await OrchCli.RunAsync(dir.Path, "run", pipeline, "--backend", Backend, "--cluster-key-file", KeyFile);

        Assert.True(result.ExitCode == 20, result + Logs());
        Assert.Equal("BUY MILK\n", dir.Read("out/report.txt"));
        Assert.NotEqual(dir.Path, dir.Read("shout.pwd").Trim());
        // The failed attempt's log was fetched back, and the summary points at it.
        var log = Path.Combine(Assert.Single(dir.RunDirectories()), "logs", "complain", "attempt-1.log");
        Assert.Contains("cannot find the printer", File.ReadAllText(log), StringComparison.Ordinal);
        Assert.Contains("log: .orch/runs/", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PathParam_ThatDoesNotExist_IsAnErrorAtItsDeclarationBeforeAnythingRuns()
    {
        using var dir = new TempDir();

        var result = await OrchCli.RunAsync(dir.Path, "run", Repo.Pipeline("wordcount.yml"), "--backend", Backend, "--cluster-key-file", KeyFile, "-p", "input=no-such-corpus");

        Assert.True(result.ExitCode == 13, result.ToString());
        Assert.Contains("wordcount.yml:8:", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("ORCH043", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("param 'input' is 'no-such-corpus', which does not exist", result.Stderr, StringComparison.Ordinal);
        Assert.Empty(dir.RunDirectories());
    }

    [Fact]
    public async Task SharedFs_RunsTasksInTheRunsOwnDirectory()
    {
        using var dir = new TempDir();
        var pipeline = dir.Write("here.yml", """
            name: here
            tasks:
              where:
                run: pwd > where.txt
            """);

        var result = await OrchCli.RunAsync(dir.Path, "run", pipeline, "--backend", Backend, "--cluster-key-file", KeyFile, "--shared-fs");

        Assert.True(result.ExitCode == 0, result + Logs());
        Assert.Equal(dir.Path, dir.Read("where.txt").Trim());
    }

    [Fact]
    public async Task Resume_FromAnotherDirectory_ReusesFinishedTasksAndTheirFilesFromTheBackend()
    {
        using var first = new TempDir();
        using var second = new TempDir();
        var yaml = """
            name: twice
            params:
              ok: { default: "no" }
            tasks:
              make:
                run: mkdir -p out && echo "made $ORCH_ATTEMPT_ID" > out/a.txt
              check:
                needs: [make]
                env: { OK: "{{ params.ok }}" }
                run: test "$OK" = yes && cat out/a.txt > out/b.txt
            """;
        var pipeline1 = first.Write("twice.yml", yaml);
        var pipeline2 = second.Write("twice.yml", yaml);

        var failed = await OrchCli.RunAsync(first.Path, "run", pipeline1, "--backend", Backend, "--cluster-key-file", KeyFile);
        Assert.True(failed.ExitCode == 20, failed + Logs());
        var runId = Path.GetFileName(Assert.Single(first.RunDirectories()));

        var resumed = await OrchCli.RunAsync(second.Path, "run", pipeline2, "--backend", Backend, "--cluster-key-file", KeyFile, "--resume", runId, "-p", "ok=yes", "--json");

        Assert.True(resumed.ExitCode == 0, resumed + Logs());
        using var json = JsonDocument.Parse(resumed.Stdout);
        var tasks = json.RootElement.GetProperty("tasks").EnumerateArray().ToDictionary(t => t.GetProperty("id").GetString()!);
        Assert.Equal(1, tasks["make"].GetProperty("reused").GetInt32());
        // 'check' ran here with the file 'make' made in the first run, and both came back here.
        Assert.Equal(first.Read("out/a.txt"), second.Read("out/a.txt"));
        Assert.Equal(first.Read("out/a.txt"), second.Read("out/b.txt"));
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
