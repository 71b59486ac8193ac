using System.Text;
using System.Text.Json;
using Orch.Cli.Tests.Infrastructure;

namespace Orch.Cli.Tests;

/// <summary><c>make run</c>'s equivalent: pipelines/wordcount.yml end to end, checked against an independent count.</summary>
public sealed class WordCountTests(GeneratedCorpus generated) : IClassFixture<GeneratedCorpus>
{
    [Theory]
    [InlineData(0)] // the pipeline's default
    [InlineData(1)]
    [InlineData(13)]
    public async Task SampleCorpus_MatchesIndependentCount(int shards)
    {
        using var dir = new TempDir();
        var args = new List<string> { "run", Repo.Pipeline("wordcount.yml"), "-p", $"input={Repo.Corpus}", "-p", "output=out.json", "-p", "counts=counts.tsv" };
        if (shards > 0) args.AddRange(["-p", $"shards={shards}"]);

        var result = await OrchCli.RunAsync(dir.Path, [.. args]);

        Assert.True(result.ExitCode == 0, result.ToString());
        AssertMatches(WordCountOracle.OfPath(Repo.Corpus), dir, top: 20);
    }

    [Theory]
    [InlineData(1, 20)]
    [InlineData(5, 7)]
    [InlineData(13, 20)]
    public async Task GeneratedMultiByteCorpus_MatchesIndependentCount(int shards, int top)
    {
        using var dir = new TempDir();

        var result = await OrchCli.RunAsync(dir.Path, "run", Repo.Pipeline("wordcount.yml"),
            "-p", $"input={generated.Path}", "-p", "output=out/result.json", "-p", "counts=out/counts.tsv",
            "-p", $"shards={shards}", "-p", $"top={top}");

        Assert.True(result.ExitCode == 0, result.ToString());
        AssertMatches(generated.Oracle, dir, top, json: "out/result.json", tsv: "out/counts.tsv");
    }

