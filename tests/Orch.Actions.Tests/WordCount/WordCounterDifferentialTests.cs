using System.Text;
using Orch.Actions.WordCount;

namespace Orch.Actions.Tests.WordCount;

/// <summary>
/// The counter against <see cref="ReferenceCounter"/> on random mixes of ASCII, multi-byte UTF-8 (letters whose
/// lowercase changes length, marks, symbols) and invalid bytes, with every buffer and segment boundary position.
/// Seeds are fixed, so a failure reproduces.
/// </summary>
public class WordCounterDifferentialTests
{
    private static readonly string[] Pieces =
    [
        // ASCII separators, including the neighbours of the letter ranges.
        " ", "\n", ",", ". ", "0", "42", "@", "[", "`", "{", "\u007F", "\0", "\t", "'",
        // Two-byte letters; U+0130 lowercases to one byte, U+023A and U+023E to three.
        "é", "É", "ß", "ö", "Ö", "ø", "Σ", "ς", "Ж", "ж", "ǅ", "İ", "ı", "ĳ", "Ⱥ", "Ⱦ",
        // Two-byte non-letters: no-break space, multiplication sign, section sign, a combining mark.
        "\u00A0", "×", "§", "\u0301",
        // Three-byte letters: CJK, kana, capital sharp s, Kelvin sign (lowercases to ASCII k), a ligature.
        "東", "京", "タ", "ẞ", "\u212A", "ﬁ",
        // Three-byte non-letters: em dash, ideographic full stop, euro sign, byte order mark.
        "—", "。", "€", "\uFEFF",
        // Four-byte letters (Deseret capital lowercases to another four-byte letter) and a non-letter.
        "𝐀", "𐐀", "𐐨", "😀",
    ];

    private static readonly byte[][] Invalid =
    [
        [0x80], [0xBF], [0xC0], [0xC1], [0xF5], [0xFF], // never valid
        [0xC3], [0xE6, 0x9D], [0xF0, 0x9F, 0x98], // truncated sequences
        [0xE0, 0x80, 0x80], [0xC0, 0xAF], // overlong
        [0xED, 0xA0, 0x80], // a surrogate
        [0xF4, 0x90, 0x80, 0x80], // above U+10FFFF
    ];

