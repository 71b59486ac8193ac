using System.Diagnostics;
using Orch.Cli.Tests.Infrastructure;
using Orch.Coordination.Tests.Redis;

namespace Orch.Cli.Tests;

/// <summary>
/// A redis-server that speaks only TLS, with a certificate from a CA of the test's own (made with
/// openssl): rediss:// addresses, and ORCH_REDIS_CA_FILE to trust that CA.
/// </summary>
public sealed class RedisTlsTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private RedisServer? _redis;

    private string Backend => $"rediss://127.0.0.1:{_redis!.Port}";
    private string CaFile => _dir["tls/ca.pem"];

    public async ValueTask InitializeAsync()
    {
        var tls = Directory.CreateDirectory(_dir["tls"]).FullName;
        await OpensslAsync(tls, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=orch test CA");
        await OpensslAsync(tls, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
        File.WriteAllText(Path.Combine(tls, "san.cnf"), "subjectAltName=IP:127.0.0.1\n");
        await OpensslAsync(tls, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.cnf");
        _redis = await RedisServer.StartAsync(tls: tls);
    }

    public async ValueTask DisposeAsync()
    {
        if (_redis is not null) await _redis.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task Run_OverTls_WithThePrivateCaTrusted_RunsOnTheAgent()
    {
        var keyFile = _dir["cluster.key"];
        ClusterKeyFiles.Write(keyFile);
        var trustCa = new Dictionary<string, string> { ["ORCH_REDIS_CA_FILE"] = CaFile };
        await using var agent = AgentProcess.Start(trustCa, $"--Agent:Backend={Backend}", "--Agent:Id=agent-tls", $"--Agent:ClusterKeyFile={keyFile}");
        var pipeline = _dir.Write("hello.yml", """
            name: hello
            tasks:
              hello:
                run: echo encrypted > ran.txt
            """);

        var result = await OrchCli.RunAsync(_dir.Path, trustCa, "run", pipeline, "--backend", Backend, "--cluster-key-file", keyFile);

        Assert.True(result.ExitCode == 0, result + "\n--- agent ---\n" + agent.Output);
        Assert.Equal("encrypted", _dir.Read("ran.txt").Trim());
    }

    [Fact]
    public async Task Agents_WithoutTrustingTheCa_Exits30SayingTheHandshakeFailedAndWhatToSet()
    {
        var result = await OrchCli.RunAsync(_dir.Path, "agents", "--backend", Backend);

        Assert.True(result.ExitCode == 30, result.ToString());
        Assert.Contains("TLS handshake", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("ORCH_REDIS_CA_FILE", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agents_WithACaFileThatIsNotACertificate_IsAUsageErrorNamingIt()
    {
        var notACertificate = _dir.Write("not-a-cert.pem", "hello");

        var result = await OrchCli.RunAsync(_dir.Path, new Dictionary<string, string> { ["ORCH_REDIS_CA_FILE"] = notACertificate }, "agents", "--backend", Backend);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("not-a-cert.pem", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    private static async Task OpensslAsync(string directory, params string[] args)
    {
        var start = new ProcessStartInfo("openssl") { WorkingDirectory = directory, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"openssl {string.Join(' ', args)}: {await errors}");
    }
}
