using System.Security.Cryptography;
using System.Text;
using Orch.Coordination.Artifacts;
using Orch.Coordination.Tests.Conformance;

namespace Orch.Coordination.Tests.Artifacts;

/// <summary>
/// What <see cref="ArtifactStore"/> must do over any <see cref="IStateStore"/>. Subclass it once
/// per adapter and implement <see cref="CreateState"/>. Keys live under a fresh prefix per test.
/// </summary>
public abstract class ArtifactStoreConformance : IAsyncLifetime
{
    /// <summary>Small chunks, so multi-chunk cases stay cheap.</summary>
    protected const int Chunk = 4096;

    private IStateStore? _inner;
    private readonly List<string> _directories = [];

    protected abstract IStateStore CreateState();

    /// <summary>The adapter under test, seen through a decorator that can fail or hold writes.</summary>
    internal InterceptingStateStore State { get; private set; } = null!;

    protected string Root { get; } = "artifact-tests/" + Guid.NewGuid().ToString("N")[..12] + "/artifacts/";

    private static readonly ArtifactLimits SmallChunks = new() { ChunkBytes = Chunk };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public virtual ValueTask InitializeAsync()
    {
        _inner = CreateState();
        State = new InterceptingStateStore(_inner);
        return ValueTask.CompletedTask;
    }

    public virtual async ValueTask DisposeAsync()
    {
        switch (_inner)
        {
            case IAsyncDisposable a: await a.DisposeAsync(); break;
            case IDisposable d: d.Dispose(); break;
        }
        foreach (var directory in _directories)
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        GC.SuppressFinalize(this);
    }

    private ArtifactStore Artifacts(ArtifactLimits? limits = null) => new(State, limits ?? SmallChunks, Root);

    private string TempDirectory()
    {
        var directory = Directory.CreateTempSubdirectory("orch-artifacts-").FullName;
        _directories.Add(directory);
        return directory;
    }

    private static byte[] Content(int size, int seed = 1)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private Task<IReadOnlyList<string>> ChunkKeys() => State.ListKeysAsync(Root + "chunks/", Ct).AsTask();

    private Task<IReadOnlyList<string>> ManifestKeys() => State.ListKeysAsync(Root + "manifests/", Ct).AsTask();

    private async Task<byte[]> Get(ArtifactStore store, string name)
    {
        using var destination = new MemoryStream();
        await store.GetAsync(name, destination, Ct);
        return destination.ToArray();
    }

