using System.Buffers;
using System.Text;
using Orch.Actions.WordCount;

namespace Orch.Actions.Tests.WordCount;

public class WordCountSplitTests
{
    private static bool IsLetterAt(byte[] bytes, int offset)
    {
        var status = Rune.DecodeFromUtf8(bytes.AsSpan(offset), out var rune, out _);
        return status == OperationStatus.Done && Rune.IsLetter(rune);
    }

    private static bool IsLetterBefore(byte[] bytes, int offset)
    {
        var status = Rune.DecodeLastFromUtf8(bytes.AsSpan(0, offset), out var rune, out _);
        return status == OperationStatus.Done && Rune.IsLetter(rune);
    }

    /// <summary>Every segment edge inside a file sits on a rune start and not between two letters.</summary>
    private static void AssertCutsAtWordBoundaries(List<Dictionary<string, object?>> shards)
    {
        var contents = new Dictionary<string, byte[]>();
        var covered = new Dictionary<string, long>();
        foreach (var shard in shards)
        {
            foreach (var segment in ((List<object?>)shard["segments"]!).Cast<Dictionary<string, object?>>())
            {
                var path = (string)segment["path"]!;
                var offset = (long)segment["offset"]!;
                var length = (long)segment["length"]!;
                Assert.True(length > 0);
                if (!contents.TryGetValue(path, out var bytes)) contents[path] = bytes = File.ReadAllBytes(path);
                Assert.Equal(covered.GetValueOrDefault(path), offset); // contiguous, in order, no overlap
                covered[path] = offset + length;
                foreach (var edge in new[] { offset, offset + length })
                {
                    if (edge == 0 || edge == bytes.Length) continue;
                    Assert.NotEqual(0x80, bytes[edge] & 0xC0);
                    Assert.False(IsLetterBefore(bytes, (int)edge) && IsLetterAt(bytes, (int)edge), $"cut inside a word at {path}:{edge}");
                }
            }
        }
        foreach (var (path, bytes) in contents) Assert.Equal(bytes.Length, covered[path]);
    }

    [Fact]
    public void Plan_HugeTotal_CutsAtExactlyTotalTimesKOverShards()
    {
        // total = 3m + 2 with m = 2^61: total * 2 overflows a long. The cuts, floor(total * k / 3) = m and 2m + 1,
        // fall on file starts, so no file is read.
        const long m = 1L << 61;
        var files = new List<WordInputFile> { new("/no/a", m), new("/no/b", m + 1), new("/no/c", m + 1) };
        var plan = ShardPlanner.Plan(files, 3, TestContext.Current.CancellationToken);
        Assert.Equal(
            [new WordSegment("/no/a", 0, m), new WordSegment("/no/b", 0, m + 1), new WordSegment("/no/c", 0, m + 1)],
            plan.Select(shard => Assert.Single(shard.Segments)));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(9)]
    [InlineData(97)]
    [InlineData(5000)]
    public async Task Split_NeverCutsInsideAWord(int shards)
    {
        using var temp = new TempDir();
        var text = new StringBuilder();
        for (var i = 0; i < 300; i++) text.Append("Größenwahn 東京タワー naïveté Ωμέγα 𝐚𝐛𝐜𝐝 averyveryverylongwordwithoutanybreaks ").Append(i).Append('\n');
        temp.Write("in/one.txt", text.ToString());
        temp.Write("in/two.txt", "Straße" + text.ToString()[..500]);
        var shardList = await new WordCountPipeline(temp).SplitAsync("in", shards);

        Assert.InRange(shardList.Count, 1, shards);
        Assert.Equal(Enumerable.Range(0, shardList.Count).Select(i => (long)i), shardList.Select(s => (long)s["id"]!));
        AssertCutsAtWordBoundaries(shardList);
    }

    [Fact]
    public async Task Split_GeneratedCorpus_BalancesShardsAndCutsAtWordBoundaries()
    {
        using var temp = new TempDir();
        var pipeline = new WordCountPipeline(temp);
        await pipeline.RunAsync("wordcount/generate", new() { ["output"] = "corpus", ["size"] = 2_000_000L, ["files"] = 3L });
        var shardList = await pipeline.SplitAsync("corpus", 16);

        Assert.Equal(16, shardList.Count);
        AssertCutsAtWordBoundaries(shardList);
        foreach (var shard in shardList) Assert.InRange((long)shard["bytes"]!, 2_000_000 / 16 - 200, 2_000_000 / 16 + 200);
    }

    [Fact]
    public async Task Split_OutputsFilesBytesAndAbsoluteSegmentPaths()
    {
        using var temp = new TempDir();
        temp.Write("in/b.txt", "bravo charlie");
        temp.Write("in/a.txt", "alpha");
        temp.Write("in/c/empty.txt", "");
        var outputs = await new WordCountPipeline(temp).RunAsync("wordcount/split", new() { ["input"] = "in", ["shards"] = "1" });

        Assert.Equal(3L, outputs["files"]);
        Assert.Equal(18L, outputs["bytes"]);
        var shard = Assert.Single((List<object?>)outputs["shards"]!) as Dictionary<string, object?>;
        Assert.NotNull(shard);
        Assert.Equal(0L, shard["id"]);
        Assert.Equal(18L, shard["bytes"]);
        var segments = ((List<object?>)shard["segments"]!).Cast<Dictionary<string, object?>>().ToList();
        Assert.Equal([temp.Combine("in", "a.txt"), temp.Combine("in", "b.txt")], segments.Select(s => (string)s["path"]!).ToArray());
        Assert.Equal([0L, 0L], segments.Select(s => (long)s["offset"]!).ToArray());
        Assert.Equal([5L, 13L], segments.Select(s => (long)s["length"]!).ToArray());
    }

    [Fact]
    public async Task Split_MissingInput_ThrowsActionInputException()
    {
        using var temp = new TempDir();
        var e = await Assert.ThrowsAsync<ActionInputException>(() => new WordCountPipeline(temp).SplitAsync("no-such-dir", 2));
        Assert.Contains("no-such-dir", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Split_EmptyDirectory_ThrowsHasNoFiles()
    {
        using var temp = new TempDir();
        Directory.CreateDirectory(temp.Combine("empty", "sub"));
        var e = await Assert.ThrowsAsync<ActionInputException>(() => new WordCountPipeline(temp).SplitAsync("empty", 2));
        Assert.Equal("input 'empty' has no files", e.Message);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-3L)]
    public async Task Split_BadShardCount_ThrowsActionInputException(long shards)
    {
        using var temp = new TempDir();
        temp.Write("a.txt", "alpha");
        await Assert.ThrowsAsync<ActionInputException>(() => new WordCountPipeline(temp).RunAsync("wordcount/split", new() { ["input"] = "a.txt", ["shards"] = shards }));
    }

    [Fact]
    public void Plan_MoreShardsThanBytes_DropsEmptyShards()
    {
        using var temp = new TempDir();
        var a = temp.Write("a.txt", "ab cd");
        var plan = ShardPlanner.Plan([new WordInputFile(a, 5)], 50, TestContext.Current.CancellationToken);
        Assert.Equal(2, plan.Count);
        Assert.Equal([0, 1], plan.Select(s => s.Id).ToArray());
        Assert.Equal(5, plan.Sum(s => s.Bytes));
    }
}
