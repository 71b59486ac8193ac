using System.Globalization;
using System.Text.RegularExpressions;

namespace Orch.Engine.Tests;

public sealed partial class LockTests
{
    /// <summary>The repository's pipelines/ directory, found from the test binary's location.</summary>
    private static string ShippedPipeline(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "pipelines", name);
            if (File.Exists(candidate) && File.Exists(Path.Combine(dir.FullName, "Orchestrator.sln"))) return candidate;
        }
        throw new FileNotFoundException($"pipelines/{name} not found above {AppContext.BaseDirectory}");
    }

    /// <summary>20 tasks that each fail if another is inside the critical section (mkdir is atomic).</summary>
    private static string Exclusive(bool withLock) => $$$"""
        name: mutex
        resources:
          m: { capacity: 1 }
        tasks:
          critical:
            for_each: "{{ 20 }}"
            {{{(withLock ? "locks: [m]" : "")}}}
            run: |
              mkdir inside || { echo "someone else is inside" >&2; exit 1; }
              echo "$ORCH_INSTANCE $ORCH_LOCKS" >> entries.log
              sleep 0.02
              rmdir inside
        """;

    [Fact]
    public async Task Run_MutexResource_TwentyTasksNeverOverlap()
    {
        await using var engine = await Engine.StartAsync(slots: 8);

        var report = await engine.RunAsync(Exclusive(withLock: true));

        Assert.True(report.Status == RunStatus.Succeeded, report.Describe());
        var entries = engine.Lines("entries.log");
        Assert.Equal(20, entries.Length);
        // Every entry held m, with a fencing token that grew with each grant.
        var tokens = entries.Select(e => long.Parse(FencingToken().Match(e).Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(tokens.Order(), tokens);
        Assert.Equal(20, tokens.Distinct().Count());
    }

    [Fact]
    public async Task Run_MutexCheck_WithoutTheLock_DetectsOverlap()
    {
        // Negative control for the test above: without the lock, 8 slots do overlap and the check catches it.
        await using var engine = await Engine.StartAsync(slots: 8);

        var report = await engine.RunAsync(Exclusive(withLock: false));

        Assert.Equal(RunStatus.Failed, report.Status);
        Assert.Contains(report.Task("critical").Instances, i => i.Status == InstanceStatus.Failed);
    }

    [Fact]
    public async Task Run_SemaphoreCapacityThree_NeverMoreThanThreeHolders()
    {
        await using var engine = await Engine.StartAsync(slots: 8);
        Directory.CreateDirectory(engine.At("active"));
        const string yaml = """
            name: semaphore
            resources:
              pool: { capacity: 3 }
            tasks:
              use:
                for_each: "{{ 24 }}"
                locks: [pool]
                run: |
                  mkdir "active/$ORCH_INSTANCE"
                  ls active | wc -l >> concurrency.log
                  sleep 0.03
                  rmdir "active/$ORCH_INSTANCE"
            """;

        var report = await engine.RunAsync(yaml);

        Assert.True(report.Status == RunStatus.Succeeded, report.Describe());
        var seen = engine.Lines("concurrency.log").Select(l => int.Parse(l.Trim(), CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(24, seen.Count);
        Assert.InRange(seen.Max(), 2, 3); // shared by up to three at once, never more
    }

    [Fact]
    public async Task Run_KeyedTemplatedLocks_ResolvePerItem()
    {
        await using var engine = await Engine.StartAsync(slots: 8);
        Directory.CreateDirectory(engine.At("active"));
        const string yaml = """
            name: keyed
            resources:
              account: { capacity: 1 }
            tasks:
              touch:
                for_each: [x, y, x, y, x, y]
                locks: ["account:{{ item }}"]
                env: { KEY: "{{ item }}" }
                run: |
                  mkdir "held-$KEY" || { echo "account $KEY is already held" >&2; exit 1; }
                  mkdir "active/$ORCH_INSTANCE"
                  ls active | wc -l >> concurrency.log
                  echo "$ORCH_LOCKS" >> locks.log
                  sleep 0.05
                  rmdir "active/$ORCH_INSTANCE" "held-$KEY"
            """;

        var report = await engine.RunAsync(yaml);

        Assert.True(report.Status == RunStatus.Succeeded, report.Describe());
        var locks = engine.Lines("locks.log");
        Assert.Equal(["account:x=1", "account:x=2", "account:x=3", "account:y=1", "account:y=2", "account:y=3"], locks.Order(StringComparer.Ordinal));
        // x and y are different resources: at most one holder each, so at most two tasks at once.
        Assert.InRange(engine.Lines("concurrency.log").Select(l => int.Parse(l.Trim(), CultureInfo.InvariantCulture)).Max(), 1, 2);
    }

    [Fact]
    public async Task Run_Philosophers_AlwaysFinishWithExactMealCount()
    {
        await using var engine = await Engine.StartAsync(slots: 8);
        var yaml = File.ReadAllText(ShippedPipeline("philosophers.yml"));

        var report = await engine.RunAsync(yaml, ("table", engine.At("table")), ("meals", "20"));

        Assert.True(report.Status == RunStatus.Succeeded, report.Describe());
        Assert.Equal("100", report.Instance("clear_table").Outputs!["meals"]?.ToString()?.Trim());
        Assert.Equal(100, engine.Lines("table/meals.log").Length);
        for (var p = 0; p < 5; p++)
            Assert.Equal(20, engine.Lines("table/meals.log").Count(l => l.StartsWith($"philosopher {p} ", StringComparison.Ordinal)));
    }

    private const int Accounts = 4, Initial = 1000;

    /// <summary>The balances after every transfer of bank.yml's deterministic plan, applied one at a time.</summary>
    private static long[] SerialBalances(int transfers)
    {
        var balances = Enumerable.Repeat((long)Initial, Accounts).ToArray();
        for (var i = 0; i < transfers; i++)
        {
            var from = i * 7 % Accounts;
            var to = (from + 1 + i % (Accounts - 1)) % Accounts;
            var amount = i % 10 + 1;
            balances[from] -= amount;
            balances[to] += amount;
        }
        return balances;
    }

    private static long[] Balances(Engine engine) =>
        Enumerable.Range(0, Accounts).Select(a => Engine.ReadLong(engine.At($"vault/{a}"))).ToArray();

    [Fact]
    public async Task Run_Bank_ConservesBalancesExactly()
    {
        await using var engine = await Engine.StartAsync(slots: 8);
        var yaml = File.ReadAllText(ShippedPipeline("bank.yml"));

        var report = await engine.RunAsync(yaml, ("vault", engine.At("vault")), ("accounts", $"{Accounts}"), ("transfers", "80"));

        Assert.True(report.Status == RunStatus.Succeeded, report.Describe());
        Assert.Equal($"{Accounts * Initial}", report.Instance("audit").Outputs!["total"]);
        Assert.Equal(SerialBalances(80), Balances(engine));
    }

    [Fact]
    public async Task Run_BankWithoutLocks_LosesUpdates()
    {
        // Negative control: the same pipeline without its locks. Transfers on the same account
        // interleave and overwrite each other's balance, so the result differs from any serial order.
        await using var engine = await Engine.StartAsync(slots: 8);
        var yaml = File.ReadAllText(ShippedPipeline("bank.yml"));
        var unlocked = LocksBlock().Replace(yaml, "");
        Assert.DoesNotContain("locks:", unlocked);

        var report = await engine.RunAsync(unlocked, ("vault", engine.At("vault")), ("accounts", $"{Accounts}"), ("transfers", "80"));

        // Either an update was lost (balances differ from every serial order, and the audit
        // fails when the total moved) or a transfer read a balance while another was rewriting it.
        Assert.NotEqual(SerialBalances(80), Balances(engine));
        Assert.Equal(RunStatus.Failed, report.Status);
    }

    [Fact]
    public async Task Run_LockHolderWaitingForASlotLongerThanTheLease_KeepsItsResource()
    {
        // Two slots, both busy for 2.5 s with tasks that need no lock. Meanwhile two short
        // instances that need the mutex are granted it one after the other: the first holder
        // waits for a slot past its 1 s lease, the lease expires, and the second gets the mutex.
        await using var engine = await Engine.StartAsync(slots: 2);
        const string yaml = """
            name: lease-in-queue
            resources:
              m: { capacity: 1 }
            tasks:
              busy:
                for_each: [0, 1]
                uses: sleep
                with: { ms: 2500 }
              critical:
                for_each: [0, 1]
                locks: [m]
                run: |
                  mkdir inside || { echo "someone else is inside" >&2; exit 1; }
                  sleep 0.3
                  rmdir inside
            """;

        var report = await engine.RunAsync(yaml, [], s => s with { LeaseTime = TimeSpan.FromSeconds(1) });

        Assert.True(report.Status == RunStatus.Succeeded, report.Describe());
    }

    [GeneratedRegex(@"m=(\d+)")]
    private static partial Regex FencingToken();

    /// <summary>The transfer task's locks: the 'locks:' line and its list items.</summary>
    [GeneratedRegex(@"^ *locks:\n( *- .*\n)+", RegexOptions.Multiline)]
    private static partial Regex LocksBlock();
}
