using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Orch.Coordination.Artifacts;
using Orch.Coordination.Embedded;
using Orch.Coordination.Redis;
using Orch.Coordination.Tests.Redis;

namespace Orch.Coordination.Tests.Artifacts;

/// <summary>
/// A measurement, not a check of speed: put and get of a 256 MiB file through a loopback Redis
/// (and through the in-memory store, to show the cost outside the backend), printed as MB/s.
/// Explicit, so it runs only when asked for
/// (<c>dotnet test ... -- --filter-class *ArtifactThroughput --explicit on --report-trx</c>; the
/// figures are in the test output).
/// </summary>
public sealed class ArtifactThroughput
{
    private const int Size = 256 << 20;

    [Theory(Explicit = true)]
    [InlineData("redis", 1024, 4)]
    [InlineData("redis", 1024, 1)]
    [InlineData("redis", 1024, 8)]
    [InlineData("redis", 256, 8)]
    [InlineData("redis", 4096, 4)]
    [InlineData("memory", 1024, 4)]
    public async Task PutAndGet_256MiBFile_PrintsThroughput(string backend, int chunkKiB, int parallelism)
    {
        var ct = TestContext.Current.CancellationToken;
        var directory = Directory.CreateTempSubdirectory("orch-artifact-measure-").FullName;
        try
        {
            var source = Path.Combine(directory, "source.bin");
            await using (var file = File.Create(source))
            {
                var block = new byte[1 << 20];
                var random = new Random(42);
                for (var i = 0; i < Size / block.Length; i++)
                {
                    random.NextBytes(block);
                    await file.WriteAsync(block, ct);
                }
            }

            await using var redis = backend == "redis" ? await RedisTestConnection.StartAsync() : null;
            IStateStore state = redis is null ? new EmbeddedStateStore() : new RedisStateStore(redis.Database, redis.Prefix);
            var store = new ArtifactStore(state, new ArtifactLimits { ChunkBytes = chunkKiB << 10, Parallelism = parallelism });

            var put = Stopwatch.StartNew();
            var stored = await store.PutFileAsync("measure/source.bin", source, ct);
            put.Stop();
            var target = Path.Combine(directory, "target.bin");
            var get = Stopwatch.StartNew();
            await store.GetToFileAsync("measure/source.bin", target, ct);
            get.Stop();

            await using (var fetched = File.OpenRead(target))
                Assert.Equal(stored.Sha256, Convert.ToHexStringLower(await SHA256.HashDataAsync(fetched, ct)));
            var line = string.Create(CultureInfo.InvariantCulture,
                $"256 MiB through {(redis is null ? "the in-memory store" : "loopback Redis")}, {store.Limits.ChunkBytes >> 10} KiB chunks, {store.Limits.Parallelism} in flight: put {Size / 1e6 / put.Elapsed.TotalSeconds:0} MB/s ({put.Elapsed.TotalSeconds:0.00} s), get {Size / 1e6 / get.Elapsed.TotalSeconds:0} MB/s ({get.Elapsed.TotalSeconds:0.00} s)");
            TestContext.Current.TestOutputHelper?.WriteLine(line);
            TestContext.Current.SendDiagnosticMessage(line);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