    // ---- round trips --------------------------------------------------------------------------

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(Chunk - 1)]
    [InlineData(Chunk)]
    [InlineData(Chunk + 1)]
    [InlineData(3 * Chunk + 17)]
    public async Task PutThenGet_ReturnsTheSameBytes(int size)
    {
        var store = Artifacts();
        var content = Content(size);

        var stored = await store.PutAsync("out/data.bin", new MemoryStream(content), Ct);

        Assert.Equal(new ArtifactRef("out/data.bin", size, Convert.ToHexStringLower(SHA256.HashData(content)), (size + Chunk - 1) / Chunk), stored);
        Assert.Equal(content, await Get(store, "out/data.bin"));
        Assert.Equal(stored, await store.FindAsync("out/data.bin", Ct));
    }

    [Fact]
    public async Task PutFileThenGetToFile_LargeFileWithDefaultChunks_SameBytes()
    {
        var store = Artifacts(ArtifactLimits.Default);
        var directory = TempDirectory();
        var source = Path.Combine(directory, "source.bin");
        var content = Content(5 * (1 << 20) + 12345, seed: 7);
        await File.WriteAllBytesAsync(source, content, Ct);

        var stored = await store.PutFileAsync("corpus/big.bin", source, Ct);
        var target = Path.Combine(directory, "nested", "copy.bin");
        var fetched = await store.GetToFileAsync("corpus/big.bin", target, Ct);

        Assert.Equal(6, stored.ChunkCount);
        Assert.Equal(stored, fetched);
        Assert.Equal(content, await File.ReadAllBytesAsync(target, Ct));
        Assert.Equal(["copy.bin"], Directory.GetFiles(Path.GetDirectoryName(target)!).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Put_NonSeekableStream_RoundTrips()
    {
        var store = Artifacts();
        var content = Content(5 * Chunk + 3);

        await store.PutAsync("piped", new OneWayStream(content), Ct);

        Assert.Equal(content, await Get(store, "piped"));
    }

    [Theory]
    [InlineData("a..b/c...d")]
    [InlineData("x%41y/100%")]
    [InlineData("日本/語 with space.txt")]
    [InlineData("odd@name/.hidden")]
    [InlineData("ends.tmp")]
    public async Task Names_WithCharactersKeysMightMangle_RoundTripAndList(string name)
    {
        var store = Artifacts();
        var content = Encoding.UTF8.GetBytes(name);

        await store.PutAsync(name, new MemoryStream(content), Ct);

        Assert.Equal([name], (await store.ListAsync("", Ct)).Select(r => r.Name));
        Assert.Equal(content, await Get(store, name));
    }

    [Fact]
    public async Task Names_OneIsAPrefixDirectoryOfAnother_BothKept()
    {
        var store = Artifacts();
        await store.PutAsync("a", new MemoryStream("file a"u8.ToArray()), Ct);
        await store.PutAsync("a/b", new MemoryStream("file a/b"u8.ToArray()), Ct);

        Assert.Equal("file a"u8.ToArray(), await Get(store, "a"));
        Assert.Equal("file a/b"u8.ToArray(), await Get(store, "a/b"));
    }

    [Fact]
    public async Task Put_SameNameAgain_ReplacesTheContent()
    {
        var store = Artifacts();
        await store.PutAsync("result", new MemoryStream(Content(100, seed: 1)), Ct);
        await store.PutAsync("result", new MemoryStream(Content(50, seed: 2)), Ct);

        Assert.Equal(Content(50, seed: 2), await Get(store, "result"));
    }

    [Fact]
    public async Task GetByRef_AfterTheNameWasReplaced_FailsAsChanged()
    {
        var store = Artifacts();
        var first = await store.PutAsync("result", new MemoryStream(Content(100, seed: 1)), Ct);
        await store.GetAsync(first, Stream.Null, Ct);
        await store.PutAsync("result", new MemoryStream(Content(100, seed: 2)), Ct);

        var error = await Assert.ThrowsAsync<ArtifactException>(() => store.GetAsync(first, Stream.Null, Ct));

        Assert.Equal(ArtifactError.Changed, error.Error);
        Assert.Contains("'result' changed", error.Message, StringComparison.Ordinal);
    }

    // ---- deduplication ------------------------------------------------------------------------

    [Fact]
    public async Task Put_SameContentTwice_StoresNoNewChunks()
    {
        var store = Artifacts();
        var content = Content(3 * Chunk + 5);
        await store.PutAsync("run-1/corpus", new MemoryStream(content), Ct);
        var chunksAfterFirst = await ChunkKeys();

        await store.PutAsync("run-2/corpus", new MemoryStream(content), Ct);

        Assert.Equal(4, chunksAfterFirst.Count);
        Assert.Equal(chunksAfterFirst, await ChunkKeys());
        Assert.Equal(2, (await ManifestKeys()).Count);
        Assert.Equal(content, await Get(store, "run-2/corpus"));
    }

    [Fact]
    public async Task PutFile_SameFileAgain_SendsNothingButItsUploadMarker()
    {
        var store = Artifacts();
        var path = Path.Combine(TempDirectory(), "corpus.txt");
        await File.WriteAllBytesAsync(path, Content(3 * Chunk + 5), Ct);
        var first = await store.PutFileAsync("inputs/corpus.txt", path, Ct);
        var written = new List<string>();
        State.BeforeSet = key =>
        {
            lock (written) written.Add(key);
            return Task.CompletedTask;
        };

        var second = await store.PutFileAsync("inputs/corpus.txt", path, Ct);

        Assert.Equal(first, second);
        Assert.StartsWith(Root + "uploads/", Assert.Single(written), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PutFile_SameFileAfterTheStoreLostAChunk_StoresItAgain()
    {
        var store = Artifacts();
        var path = Path.Combine(TempDirectory(), "corpus.txt");
        var content = Content(3 * Chunk + 5);
        await File.WriteAllBytesAsync(path, content, Ct);
        await store.PutFileAsync("inputs/corpus.txt", path, Ct);
        await State.DeleteAsync((await ChunkKeys())[1], Ct);

        await store.PutFileAsync("inputs/corpus.txt", path, Ct);

        Assert.Equal(4, (await ChunkKeys()).Count);
        Assert.Equal(content, await Get(store, "inputs/corpus.txt"));
    }

    [Fact]
    public async Task PutFile_SameSizeOtherContent_IsStored()
    {
        var store = Artifacts();
        var path = Path.Combine(TempDirectory(), "result");
        await File.WriteAllBytesAsync(path, Content(100, seed: 1), Ct);
        await store.PutFileAsync("result", path, Ct);
        await File.WriteAllBytesAsync(path, Content(100, seed: 2), Ct);

        await store.PutFileAsync("result", path, Ct);

        Assert.Equal(Content(100, seed: 2), await Get(store, "result"));
    }

    [Fact]
    public async Task Put_RepeatedBlocksWithinOneArtifact_StoredOnce()
    {
        var store = Artifacts();
        var block = Content(Chunk);
        var content = block.Concat(block).Concat(block).ToArray();

        var stored = await store.PutAsync("repeats", new MemoryStream(content), Ct);

        Assert.Equal(3, stored.ChunkCount);
        Assert.Single(await ChunkKeys());
        Assert.Equal(content, await Get(store, "repeats"));
    }

    // ---- crash safety and damage --------------------------------------------------------------

    [Fact]
    public async Task Put_StoreFailsMidUpload_NoManifestAndGetSaysNotFound()
    {
        var store = Artifacts();
        var chunkWrites = 0;
        State.BeforeSet = key =>
        {
            if (key.StartsWith(Root + "chunks/", StringComparison.Ordinal) && Interlocked.Increment(ref chunkWrites) > 2)
                throw new IOException("simulated store failure");
            return Task.CompletedTask;
        };

        await Assert.ThrowsAsync<IOException>(() => store.PutAsync("half", new MemoryStream(Content(6 * Chunk)), Ct));
        State.BeforeSet = null;

        Assert.NotEmpty(await ChunkKeys());
        Assert.Empty(await ManifestKeys());
        Assert.Null(await store.FindAsync("half", Ct));
        var error = await Assert.ThrowsAsync<ArtifactException>(() => store.GetAsync("half", Stream.Null, Ct));
        Assert.Equal(ArtifactError.NotFound, error.Error);
        Assert.Contains("'half' not found", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_MissingChunk_SaysWhichChunkOfWhichArtifact()
    {
        var store = Artifacts();
        var content = Content(3 * Chunk);
        await store.PutAsync("shard-2", new MemoryStream(content), Ct);
        var second = Convert.ToHexStringLower(SHA256.HashData(content.AsSpan(Chunk, Chunk)));
        Assert.True(await State.DeleteAsync((await ChunkKeys()).Single(k => k.EndsWith(second, StringComparison.Ordinal)), Ct));

        var error = await Assert.ThrowsAsync<ArtifactException>(() => store.GetAsync("shard-2", Stream.Null, Ct));

        Assert.Equal(ArtifactError.MissingChunk, error.Error);
        Assert.Equal("shard-2", error.Artifact);
        Assert.Contains("missing chunk 2 of 3 of artifact 'shard-2' (store lost data?)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_CorruptedChunk_SaysHashMismatchAndRemovesTheBadChunk()
    {
        var store = Artifacts();
        var content = Content(2 * Chunk);
        await store.PutAsync("model", new MemoryStream(content), Ct);
        var key = (await ChunkKeys())[0];
        var damaged = (await State.GetAsync(key, Ct))!.Value;
        damaged[10] ^= 0xFF;
        await State.TrySetAsync(key, damaged, null, Ct);

        var error = await Assert.ThrowsAsync<ArtifactException>(() => store.GetAsync("model", Stream.Null, Ct));

        Assert.Equal(ArtifactError.Corrupted, error.Error);
        Assert.Contains("of artifact 'model' is corrupted (hash mismatch", error.Message, StringComparison.Ordinal);
        Assert.Null(await State.GetAsync(key, Ct));

        // With the bad chunk gone, uploading the same content again repairs the artifact.
        await store.PutAsync("model", new MemoryStream(content), Ct);
        Assert.Equal(content, await Get(store, "model"));
    }

    [Fact]
    public async Task Get_TruncatedChunk_IsCorrupted()
    {
        var store = Artifacts();
        await store.PutAsync("short", new MemoryStream(Content(Chunk + 10)), Ct);
        var key = (await ChunkKeys())[0];
        var value = (await State.GetAsync(key, Ct))!.Value;
        await State.TrySetAsync(key, value.AsMemory(0, value.Length - 1), null, Ct);

        var error = await Assert.ThrowsAsync<ArtifactException>(() => store.GetAsync("short", Stream.Null, Ct));

        Assert.Equal(ArtifactError.Corrupted, error.Error);
    }

    [Fact]
    public async Task Get_ManifestNotJson_SaysTheManifestCannotBeRead()
    {
        var store = Artifacts();
        await store.PutAsync("broken", new MemoryStream(Content(10)), Ct);
        await State.TrySetAsync(Assert.Single(await ManifestKeys()), "{not json"u8.ToArray(), null, Ct);

        var error = await Assert.ThrowsAsync<ArtifactException>(() => store.GetAsync("broken", Stream.Null, Ct));

        Assert.Equal(ArtifactError.Corrupted, error.Error);
        Assert.Contains("manifest of artifact 'broken' cannot be read", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetToFile_MissingChunk_LeavesNoFileBehindAndKeepsTheOldOne()
    {
        var store = Artifacts();
        await store.PutAsync("data", new MemoryStream(Content(3 * Chunk)), Ct);
        foreach (var key in await ChunkKeys()) await State.DeleteAsync(key, Ct);
        var directory = TempDirectory();
        var target = Path.Combine(directory, "data.bin");
        await File.WriteAllTextAsync(target, "previous", Ct);

        var error = await Assert.ThrowsAsync<ArtifactException>(() => store.GetToFileAsync("data", target, Ct));

        Assert.Equal(ArtifactError.MissingChunk, error.Error);
        Assert.Equal(["data.bin"], Directory.GetFiles(directory).Select(Path.GetFileName));
        Assert.Equal("previous", await File.ReadAllTextAsync(target, Ct));
    }

    // ---- limits -------------------------------------------------------------------------------

    [Fact]
    public async Task Put_StreamLargerThanTheLimit_FailsNamingTheLimitAndStoresNoManifest()
    {
        var store = Artifacts(SmallChunks with { MaxArtifactBytes = 10_000 });

        var error = await Assert.ThrowsAsync<ArtifactException>(() => store.PutAsync("huge", new OneWayStream(Content(10_001)), Ct));

        Assert.Equal(ArtifactError.TooLarge, error.Error);
        Assert.Contains("'huge' is larger than the limit of 10000 bytes (9.77 KiB) (ArtifactLimits.MaxArtifactBytes)", error.Message, StringComparison.Ordinal);
        Assert.Empty(await ManifestKeys());
    }

    [Fact]
    public async Task PutFile_LargerThanTheLimit_FailsBeforeStoringAnything()
    {
        var store = Artifacts(SmallChunks with { MaxArtifactBytes = 10_000 });
        var path = Path.Combine(TempDirectory(), "big");
        await File.WriteAllBytesAsync(path, Content(10_001), Ct);

        var error = await Assert.ThrowsAsync<ArtifactException>(() => store.PutFileAsync("big", path, Ct));

        Assert.Contains("'big' is 10001 bytes (9.77 KiB), more than the limit of 10000 bytes", error.Message, StringComparison.Ordinal);
        Assert.Empty(await ChunkKeys());
    }

    [Fact]
    public async Task Put_ExactlyAtTheLimit_Succeeds()
    {
        var store = Artifacts(SmallChunks with { MaxArtifactBytes = 10_000 });

        var stored = await store.PutAsync("fits", new OneWayStream(Content(10_000)), Ct);

        Assert.Equal(10_000, stored.Size);
    }

    [Fact]
    public async Task Get_ArtifactLargerThanTheReadersLimit_Refused()
    {
        await Artifacts().PutAsync("big", new MemoryStream(Content(10_001)), Ct);
        var reader = Artifacts(SmallChunks with { MaxArtifactBytes = 10_000 });

        var error = await Assert.ThrowsAsync<ArtifactException>(() => reader.GetAsync("big", Stream.Null, Ct));

        Assert.Equal(ArtifactError.TooLarge, error.Error);
        Assert.Contains("limit of 10000 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_ChunksLargerThanTheReadersLimit_Refused()
    {
        await Artifacts(new ArtifactLimits { ChunkBytes = 2 * Chunk }).PutAsync("wide", new MemoryStream(Content(10)), Ct);
        var reader = Artifacts(new ArtifactLimits { ChunkBytes = Chunk, MaxChunkBytes = Chunk });

        var error = await Assert.ThrowsAsync<ArtifactException>(() => reader.GetAsync("wide", Stream.Null, Ct));

        Assert.Contains("(ArtifactLimits.MaxChunkBytes)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PutDirectory_TotalLargerThanTheLimit_FailsBeforeStoringAnything()
    {
        var store = Artifacts(SmallChunks with { MaxDirectoryBytes = 1000 });
        var directory = TempDirectory();
        await File.WriteAllBytesAsync(Path.Combine(directory, "a"), Content(600), Ct);
        await File.WriteAllBytesAsync(Path.Combine(directory, "b"), Content(401), Ct);

        var error = await Assert.ThrowsAsync<ArtifactException>(() => store.PutDirectoryAsync("inputs/corpus", directory, Ct));

        Assert.Equal(ArtifactError.TooLarge, error.Error);
        Assert.Contains("'inputs/corpus' holds 1001 bytes in 2 files, more than the limit of 1000 bytes (ArtifactLimits.MaxDirectoryBytes)", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, State.Writes);
    }

    [Fact]
    public async Task PutDirectory_MoreFilesThanTheLimit_Fails()
    {
        var store = Artifacts(SmallChunks with { MaxDirectoryFiles = 2 });
        var directory = TempDirectory();
        foreach (var name in new[] { "a", "b", "c" }) await File.WriteAllTextAsync(Path.Combine(directory, name), name, Ct);

        var error = await Assert.ThrowsAsync<ArtifactException>(() => store.PutDirectoryAsync("inputs", directory, Ct));

        Assert.Contains("has 3 files, more than the limit of 2 (ArtifactLimits.MaxDirectoryFiles)", error.Message, StringComparison.Ordinal);
    }

    // ---- names --------------------------------------------------------------------------------

    [Theory]
    [InlineData("")]
    [InlineData("../escape")]
    [InlineData("a/../../escape")]
    [InlineData("/absolute")]
    [InlineData("a//b")]
    [InlineData("a/")]
    [InlineData("a/./b")]
    [InlineData("a\\..\\b")]
    [InlineData("line\nbreak")]
    public async Task PutAndGet_UnsafeName_Rejected(string name)
    {
        var store = Artifacts();

        var put = await Assert.ThrowsAsync<ArtifactException>(() => store.PutAsync(name, new MemoryStream([1]), Ct));
        var get = await Assert.ThrowsAsync<ArtifactException>(() => store.GetToFileAsync(name, Path.Combine(TempDirectory(), "x"), Ct));

        Assert.Equal(ArtifactError.InvalidName, put.Error);
        Assert.Equal(ArtifactError.InvalidName, get.Error);
        Assert.StartsWith("artifact name '", put.Message, StringComparison.Ordinal);
        Assert.Equal(0, State.Writes);
    }

    [Fact]
    public async Task GetDirectory_NameInTheStoreThatLeavesTheDirectory_RefusedBeforeWritingAnything()
    {
        var store = Artifacts();
        await store.PutAsync("inputs/fine.txt", new MemoryStream("fine"u8.ToArray()), Ct);
        // Another client wrote a manifest whose name climbs out of the prefix.
        await store.PutAsync("inputs/evil", new MemoryStream("evil"u8.ToArray()), Ct);
        var evilKey = (await ManifestKeys()).Single(k => k.Contains("evil", StringComparison.Ordinal));
        var manifest = Encoding.UTF8.GetString((await State.GetAsync(evilKey, Ct))!.Value).Replace("inputs/evil", "inputs/../evil", StringComparison.Ordinal);
        await State.DeleteAsync(evilKey, Ct);
        await State.TrySetAsync(evilKey.Replace("inputs/evil", "inputs/.%2E/evil", StringComparison.Ordinal), Encoding.UTF8.GetBytes(manifest), null, Ct);
        Assert.Equal(["inputs/../evil", "inputs/fine.txt"], (await store.ListAsync("inputs/", Ct)).Select(r => r.Name));
        var parent = TempDirectory();
        var target = Path.Combine(parent, "target");

        var error = await Assert.ThrowsAsync<ArtifactException>(() => store.GetDirectoryAsync("inputs", target, Ct));

        Assert.Equal(ArtifactError.InvalidName, error.Error);
        Assert.Contains("would be written outside", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(parent, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task PutDirectory_PrefixThatClimbs_Rejected()
    {
        var error = await Assert.ThrowsAsync<ArtifactException>(() => Artifacts().PutDirectoryAsync("../up", TempDirectory(), Ct));
        Assert.Equal(ArtifactError.InvalidName, error.Error);
    }

    // ---- directories, listing, deleting -------------------------------------------------------

    [Fact]
    public async Task Directory_RoundTrip_KeepsRelativePathsAndBytes()
    {
        var store = Artifacts();
        var source = TempDirectory();
        var files = new Dictionary<string, byte[]>
        {
            ["a.txt"] = "alpha"u8.ToArray(),
            ["empty"] = [],
            [".hidden"] = "dot"u8.ToArray(),
            ["sub/deeper/b.bin"] = Content(2 * Chunk + 1),
            ["sub/with space é.txt"] = "unicode"u8.ToArray(),
        };
        foreach (var (name, bytes) in files)
        {
            var path = Path.Combine(source, name);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await File.WriteAllBytesAsync(path, bytes, Ct);
        }

        var stored = await store.PutDirectoryAsync("runs/r1/inputs/corpus", source, Ct);
        var target = Path.Combine(TempDirectory(), "fetched");
        var fetched = await store.GetDirectoryAsync("runs/r1/inputs/corpus", target, Ct);

        Assert.Equal(files.Keys.Select(k => "runs/r1/inputs/corpus/" + k).Order(StringComparer.Ordinal), stored.Select(r => r.Name));
        Assert.Equal(stored, fetched);
        var written = Directory.GetFiles(target, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(target, f).Replace(Path.DirectorySeparatorChar, '/'), File.ReadAllBytes);
        Assert.Equal(files.OrderBy(f => f.Key, StringComparer.Ordinal), written.OrderBy(f => f.Key, StringComparer.Ordinal));
    }

    [Fact]
    public async Task PutDirectory_Again_RemovesArtifactsOfFilesThatAreGone()
    {
        var store = Artifacts();
        var source = TempDirectory();
        await File.WriteAllTextAsync(Path.Combine(source, "keep"), "k", Ct);
        await File.WriteAllTextAsync(Path.Combine(source, "drop"), "d", Ct);
        await store.PutDirectoryAsync("in", source, Ct);
        await store.PutAsync("in-other", new MemoryStream([1]), Ct);
        File.Delete(Path.Combine(source, "drop"));

        await store.PutDirectoryAsync("in", source, Ct);

        Assert.Equal(["in-other", "in/keep"], (await store.ListAsync("in", Ct)).Select(r => r.Name));
    }

    [Fact]
    public async Task PutDirectory_ManyFilesUnchanged_SecondPutSendsNothingButItsUploadMarker()
    {
        var store = Artifacts();
        var source = TempDirectory();
        for (var i = 0; i < 30; i++) await File.WriteAllBytesAsync(Path.Combine(source, $"part-{i:00}.txt"), Content(i * 700, seed: i), Ct);
        var first = await store.PutDirectoryAsync("corpus", source, Ct);
        var written = new List<string>();
        State.BeforeSet = key =>
        {
            lock (written) written.Add(key);
            return Task.CompletedTask;
        };

        var second = await store.PutDirectoryAsync("corpus", source, Ct);

        Assert.Equal(30, first.Count);
        Assert.Equal(first, second);
        Assert.StartsWith(Root + "uploads/", Assert.Single(written), StringComparison.Ordinal);
        var target = TempDirectory();
        await store.GetDirectoryAsync("corpus", target, Ct);
        for (var i = 0; i < 30; i++) Assert.Equal(Content(i * 700, seed: i), await File.ReadAllBytesAsync(Path.Combine(target, $"part-{i:00}.txt"), Ct));
    }

    [Fact]
    public async Task List_ReturnsArtifactsUnderThePrefixInOrdinalOrder()
    {
        var store = Artifacts();
        foreach (var name in new[] { "runs/10/x", "runs/1/b", "runs/1/a", "runs/1/B", "other/1/a" })
            await store.PutAsync(name, new MemoryStream(Encoding.UTF8.GetBytes(name)), Ct);

        var listed = await store.ListAsync("runs/1/", Ct);

        Assert.Equal(["runs/1/B", "runs/1/a", "runs/1/b"], listed.Select(r => r.Name));
        Assert.All(listed, r => Assert.Equal(r.Name.Length, r.Size));
    }

    [Theory]
    [InlineData("a.", new[] { "a..b", "a.c" })]
    [InlineData("a..", new[] { "a..b" })]
    [InlineData("a%", new[] { "a%d" })]
    public async Task List_PrefixWithEscapedCharacters_MatchesLikeAPlainPrefix(string prefix, string[] expected)
    {
        var store = Artifacts();
        foreach (var name in new[] { "a..b", "a.c", "ab", "a%d" }) await store.PutAsync(name, new MemoryStream([1]), Ct);

        Assert.Equal(expected, (await store.ListAsync(prefix, Ct)).Select(r => r.Name));
    }

    [Fact]
    public async Task DeleteThenCollect_LeavesNoOrphanChunksAndKeepsSharedOnes()
    {
        var store = Artifacts();
        var shared = Content(Chunk, seed: 1);
        var a = shared.Concat(Content(Chunk, seed: 2)).ToArray();
        var b = shared.Concat(Content(Chunk, seed: 3)).ToArray();
        await store.PutAsync("runs/1/a", new MemoryStream(a), Ct);
        await store.PutAsync("runs/2/b", new MemoryStream(b), Ct);
        Assert.Equal(3, (await ChunkKeys()).Count);

        Assert.Equal(1, await store.DeleteAsync("runs/1/", Ct));
        Assert.Equal(3, (await ChunkKeys()).Count);
        var first = await store.CollectGarbageAsync(Ct);

        Assert.Equal(new GarbageCollection(null, 2, 1, 0), first);
        Assert.Equal(b, await Get(store, "runs/2/b"));

        await store.DeleteAsync("runs/", Ct);
        var second = await store.CollectGarbageAsync(Ct);

        Assert.Equal(new GarbageCollection(null, 0, 2, 0), second);
        Assert.Empty(await State.ListKeysAsync(Root, Ct));
    }

    [Fact]
    public async Task Collect_AfterAFailedUpload_RemovesItsChunks()
    {
        var store = Artifacts();
        State.BeforeSet = key => key.Contains("/manifests/", StringComparison.Ordinal) ? throw new IOException("simulated store failure") : Task.CompletedTask;
        await Assert.ThrowsAsync<IOException>(() => store.PutAsync("lost", new MemoryStream(Content(2 * Chunk)), Ct));
        State.BeforeSet = null;
        Assert.Equal(2, (await ChunkKeys()).Count);

        var collected = await store.CollectGarbageAsync(Ct);

        Assert.Equal(2, collected.ChunksDeleted);
        Assert.Empty(await State.ListKeysAsync(Root, Ct));
    }

    [Fact]
    public async Task Collect_WhileAnUploadIsInProgress_SkipsAndTheUploadSurvives()
    {
        var store = Artifacts();
        var content = Content(2 * Chunk);
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        State.BeforeSet = async key =>
        {
            if (!key.Contains("/manifests/", StringComparison.Ordinal)) return;
            held.TrySetResult();
            await release.Task;
        };

        // Held with its chunks stored but no manifest yet: every chunk looks unreferenced.
        var upload = store.PutAsync("in-flight", new MemoryStream(content), Ct);
        await held.Task.Within();
        var collected = await store.CollectGarbageAsync(Ct);
        release.TrySetResult();
        await upload.Within();
        State.BeforeSet = null;

        Assert.Contains("upload is in progress", collected.Skipped, StringComparison.Ordinal);
        Assert.Equal(0, collected.ChunksDeleted);
        Assert.Equal(content, await Get(store, "in-flight"));
        Assert.Equal(new GarbageCollection(null, 2, 0, 0), await store.CollectGarbageAsync(Ct));
    }

    [Fact]
    public async Task Put_WhileACollectionIsRunning_WaitsForItToEnd()
    {
        var store = Artifacts();
        await State.TrySetAsync(Root + "gc", Encoding.UTF8.GetBytes(DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture)), 0, Ct);

        var upload = store.PutAsync("waiting", new MemoryStream([1, 2, 3]), Ct);
        await Async.AssertStillWaiting(upload, "an upload must not start while a collection runs");
        Assert.Empty(await ChunkKeys());
        await State.DeleteAsync(Root + "gc", Ct);

        await upload.Within();
        Assert.Equal([1, 2, 3], await Get(store, "waiting"));
    }

    [Fact]
    public async Task Collect_UploadMarkerOlderThanTheLimit_TreatedAsAbandoned()
    {
        var store = Artifacts(SmallChunks with { MaxUploadDuration = TimeSpan.FromMinutes(10), ClockSkew = TimeSpan.FromMinutes(1) });
        var stamp = DateTimeOffset.UtcNow - TimeSpan.FromMinutes(12);
        await State.TrySetAsync(Root + "uploads/crashed", Encoding.UTF8.GetBytes(stamp.ToString("O", System.Globalization.CultureInfo.InvariantCulture)), 0, Ct);

        var collected = await store.CollectGarbageAsync(Ct);

        Assert.Equal(new GarbageCollection(null, 0, 0, 1), collected);
        Assert.Empty(await State.ListKeysAsync(Root, Ct));
    }

    [Fact]
    public async Task Collect_UploadMarkerYoungerThanTheLimit_Respected()
    {
        var store = Artifacts(SmallChunks with { MaxUploadDuration = TimeSpan.FromMinutes(10), ClockSkew = TimeSpan.FromMinutes(1) });
        var stamp = DateTimeOffset.UtcNow - TimeSpan.FromMinutes(9);
        await State.TrySetAsync(Root + "uploads/slow", Encoding.UTF8.GetBytes(stamp.ToString("O", System.Globalization.CultureInfo.InvariantCulture)), 0, Ct);

        var collected = await store.CollectGarbageAsync(Ct);

        Assert.NotNull(collected.Skipped);
        Assert.NotNull(await State.GetAsync(Root + "uploads/slow", Ct));
        Assert.Null(await State.GetAsync(Root + "gc", Ct));
    }

    [Fact]
    public async Task Put_TakingLongerThanTheUploadLimit_FailsWithoutAManifest()
    {
        var store = Artifacts(SmallChunks with { MaxUploadDuration = TimeSpan.FromMilliseconds(50) });
        State.BeforeSet = key => key.Contains("/chunks/", StringComparison.Ordinal) ? Task.Delay(200, Ct) : Task.CompletedTask;

        var error = await Assert.ThrowsAsync<ArtifactException>(() => store.PutAsync("slow", new MemoryStream([1]), Ct));

        Assert.Equal(ArtifactError.TooSlow, error.Error);
        Assert.Contains("(ArtifactLimits.MaxUploadDuration)", error.Message, StringComparison.Ordinal);
        Assert.Empty(await ManifestKeys());
    }

    [Fact]
    public async Task Put_LeavesNoUploadMarkerBehind_EvenWhenItFails()
    {
        var store = Artifacts();
        await store.PutAsync("ok", new MemoryStream([1]), Ct);
        await Assert.ThrowsAsync<ArtifactException>(() => store.PutAsync("../bad", new MemoryStream([1]), Ct));
        State.BeforeSet = key => key.Contains("/chunks/", StringComparison.Ordinal) ? throw new IOException("simulated store failure") : Task.CompletedTask;
        await Assert.ThrowsAsync<IOException>(() => store.PutAsync("failing", new MemoryStream([1]), Ct));

        Assert.Empty(await State.ListKeysAsync(Root + "uploads/", Ct));
    }

    /// <summary>A stream that can only be read forward and reads in odd-sized pieces, like a pipe.</summary>
    private sealed class OneWayStream(byte[] content) : Stream
    {
        private int _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Math.Min(Math.Min(count, 1000), content.Length - _position);
            Array.Copy(content, _position, buffer, offset, n);
            _position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