    /// <summary>Random bytes: mostly ASCII words and separators, with multi-byte and invalid pieces sprinkled in.</summary>
    private static byte[] RandomText(Random rng, int length)
    {
        var bytes = new List<byte>(length + 80);
        while (bytes.Count < length)
        {
            var roll = rng.Next(100);
            if (roll < 45)
            {
                // An ASCII word, short or long, lower, upper or mixed case.
                var wordLength = rng.Next(10) == 0 ? rng.Next(1, 70) : rng.Next(1, 12);
                var caseMode = rng.Next(4);
                for (var k = 0; k < wordLength; k++)
                {
                    var c = (byte)('a' + rng.Next(26));
                    if (caseMode == 1 || (caseMode == 2 && k == 0) || (caseMode == 3 && rng.Next(2) == 0)) c -= 32;
                    bytes.Add(c);
                }
            }
            else if (roll < 80)
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(Pieces[rng.Next(14)])); // an ASCII separator
            }
            else if (roll < 96)
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(Pieces[rng.Next(Pieces.Length)]));
            }
            else
            {
                bytes.AddRange(Invalid[rng.Next(Invalid.Length)]);
            }
        }
        return [.. bytes];
    }

    private static Dictionary<string, long> Reference(params byte[][] parts)
    {
        var expected = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var part in parts) ReferenceCounter.CountBytes(part, expected);
        return expected;
    }

    private static void AssertTable(Dictionary<string, long> expected, WordCountTable table, string what)
    {
        var actual = table.ToDictionary();
        if (expected.Count != actual.Count || expected.Any(p => !actual.TryGetValue(p.Key, out var v) || v != p.Value))
        {
            var missing = expected.Where(p => actual.GetValueOrDefault(p.Key) != p.Value).Take(5).Select(p => $"{p.Key}={p.Value} (got {actual.GetValueOrDefault(p.Key)})");
            var extra = actual.Where(p => !expected.ContainsKey(p.Key)).Take(5).Select(p => $"{p.Key}={p.Value}");
            Assert.Fail($"{what}: expected {expected.Count} distinct, got {actual.Count}; wrong: {string.Join(", ", missing)}; unexpected: {string.Join(", ", extra)}");
        }
        Assert.Equal(expected.Values.Sum(), table.TotalWords);
        // Lookups by span hash the way counting does.
        foreach (var (word, count) in expected) Assert.Equal(count, table.GetCount(word));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void CountBytes_RandomMixedText_MatchesReference(int seed)
    {
        var rng = new Random(seed);
        for (var round = 0; round < 40; round++)
        {
            var bytes = RandomText(rng, rng.Next(0, 3000));
            using var table = new WordCountTable();
            WordCounter.CountBytes(bytes, table);
            AssertTable(Reference(bytes), table, $"seed {seed}, round {round}");
        }
    }

    [Theory]
    [InlineData(10)]
    [InlineData(11)]
    public void CountFile_RandomMixedText_EveryBufferSize_MatchesReference(int seed)
    {
        using var temp = new TempDir();
        var rng = new Random(seed);
        var bytes = RandomText(rng, 1500);
        var path = temp.WriteBytes("t.txt", bytes);
        var expected = Reference(bytes);
        for (var bufferSize = 16; bufferSize <= 400; bufferSize++)
        {
            using var table = new WordCountTable();
            WordCounter.CountFile(path, table, TestContext.Current.CancellationToken, bufferSize);
            AssertTable(expected, table, $"buffer {bufferSize}");
        }
    }

    [Theory]
    [InlineData(20, 64)]
    [InlineData(21, 100)]
    [InlineData(22, 300)]
    public void CountFile_RandomMixedText_EveryBoundaryPosition_MatchesReference(int seed, int bufferSize)
    {
        // Leading separators shift every byte of the text across the first buffer boundary in turn.
        using var temp = new TempDir();
        var rng = new Random(seed);
        var bytes = RandomText(rng, 700);
        var expected = Reference(bytes);
        for (var shift = 0; shift < bufferSize; shift++)
        {
            var path = temp.WriteBytes($"t{shift}.txt", [.. Enumerable.Repeat((byte)' ', shift), .. bytes]);
            using var table = new WordCountTable();
            WordCounter.CountFile(path, table, TestContext.Current.CancellationToken, bufferSize);
            AssertTable(expected, table, $"shift {shift}");
        }
    }

    [Theory]
    [InlineData(30)]
    [InlineData(31)]
    public void CountSegments_RandomMixedText_CutAtEveryPosition_EndsWordsThere(int seed)
    {
        using var temp = new TempDir();
        var rng = new Random(seed);
        var bytes = RandomText(rng, 260);
        var path = temp.WriteBytes("t.txt", bytes);
        for (var cut = 0; cut <= bytes.Length; cut++)
        {
            using var table = new WordCountTable();
            WordCounter.CountSegments([new WordSegment(path, 0, cut), new WordSegment(path, cut, bytes.Length - cut)], table, TestContext.Current.CancellationToken);
            AssertTable(Reference(bytes[..cut], bytes[cut..]), table, $"cut {cut}");
        }
    }

    [Fact]
    public void CountBytes_EveryWordLengthCaseAndAlignment_MatchesReference()
    {
        // Words of 1..80 bytes, with an upper-case letter or a multi-byte letter at the start, middle or end, or all multi-byte,
        // each after 0..40 separators, so that words start at every offset of a vector and end at every length.
        var text = new List<byte>();
        var rng = new Random(5);
        for (var length = 1; length <= 80; length++)
        {
            for (var variant = 0; variant < 8; variant++)
            {
                var word = new StringBuilder();
                // Variant 7: a letter whose lowercase is longer in UTF-8 (two bytes to three), length bytes of it.
                for (var k = 0; k < length; k++) word.Append(variant == 7 ? (k % 2 == 0 ? "" : "Ⱥ") : ((char)('a' + rng.Next(26))).ToString());
                var at = variant switch { 0 or 1 => 0, 2 or 3 => length / 2, 4 or 5 => length - 1, _ => -1 };
                if (at >= 0) word[at] = variant % 2 == 0 ? char.ToUpperInvariant(word[at]) : 'Ö';
                text.AddRange(Enumerable.Repeat((byte)' ', rng.Next(41)));
                text.AddRange(Encoding.UTF8.GetBytes(word.ToString()));
                text.Add((byte)".,\n-"[rng.Next(4)]);
            }
        }
        var bytes = text.ToArray();
        using var table = new WordCountTable();
        WordCounter.CountBytes(bytes, table);
        AssertTable(Reference(bytes), table, "in memory");

        using var temp = new TempDir();
        var path = temp.WriteBytes("t.txt", bytes);
        foreach (var bufferSize in new[] { 16, 47, 64, 1000, WordCounter.DefaultBufferSize })
        {
            using var fromFile = new WordCountTable();
            WordCounter.CountFile(path, fromFile, TestContext.Current.CancellationToken, bufferSize);
            AssertTable(Reference(bytes), fromFile, $"buffer {bufferSize}");
        }
    }

    [Fact]
    public void CountFile_LargeRandomText_ManyDistinctWords_MatchesReference()
    {
        // Over 1 MB with tens of thousands of distinct words: the table grows and long words go to its arena.
        using var temp = new TempDir();
        var rng = new Random(40);
        var bytes = RandomText(rng, 1_500_000);
        var path = temp.WriteBytes("t.txt", bytes);
        using var table = new WordCountTable();
        WordCounter.CountFile(path, table, TestContext.Current.CancellationToken);
        var expected = Reference(bytes);
        Assert.True(expected.Count > 20_000, $"only {expected.Count} distinct words");
        AssertTable(expected, table, "default buffer");
    }
}