    internal static void AssertMatches(WordCountOracle oracle, TempDir dir, int top, string json = "out.json", string tsv = "counts.tsv")
    {
        Assert.True(oracle.TotalWords > 0);
        using var document = JsonDocument.Parse(File.ReadAllBytes(dir[json]));
        var root = document.RootElement;
        Assert.Equal(["total_words", "distinct_words", "top"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(oracle.TotalWords, root.GetProperty("total_words").GetInt64());
        Assert.Equal(oracle.DistinctWords, root.GetProperty("distinct_words").GetInt64());
        var expectedTop = oracle.Sorted().Take(top).Select(x => $"{x.Word}:{x.Count}").ToList();
        var actualTop = root.GetProperty("top").EnumerateArray().Select(e => $"{e.GetProperty("word").GetString()}:{e.GetProperty("count").GetInt64()}").ToList();
        Assert.Equal(expectedTop, actualTop);

        var expectedTsv = oracle.Tsv();
        var actualTsv = File.ReadAllBytes(dir[tsv]);
        if (!expectedTsv.AsSpan().SequenceEqual(actualTsv))
        {
            // Show the first differing line rather than two megabytes of bytes.
            var e = Encoding.UTF8.GetString(expectedTsv).Split('\n');
            var a = Encoding.UTF8.GetString(actualTsv).Split('\n');
            var i = 0;
            while (i < e.Length && i < a.Length && e[i] == a[i]) i++;
            Assert.Fail($"TSV differs at line {i + 1}: expected '{(i < e.Length ? e[i] : "<end>")}', got '{(i < a.Length ? a[i] : "<end>")}' ({e.Length} vs {a.Length} lines)");
        }
    }
}

/// <summary>
/// A corpus of several files with words in many scripts (2-, 3- and 4-byte UTF-8, case mappings that change
/// the byte length), odd separators, invalid UTF-8, a BOM, CRLF, an empty file, and a 4-byte letter placed
/// across the counter's 1 MiB read boundary. Generated once per test class from a fixed seed.
/// </summary>
public sealed class GeneratedCorpus : IDisposable
{
    private static readonly string[] Words =
    [
        "the", "The", "THE", "a", "harbor", "Harbor", "naïve", "NAÏVE", "café", "Straße", "STRASSE", "Ærø", "ærø",
        "σοφία", "ΣΟΦΊΑ", "λόγος", "ΛΌΓΟΣ", "Москва", "МОСКВА", "ёлка", "Ёлка", "東京", "漢字", "ひらがな", "カタカナ",
        "كتاب", "שלום", "𐐀𐐨𐐵", "𐐷𐐯𐑅", "ＡＢＣ", "ａｂｃ", "Ｆｕｌｌ", "\u212Aelvin", "kelvin", "İstanbul", "istanbul",
        "Ⱥtom", "ⱥtom", "ǅemal", "ǆemal", "𝐀𝐁𝐂", "ß", "ŉ", "ﬁne", "Ǉ", "ᾈ", "ǰ", "x", "zz", "q",
    ];

    private static readonly string[] Separators =
    [
        " ", " ", " ", "\n", "\r\n", "\t", ", ", ". ", "—", "\u00A0", "\u2028", "😀", "👩‍👩‍👧", "123", "’", "'", "-", "_", "\u0301", "\u200D", "  ", "٣",
    ];

    public GeneratedCorpus()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "orch-cli-tests", "corpus-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(System.IO.Path.Combine(Path, "nested", "deeper"));
        var random = new Random(20240611);

        // big.txt: random text up to just before 1 MiB, then a word whose 4-byte letter straddles byte 1,048,576.
        var big = new MemoryStream();
        const int boundary = 1 << 20;
        var lead = "Straße"u8.ToArray();
        WriteRandom(big, random, boundary - 64);
        while (big.Length < boundary - 2 - lead.Length) big.WriteByte((byte)' ');
        big.Write(lead);
        big.Write(Encoding.UTF8.GetBytes("𐐀Ab 𐐀 ")); // 𐐀 occupies bytes boundary-2 .. boundary+1
        WriteRandom(big, random, 400_000);
        big.Write("tail-word-without-newline"u8);
        File.WriteAllBytes(System.IO.Path.Combine(Path, "big.txt"), big.ToArray());

        File.WriteAllBytes(System.IO.Path.Combine(Path, "empty.txt"), []);

        var bom = new MemoryStream();
        bom.Write([0xEF, 0xBB, 0xBF]);
        bom.Write(Encoding.UTF8.GetBytes("Byte order mark first\r\nthen CRLF lines\r\nΣΊΣΥΦΟΣ σίσυφος\r\n"));
        File.WriteAllBytes(System.IO.Path.Combine(Path, "nested", "bom.txt"), bom.ToArray());

        // Invalid UTF-8 separates words: a lone continuation byte, a truncated sequence, an overlong form, 0xFF.
        var invalid = new MemoryStream();
        invalid.Write("abc"u8);
        invalid.WriteByte(0x80);
        invalid.Write("def gh"u8);
        invalid.Write([0xE2, 0x82]);
        invalid.Write("ij kl"u8);
        invalid.Write([0xC0, 0xAF]);
        invalid.Write("mn "u8);
        invalid.WriteByte(0xFF);
        invalid.Write("op"u8);
        invalid.Write([0xF0, 0x90, 0x90]); // a truncated 4-byte letter at the very end of the file
        File.WriteAllBytes(System.IO.Path.Combine(Path, "nested", "deeper", "invalid.bin"), invalid.ToArray());

        for (var i = 0; i < 6; i++)
        {
            var small = new MemoryStream();
            WriteRandom(small, random, 3_000 + random.Next(20_000));
            File.WriteAllBytes(System.IO.Path.Combine(Path, i % 2 == 0 ? "nested" : ".", $"part-{i}.txt"), small.ToArray());
        }

        Oracle = WordCountOracle.OfPath(Path);
    }

    public string Path { get; }

    public WordCountOracle Oracle { get; }

    private static void WriteRandom(MemoryStream stream, Random random, long bytes)
    {
        var target = stream.Length + bytes;
        var sb = new StringBuilder();
        while (stream.Length < target)
        {
            sb.Clear();
            for (var k = 0; k < 256; k++)
            {
                // Skewed towards the front of the list so counts differ and ties are broken by the word order.
                var index = (int)(Math.Pow(random.NextDouble(), 2.5) * Words.Length);
                sb.Append(Words[index]);
                if (random.Next(8) == 0) sb.Append(Words[random.Next(Words.Length)]); // glue two words into one
                sb.Append(Separators[random.Next(Separators.Length)]);
            }
            stream.Write(Encoding.UTF8.GetBytes(sb.ToString()));
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
