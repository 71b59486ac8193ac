using System.Text;
using Orch.Actions.WordCount;

namespace Orch.Actions.Tests.WordCount;

public class WordCounterTests
{
    private const string Tricky =
        "Hello, WORLD! hello\tworld... Größe GRÖẞE straße 東京タワー 東京 naïve NAÏVE café-Crème " +
        "ǅemal İstanbul ΣΊΣΥΦΟΣ 𝐀𝐛𝐜 ﬁne x1y2z3 don't e\u0301tude " +
        "averyveryverylongwordthatiswaylongerthanthetinybuffersusedinthistestandthensome end";

    [Theory]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(19)]
    [InlineData(31)]
    [InlineData(4096)]
    public void CountFile_AnyBufferSize_MatchesReferenceCounter(int bufferSize)
    {
        using var temp = new TempDir();
        var bytes = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat(Tricky + "\n", 5)))
            .Concat(new byte[] { 0xFF, (byte)'a', 0xE6, 0x9D, (byte)'b', 0xC3 }).ToArray(); // invalid and truncated UTF-8
        var path = temp.WriteBytes("t.txt", bytes);
        var expected = new Dictionary<string, long>(StringComparer.Ordinal);
        ReferenceCounter.CountBytes(bytes, expected);

        using var table = new WordCountTable();
        WordCounter.CountFile(path, table, TestContext.Current.CancellationToken, bufferSize);

        Assert.Equal(expected.OrderBy(p => p.Key, StringComparer.Ordinal), table.ToDictionary().OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal(expected.Values.Sum(), table.TotalWords);
    }

    [Fact]
    public void CountBytes_LowercasesInvariantly()
    {
        using var table = new WordCountTable();
        WordCounter.CountBytes("ÀÉÎ àéî ΑΒΓ αβγ ÆØÅ æøå DŽ dž"u8, table);
        Assert.Equal(new Dictionary<string, long> { ["àéî"] = 2, ["αβγ"] = 2, ["æøå"] = 2, ["dž"] = 2 }, table.ToDictionary());
    }

    [Fact]
    public void CountSegments_SegmentEdgesEndWords()
    {
        using var temp = new TempDir();
        var path = temp.Write("t.txt", "abcdef");
        using var table = new WordCountTable();
        WordCounter.CountSegments([new WordSegment(path, 0, 2), new WordSegment(path, 2, 4)], table, TestContext.Current.CancellationToken);
        Assert.Equal(new Dictionary<string, long> { ["ab"] = 1, ["cdef"] = 1 }, table.ToDictionary());
    }

    [Fact]
    public void CountSegments_SegmentBeyondEndOfFile_Throws()
    {
        using var temp = new TempDir();
        var path = temp.Write("t.txt", "abc");
        using var table = new WordCountTable();
        Assert.Throws<IOException>(() => WordCounter.CountSegments([new WordSegment(path, 0, 10)], table, TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Table_ManyDistinctWords_GrowsAndSortsByCountThenBytes()
    {
        using var table = new WordCountTable();
        var expected = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < 200_000; i++)
        {
            var word = "w" + (i % 70_001).ToString("x", System.Globalization.CultureInfo.InvariantCulture).Replace('0', 'ö').Replace('1', 'q').Replace('2', 'r')
                .Replace('3', 's').Replace('4', 't').Replace('5', 'u').Replace('6', 'v').Replace('7', 'w').Replace('8', 'y').Replace('9', 'z');
            table.Increment(Encoding.UTF8.GetBytes(word));
            expected[word] = expected.GetValueOrDefault(word) + 1;
        }
        Assert.Equal(expected.Count, table.Count);
        Assert.Equal(200_000, table.TotalWords);
        Assert.Equal(expected, table.ToDictionary());

        var sorted = table.GetSortedHandles().Select(h => Encoding.UTF8.GetString(table.GetWord(h))).ToList();
        Assert.Equal(ReferenceCounter.Sorted(expected).Select(p => p.Key), sorted);
        foreach (var top in new[] { 1, 7, 100, 20_000 })
            Assert.Equal(sorted.Take(top), table.GetTopHandles(top).Select(h => Encoding.UTF8.GetString(table.GetWord(h))));
    }

    [Fact]
    public void Table_MergeFromAndEnsureCapacity_KeepEveryCount()
    {
        using var a = new WordCountTable();
        using var b = new WordCountTable();
        var expected = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < 30_000; i++)
        {
            // Short and long (arena) words; b's share half of a's.
            var word = (i % 3 == 0 ? "long-word-in-the-arena-" : "w") + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            a.Add(Encoding.UTF8.GetBytes(word), i + 1);
            expected[word] = i + 1;
            if (i % 2 == 0)
            {
                var other = i % 4 == 0 ? word : word + "b";
                b.Add(Encoding.UTF8.GetBytes(other), 7);
                expected[other] = expected.GetValueOrDefault(other) + 7;
            }
        }
        a.EnsureCapacity(100);
        a.EnsureCapacity(200_000);
        a.MergeFrom(b);
        Assert.Equal(expected, a.ToDictionary());
        Assert.Equal(expected.Values.Sum(), a.TotalWords);
        foreach (var (word, count) in expected) Assert.Equal(count, a.GetCount(word));
    }

    [Fact]
    public void CountsFile_RoundTrips_AndRejectsGarbage()
    {
        using var temp = new TempDir();
        using var table = new WordCountTable();
        WordCounter.CountBytes(Encoding.UTF8.GetBytes(Tricky + new string('z', 3_000_000)), table);
        var path = temp.Combine("p.bin");
        CountsFile.Write(path, table, TestContext.Current.CancellationToken);

        using var copy = new WordCountTable();
        var (distinct, total) = CountsFile.ReadInto(path, copy, TestContext.Current.CancellationToken);
        Assert.Equal(table.Count, distinct);
        Assert.Equal(table.TotalWords, total);
        Assert.Equal(table.ToDictionary(), copy.ToDictionary());

        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^1]);
        Assert.Throws<InvalidDataException>(() => CountsFile.ReadInto(path, new WordCountTable(), TestContext.Current.CancellationToken));
        File.WriteAllBytes(path, "hello world"u8.ToArray());
        Assert.Throws<InvalidDataException>(() => CountsFile.ReadInto(path, new WordCountTable(), TestContext.Current.CancellationToken));
    }
}
