using Orch.Cli.Tests.Infrastructure;

namespace Orch.Cli.Tests;

public sealed class ConcurrencyTests
{
    // Four independent tasks; each holds a directory as a marker while it runs and fails if another holds it.
    private const string Overlap = """
        name: overlap
        tasks:
          a:
            run: mkdir busy || exit 7; sleep 0.2; echo a >> order.txt; rmdir busy
          b:
            run: mkdir busy || exit 7; sleep 0.2; echo b >> order.txt; rmdir busy
          c:
            run: mkdir busy || exit 7; sleep 0.2; echo c >> order.txt; rmdir busy
          d:
            run: mkdir busy || exit 7; sleep 0.2; echo d >> order.txt; rmdir busy
        """;

    [Fact]
    public async Task MaxParallelOne_NeverRunsTwoTasksAtOnce()
    {
        using var dir = new TempDir();
        dir.Write("overlap.yml", Overlap);

        var result = await OrchCli.RunAsync(dir.Path, "run", "overlap.yml", "--max-parallel", "1");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(["a", "b", "c", "d"], File.ReadAllLines(dir["order.txt"]).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task WithoutLimit_IndependentTasksOverlap()
    {
        using var dir = new TempDir();
        // The same pipeline, but each task waits to see another one running, proving they run together.
        dir.Write("together.yml", """
            name: together
            tasks:
              a:
                run: touch a.started; i=0; while [ ! -f b.started ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; test -f b.started
              b:
                run: touch b.started; i=0; while [ ! -f a.started ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; test -f a.started
            """);

        var result = await OrchCli.RunAsync(dir.Path, "run", "together.yml", "--max-parallel", "2");

        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [Fact]
    public async Task Philosophers_And_Bank_Succeed()
    {
        using var dir = new TempDir();

        var philosophers = await OrchCli.RunAsync(dir.Path, "run", Repo.Pipeline("philosophers.yml"), "-p", "meals=4", "-p", "eat_ms=2", "-p", "table=table", "--json");
        var bank = await OrchCli.RunAsync(dir.Path, "run", Repo.Pipeline("bank.yml"), "-p", "transfers=40", "-p", "vault=vault", "--json");

        Assert.True(philosophers.ExitCode == 0, philosophers.ToString());
        Assert.Equal(20, File.ReadAllLines(dir["table/meals.log"]).Length);
        Assert.True(bank.ExitCode == 0, bank.ToString());
        var balances = Directory.GetFiles(dir["vault"]).Sum(f => long.Parse(File.ReadAllText(f).Trim(), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(6 * 1000, balances);
    }
}
