using System.Text;
using System.Text.Json;
using Orch.Actions.WordCount;

namespace Orch.Actions.Tests.WordCount;

public class WordCountPipelineTests
{
    private static string SampleCorpus()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "examples", "wordcount", "corpus");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new InvalidOperationException("examples/wordcount/corpus not found above the test output directory");
    }

    [Fact]
    public void DefaultRegistry_HasTheWordCountActions()
    {
        var registry = ActionRegistry.CreateDefault();
        foreach (var name in new[] { "wordcount/split", "wordcount/count", "wordcount/merge", "wordcount/generate" })
            Assert.True(registry.TryGet(name, out _), name);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public async Task SampleCorpus_SplitCountMerge_MatchesReferenceCounter(int shards)
    {
        using var temp = new TempDir();
        var corpus = SampleCorpus();
        var expected = ReferenceCounter.CountFiles(ReferenceCounter.FilesUnder(corpus));
        Assert.True(expected.ContainsKey("größe") && expected.ContainsKey("東京") && expected.ContainsKey("café"));

        var pipeline = new WordCountPipeline(temp);
        var (json, outputs, shardList) = await pipeline.RunAllAsync(corpus, shards, top: 1000, tsv: true);

        Assert.Equal(shards, shardList.Count);
        WordCountPipeline.AssertMatches(expected, json, 1000);
        pipeline.AssertTsvMatches(expected);
        Assert.Equal(expected.Values.Sum(), outputs["total_words"]);
        Assert.Equal((long)expected.Count, outputs["distinct_words"]);
        Assert.Equal(pipeline.OutputPath, outputs["output"]);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(8)]
    [InlineData(64)]
    public async Task Merge_ManyShards_MatchesReferenceCounter(int shards)
    {
        using var temp = new TempDir();
        var pipeline = new WordCountPipeline(temp);
        var generated = await pipeline.RunAsync("wordcount/generate", new() { ["output"] = "corpus", ["size"] = "3MB", ["files"] = 5L, ["seed"] = 11L });
        Assert.Equal(3_000_000L, generated["bytes"]);
        var corpus = temp.Combine("corpus");
        var expected = ReferenceCounter.CountFiles(ReferenceCounter.FilesUnder(corpus));

        var (json, _, shardList) = await pipeline.RunAllAsync(corpus, shards, top: 200, tsv: true);

        Assert.InRange(shardList.Count, Math.Max(1, shards - 1), shards);
        Assert.Equal(3_000_000L, shardList.Sum(s => (long)s["bytes"]!));
        WordCountPipeline.AssertMatches(expected, json, 200);
        pipeline.AssertTsvMatches(expected);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(23)]
    [InlineData(100)]
    [InlineData(1000)]
    public async Task Split_MultiByteLettersAtCutPoints_MatchesReferenceCounter(int shards)
    {
        using var temp = new TempDir();
        var text = new StringBuilder();
        for (var i = 0; i < 40; i++)
        {
            text.Append("東京東京東京 GRÖSSE größeÄÖÜ ΑΒΓδεζ 𝐚𝐛𝐜 ﬁ");
            text.Append(i % 3 == 0 ? "\r\n" : "-");
            text.Append("Привет、мир。日本語のテキスト");
            text.Append(i);
        }
        temp.Write("in/a.txt", text.ToString());
        temp.Write("in/b.txt", "ééééé" + text.ToString()[..200] + "ÉÉÉ");
        var expected = ReferenceCounter.CountFiles(ReferenceCounter.FilesUnder(temp.Combine("in")));

        var pipeline = new WordCountPipeline(temp);
        var (json, _, shardList) = await pipeline.RunAllAsync("in", shards, top: 10_000, tsv: true);

        Assert.True(shardList.Count <= shards);
        WordCountPipeline.AssertMatches(expected, json, 10_000);
        pipeline.AssertTsvMatches(expected);
    }

    [Fact]
    public async Task EmptyFilesAndFilesWithoutLetters_AreCountedCorrectly()
    {
        using var temp = new TempDir();
        temp.Write("in/0-empty.txt", "");
        temp.Write("in/1-words.txt", "alpha beta\nGamma alpha");
        temp.Write("in/2-empty.txt", "");
        temp.Write("in/3-digits.txt", "123 456, 7.89 -- ( ) !!! \n\n 2024-01-01");
        temp.Write("in/sub/4-words.txt", "beta ALPHA");
        temp.Write("in/sub/5-empty.txt", "");
        var pipeline = new WordCountPipeline(temp);

        for (var shards = 1; shards <= 6; shards++)
        {
            var (json, _, shardList) = await pipeline.RunAllAsync("in", shards, tsv: true);
            WordCountPipeline.AssertMatches(new() { ["alpha"] = 3, ["beta"] = 2, ["gamma"] = 1 }, json, 20);
            pipeline.AssertTsvMatches(new() { ["alpha"] = 3, ["beta"] = 2, ["gamma"] = 1 });
            Assert.All(shardList, s => Assert.True((long)s["bytes"]! > 0));
        }
    }

    [Fact]
    public async Task OnlyNonLetters_GiveZeroWords()
    {
        using var temp = new TempDir();
        temp.Write("digits.txt", "123 456 789\n!!!");
        var (json, outputs, _) = await new WordCountPipeline(temp).RunAllAsync("digits.txt", 3);
        Assert.Equal(0, json.RootElement.GetProperty("total_words").GetInt64());
        Assert.Equal(0, json.RootElement.GetProperty("distinct_words").GetInt64());
        Assert.Equal(0, json.RootElement.GetProperty("top").GetArrayLength());
        Assert.Equal(0L, outputs["total_words"]);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task WordsAcrossFileBoundaries_DoNotJoin(int shards)
    {
        using var temp = new TempDir();
        temp.Write("in/a.txt", "hel");
        temp.Write("in/b.txt", "lo wor");
        temp.Write("in/c.txt", "ld größ");
        temp.Write("in/d.txt", "e");

        var (json, _, _) = await new WordCountPipeline(temp).RunAllAsync("in", shards);

        WordCountPipeline.AssertMatches(new() { ["hel"] = 1, ["lo"] = 1, ["wor"] = 1, ["ld"] = 1, ["größ"] = 1, ["e"] = 1 }, json, 20);
    }

    [Fact]
    public async Task CrLfLineEndings_SeparateWords()
    {
        using var temp = new TempDir();
        temp.Write("crlf.txt", "Hello\r\nworld\r\nHELLO\r\n\r\nWorld\rhello\r\n");
        var (json, _, _) = await new WordCountPipeline(temp).RunAllAsync("crlf.txt", 2);
        WordCountPipeline.AssertMatches(new() { ["hello"] = 3, ["world"] = 2 }, json, 20);
    }

    [Fact]
    public async Task Merge_WritesTsv_InCountThenCodePointOrder()
    {
        using var temp = new TempDir();
        // "ﬁ" (U+FB01) sorts before "𝐚" (U+1D41A) by code point, but after it by UTF-16 code unit.
        temp.Write("t.txt", "b a c B ﬁ 𝐚 zz Zz éa eb 1x");
        var pipeline = new WordCountPipeline(temp);
        await pipeline.RunAllAsync("t.txt", 2, tsv: true);
        Assert.Equal("b\t2\nzz\t2\na\t1\nc\t1\neb\t1\nx\t1\néa\t1\nﬁ\t1\n𝐚\t1\n", File.ReadAllText(pipeline.TsvPath, Encoding.UTF8));
    }

    [Fact]
    public async Task Merge_WithoutCounts_WritesNoTsv()
    {
        using var temp = new TempDir();
        temp.Write("t.txt", "one two two");
        var pipeline = new WordCountPipeline(temp);
        await pipeline.RunAllAsync("t.txt", 1);
        Assert.False(File.Exists(pipeline.TsvPath));
    }

    [Fact]
    public async Task Merge_WritesExactJsonShape()
    {
        using var temp = new TempDir();
        temp.Write("t.txt", "Größe größe café Café CAFÉ the The a b c d e f g h i j k l m n o p q r s t u v w x y z");
        var pipeline = new WordCountPipeline(temp);

        var (json, _, _) = await pipeline.RunAllAsync("t.txt", 3);

        var root = json.RootElement;
        Assert.Equal(["total_words", "distinct_words", "top"], root.EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal(JsonValueKind.Number, root.GetProperty("total_words").ValueKind);
        Assert.Equal(33, root.GetProperty("total_words").GetInt64());
        Assert.Equal(29, root.GetProperty("distinct_words").GetInt64());
        var top = root.GetProperty("top").EnumerateArray().ToList();
        Assert.Equal(20, top.Count);
        Assert.All(top, e => Assert.Equal(["word", "count"], e.EnumerateObject().Select(p => p.Name).ToArray()));
        Assert.Equal("café", top[0].GetProperty("word").GetString());
        Assert.Equal(3, top[0].GetProperty("count").GetInt64());
        Assert.Equal("größe", top[1].GetProperty("word").GetString());
        Assert.Equal("the", top[2].GetProperty("word").GetString());
        Assert.Equal("a", top[3].GetProperty("word").GetString());
        var raw = File.ReadAllText(pipeline.OutputPath, Encoding.UTF8);
        Assert.Contains("\"größe\"", raw, StringComparison.Ordinal);
        Assert.Contains("\"café\"", raw, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0L, 0)]
    [InlineData(2L, 2)]
    [InlineData("3", 3)]
    [InlineData(100L, 5)]
    public async Task Merge_Top_LimitsTheList(object top, int expected)
    {
        using var temp = new TempDir();
        temp.Write("t.txt", "a a a b b c d e");
        var pipeline = new WordCountPipeline(temp);
        var shards = await pipeline.SplitAsync("t.txt", 1);
        var counted = await pipeline.RunAsync("wordcount/count", new() { ["shard"] = shards[0] });
        await pipeline.RunAsync("wordcount/merge", new() { ["partials"] = new List<object?> { counted["counts"] }, ["output"] = "r.json", ["top"] = top });
        using var json = JsonDocument.Parse(File.ReadAllText(temp.Combine("r.json")));
        Assert.Equal(expected, json.RootElement.GetProperty("top").GetArrayLength());
    }

    [Fact]
    public async Task Count_AcceptsLenientNumbersAndOutputsTotals()
    {
        using var temp = new TempDir();
        var path = temp.Write("t.txt", "xx one two three yy");
        var shard = new Dictionary<string, object?>
        {
            ["id"] = "4",
            ["segments"] = new List<object?>
            {
                new Dictionary<string, object?> { ["path"] = "t.txt", ["offset"] = 3.0, ["length"] = "13" },
            },
            ["bytes"] = 13.0,
        };
        var pipeline = new WordCountPipeline(temp);
        var counted = await pipeline.RunAsync("wordcount/count", new() { ["shard"] = shard });
        Assert.Equal(3L, counted["words"]);
        Assert.Equal(3L, counted["distinct"]);
        var counts = (string)counted["counts"]!;
        Assert.True(File.Exists(counts));

        using var table = new WordCountTable();
        CountsFile.ReadInto(counts, table, TestContext.Current.CancellationToken);
        Assert.Equal(new Dictionary<string, long> { ["one"] = 1, ["two"] = 1, ["three"] = 1 }, table.ToDictionary());
        Assert.True(File.Exists(path));
    }

    [Fact]
    public async Task Count_BadShard_ThrowsActionInputException()
    {
        using var temp = new TempDir();
        var pipeline = new WordCountPipeline(temp);
        await Assert.ThrowsAsync<ActionInputException>(async () => await pipeline.RunAsync("wordcount/count", new() { ["shard"] = "not a shard" }));
        await Assert.ThrowsAsync<ActionInputException>(async () => await pipeline.RunAsync("wordcount/count", new()
        {
            ["shard"] = new Dictionary<string, object?> { ["segments"] = new List<object?> { new Dictionary<string, object?> { ["path"] = "missing.txt", ["offset"] = 0L, ["length"] = 3L } } },
        }));
    }

    [Theory]
    [InlineData("wordcount/split")]
    [InlineData("wordcount/count")]
    [InlineData("wordcount/merge")]
    public async Task BadInputs_ComeBackAsAFaultedTask_NotAsAThrow(string action)
    {
        using var temp = new TempDir();
        Assert.True(ActionRegistry.CreateDefault().TryGet(action, out var impl));
        var context = new ActionContext { With = new Dictionary<string, object?>(), WorkingDirectory = temp.Path, ArtifactDirectory = temp.Combine("a") };
        var task = impl.ExecuteAsync(context, TestContext.Current.CancellationToken);
        Assert.True(task.IsFaulted);
        await Assert.ThrowsAsync<ActionInputException>(async () => await task);
    }

    [Fact]
    public async Task Merge_MissingPartial_ThrowsActionInputException()
    {
        using var temp = new TempDir();
        var pipeline = new WordCountPipeline(temp);
        var e = await Assert.ThrowsAsync<ActionInputException>(async () => await pipeline.RunAsync("wordcount/merge", new()
        {
            ["partials"] = new List<object?> { "nope.bin" },
            ["output"] = "r.json",
        }));
        Assert.Contains("nope.bin", e.Message, StringComparison.Ordinal);
    }
}
