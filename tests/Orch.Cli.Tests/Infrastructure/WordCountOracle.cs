using System.Buffers;
using System.Text;

namespace Orch.Cli.Tests.Infrastructure;

/// <summary>
/// An independent, deliberately simple word count to check orch's against: a word is a maximal run of
/// runes for which <see cref="Rune.IsLetter"/> holds, lowercased with <see cref="Rune.ToLowerInvariant"/>;
/// anything else (including invalid UTF-8 and the end of a file) separates words. Ordering: count
/// descending, then the word's UTF-8 bytes ordinally (which is code point order).
/// </summary>
public sealed class WordCountOracle
{
    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);

    public long TotalWords { get; private set; }

    public int DistinctWords => _counts.Count;

    public static WordCountOracle OfPath(string path)
    {
        var oracle = new WordCountOracle();
        var files = File.Exists(path) ? [path] : Directory.GetFiles(path, "*", SearchOption.AllDirectories);
        foreach (var file in files) oracle.Add(File.ReadAllBytes(file));
        return oracle;
    }

    public void Add(ReadOnlySpan<byte> utf8)
    {
        var word = new StringBuilder();
        Span<char> chars = stackalloc char[2];
        while (!utf8.IsEmpty)
        {
            var status = Rune.DecodeFromUtf8(utf8, out var rune, out var consumed);
            if (status == OperationStatus.Done && Rune.IsLetter(rune))
            {
                word.Append(chars[..Rune.ToLowerInvariant(rune).EncodeToUtf16(chars)]);
            }
            else
            {
                Flush(word);
            }
            utf8 = utf8[consumed..];
        }
        Flush(word);
    }

    private void Flush(StringBuilder word)
    {
        if (word.Length == 0) return;
        var w = word.ToString();
        _counts[w] = _counts.GetValueOrDefault(w) + 1;
        TotalWords++;
        word.Clear();
    }

    /// <summary>Every word with its count, count descending then UTF-8 byte order.</summary>
    public IReadOnlyList<(string Word, long Count)> Sorted() =>
        _counts.Select(kv => (kv.Key, kv.Value, Bytes: Encoding.UTF8.GetBytes(kv.Key)))
            .OrderByDescending(x => x.Value)
            .ThenBy(x => x.Bytes, Utf8Order.Instance)
            .Select(x => (x.Key, x.Value))
            .ToList();

    /// <summary>The expected TSV: <c>word TAB count LF</c> for every word.</summary>
    public byte[] Tsv()
    {
        var sb = new StringBuilder();
        foreach (var (word, count) in Sorted()) sb.Append(word).Append('\t').Append(count).Append('\n');
        return new UTF8Encoding(false).GetBytes(sb.ToString());
    }

    private sealed class Utf8Order : IComparer<byte[]>
    {
        public static readonly Utf8Order Instance = new();
        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
