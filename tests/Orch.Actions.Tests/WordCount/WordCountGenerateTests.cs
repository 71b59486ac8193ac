using System.Text;
using Orch.Actions.WordCount;

namespace Orch.Actions.Tests.WordCount;

public class WordCountGenerateTests
{
    private static async Task<IReadOnlyDictionary<string, object?>> GenerateAsync(TempDir temp, string output, object size, long files, long seed) =>
        await new WordCountPipeline(temp).RunAsync("wordcount/generate", new() { ["output"] = output, ["size"] = size, ["files"] = files, ["seed"] = seed });

    [Fact]
    public async Task Generate_IsDeterministicForASeed()
    {
        using var temp = new TempDir();
        await GenerateAsync(temp, "a", "1MiB", 3, 7);
        await GenerateAsync(temp, "b", "1MiB", 3, 7);
        await GenerateAsync(temp, "c", "1MiB", 3, 8);

        var a = ReferenceCounter.FilesUnder(temp.Combine("a"));
        var b = ReferenceCounter.FilesUnder(temp.Combine("b"));
        var c = ReferenceCounter.FilesUnder(temp.Combine("c"));
        Assert.Equal(3, a.Count);
        for (var i = 0; i < a.Count; i++)
        {
            Assert.Equal(File.ReadAllBytes(a[i]), File.ReadAllBytes(b[i]));
            Assert.NotEqual(File.ReadAllBytes(a[i]), File.ReadAllBytes(c[i]));
        }
    }

    [Theory]
    [InlineData(1_000_000L, 1L)]
    [InlineData(5_000_001L, 8L)]
    [InlineData(777L, 4L)]
    public async Task Generate_HitsTheSize(long size, long files)
    {
        using var temp = new TempDir();
        var outputs = await GenerateAsync(temp, "corpus", size, files, 1);

        var written = ReferenceCounter.FilesUnder(temp.Combine("corpus"));
        Assert.Equal(files, written.Count);
        var total = written.Sum(f => new FileInfo(f).Length);
        Assert.InRange(total, size - size / 1000, size + size / 1000);
        Assert.Equal(total, outputs["bytes"]);
        Assert.Equal(files, outputs["files"]);
    }

    [Fact]
    public async Task Generate_ProducesZipfLikeTextWithNonAsciiWords()
    {
        using var temp = new TempDir();
        await GenerateAsync(temp, "corpus", 2_000_000L, 2, 1);
        var files = ReferenceCounter.FilesUnder(temp.Combine("corpus"));
        var counts = ReferenceCounter.CountFiles(files);
        var sorted = ReferenceCounter.Sorted(counts);

        Assert.InRange(counts.Count, 5_000, 60_000);
        Assert.True(sorted[0].Value > 10 * sorted[100].Value, "frequencies should fall off steeply");
        Assert.Contains("größe", counts.Keys);
        Assert.Contains("東京", counts.Keys);
        Assert.Contains(counts.Keys, w => w.Any(c => c > 0x7F));
        var text = File.ReadAllText(files[0], Encoding.UTF8);
        Assert.Contains('\n', text);
        Assert.Contains(text, char.IsAsciiDigit);
        Assert.Contains(text, char.IsUpper);
    }

    [Theory]
    [InlineData("4096", 4096L)]
    [InlineData("10MiB", 10L * 1024 * 1024)]
    [InlineData("256MB", 256_000_000L)]
    [InlineData("1GB", 1_000_000_000L)]
    [InlineData("1.5 KiB", 1536L)]
    [InlineData("2gib", 2L * 1024 * 1024 * 1024)]
    [InlineData(12345L, 12345L)]
    [InlineData(2048.0, 2048L)]
    public void ParseSize_AcceptsNumbersAndUnits(object value, long expected) =>
        Assert.Equal(expected, CorpusGenerator.ParseSize(value));

    [Theory]
    [InlineData("12 parsecs")]
    [InlineData("MB")]
    [InlineData("-5MB")]
    public void ParseSize_Rejects_Garbage(string value) =>
        Assert.Throws<ActionInputException>(() => CorpusGenerator.ParseSize(value));
}
