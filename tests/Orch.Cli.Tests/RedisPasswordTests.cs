using Orch.Cli.Tests.Infrastructure;
using Orch.Coordination.Tests.Redis;
using Orch.Hosting;

namespace Orch.Cli.Tests;

/// <summary>A redis-server that wants a password: orch and orch-agent take it from the address or the environment, and never show it.</summary>
public sealed class RedisPasswordTests : IAsyncLifetime
{
    // A comma and an at sign: neither may break the address or the connection settings.
    private const string Password = "pa55,w@rd-only-the-test-knows";

    private RedisServer? _redis;
    private readonly TempDir _dir = new();

    private string Backend => $"redis://127.0.0.1:{_redis!.Port}";

    public async ValueTask InitializeAsync() => _redis = await RedisServer.StartAsync(password: Password);

    public async ValueTask DisposeAsync()
    {
        if (_redis is not null) await _redis.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task Run_PasswordFromTheEnvironment_RunsOnAnAgentWithThePasswordInItsAddress_AndNeitherShowsIt()
    {
        var keyFile = _dir["cluster.key"];
        ClusterKeyFiles.Write(keyFile);
        var withPassword = $"redis://:{Uri.EscapeDataString(Password)}@127.0.0.1:{_redis!.Port}";
        await using var agent = AgentProcess.StartServing(withPassword, "agent-auth", keyFile);
        var pipeline = _dir.Write("hello.yml", """
            name: hello
            tasks:
              hello:
                run: echo authenticated > ran.txt
            """);

        var result = await OrchCli.RunAsync(_dir.Path, new Dictionary<string, string> { ["ORCH_REDIS_PASSWORD"] = Password },
            "run", pipeline, "--backend", Backend, "--cluster-key-file", keyFile);

        Assert.True(result.ExitCode == 0, result + "\n--- agent ---\n" + agent.Output);
        Assert.Equal("authenticated", _dir.Read("ran.txt").Trim());
        Assert.DoesNotContain("w@rd", result.Stdout + result.Stderr + agent.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agents_WithoutThePassword_Exits30SayingOneIsWanted()
    {
        var result = await OrchCli.RunAsync(_dir.Path, "agents", "--backend", Backend);

        Assert.True(result.ExitCode == 30, result.ToString());
        Assert.Contains($"Redis at 127.0.0.1:{_redis!.Port} wants a password", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("ORCH_REDIS_PASSWORD", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agents_WithAWrongPasswordInTheAddress_Exits30WithoutShowingIt()
    {
        var result = await OrchCli.RunAsync(_dir.Path, "agents", "--backend", $"redis://:not-the-one@127.0.0.1:{_redis!.Port}");

        Assert.True(result.ExitCode == 30, result.ToString());
        Assert.Contains("refused the credentials", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("not-the-one", result.Stdout + result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("redis://:secret@db.example:6379", "redis://:***@db.example:6379")]
    [InlineData("rediss://orch:secret@db.example", "rediss://orch:***@db.example")]
    [InlineData("redis://db.example:6379", "redis://db.example:6379")]
    public void Display_HidesThePassword(string address, string shown) => Assert.Equal(shown, BackendAddress.Display(address));

    [Theory]
    [InlineData("redis://:secret@db.example:6379/3")]
    [InlineData("redis://:secret@db.example:6379?x=1")]
    [InlineData("mysql://:secret@db.example")]
    public void Problem_OfAnAddressItCannotUse_DoesNotShowThePassword(string address)
    {
        var problem = BackendAddress.Problem(address);

        Assert.NotNull(problem);
        Assert.DoesNotContain("secret", problem, StringComparison.Ordinal);
    }
}
