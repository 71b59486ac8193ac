using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Text;

namespace Orch.Actions.WordCount;

/// <summary>
/// Deterministic pseudo-random text for word-count benchmarks: words drawn with Zipf-like frequencies from a
/// generated vocabulary (including non-ASCII words), mixed case, punctuation, digits and newlines between words.
/// The same (size, files, seed) always produces the same bytes.
/// </summary>
public static class CorpusGenerator
{
    private const int VocabularySize = 40_000;
    private const int CopyWidth = 32; // words and separators are copied in fixed-size blocks (arrays are padded)
    private const int BufferSize = 1 << 20;
    private const int MaxToken = 256;

    private static readonly string[] SpecialWords =
    [
        "größe", "café", "naïve", "東京", "straße", "über", "señor", "façade", "jalapeño", "smörgåsbord",
        "crème", "déjà", "zürich", "привет", "мир", "ελλάδα", "日本", "データ", "ñandú", "øre", "łódź", "þorn",
    ];

    private static readonly string[] Separators =
    [
        " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ",
        " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ", " ",
        " ", " ", " ", " ", " ", " ", " ", " ", ", ", ", ", ", ", ", ", ". ", ". ", ". ", "\n",
        "\n", "\n", ".\n", "; ", ": ", " - ", "! ", "? ", " (", ") ", "\" ", " '", " 7 ", " 42, ", " 1999 ", " 3.14\r\n",
    ];

    /// <summary>The name of generated file <paramref name="index"/>.</summary>
    public static string FileName(int index) => string.Create(CultureInfo.InvariantCulture, $"part-{index:D5}.txt");

    /// <summary>Writes <paramref name="files"/> files totalling exactly <paramref name="size"/> bytes; returns the bytes written.</summary>
    public static long Generate(string directory, long size, int files, long seed, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        ArgumentOutOfRangeException.ThrowIfLessThan(files, 1);
        Directory.CreateDirectory(directory);
        var model = new Model(seed);
        var perFile = size / files;
        var extra = size % files;
        Parallel.For(0, files, new ParallelOptions { CancellationToken = cancellationToken }, index =>
        {
            var fileSize = perFile + (index < extra ? 1 : 0);
            WriteFile(Path.Combine(directory, FileName(index)), fileSize, model, Mix((ulong)seed, (ulong)index + 1), cancellationToken);
        });
        return size;
    }

    /// <summary>
    /// Parses a size: an integer number of bytes, or a string like <c>256MB</c>, <c>10MiB</c>, <c>1.5GB</c>, <c>4096</c>.
    /// KB/MB/GB/TB (and K/M/G/T) are powers of 1000, KiB/MiB/GiB/TiB powers of 1024.
    /// </summary>
    public static long ParseSize(object? value)
    {
        if (value is not string text) return PlainValues.ToInt64(value, "input 'size'");
        var s = text.Trim();
        var split = s.Length;
        while (split > 0 && char.IsAsciiLetter(s[split - 1])) split--;
        var number = s[..split].Trim();
        var unit = s[split..].ToUpperInvariant();
        long multiplier = unit switch
        {
            "" or "B" => 1,
            "K" or "KB" => 1000,
            "M" or "MB" => 1000_000,
            "G" or "GB" => 1000_000_000,
            "T" or "TB" => 1000_000_000_000,
            "KIB" => 1L << 10,
            "MIB" => 1L << 20,
            "GIB" => 1L << 30,
            "TIB" => 1L << 40,
            _ => throw new ActionInputException($"input 'size' has an unknown unit '{s[split..]}' (use B, KB, MB, GB, KiB, MiB or GiB)"),
        };
        if (!decimal.TryParse(number, NumberStyles.Number, CultureInfo.InvariantCulture, out var amount) || amount < 0)
            throw new ActionInputException($"input 'size' must be a byte count like 256MB, got '{text}'");
        var bytes = amount * multiplier;
        if (bytes > long.MaxValue) throw new ActionInputException($"input 'size' is too large: '{text}'");
        return (long)decimal.Floor(bytes);
    }

    private static void WriteFile(string path, long size, Model model, ulong state, CancellationToken cancellationToken)
    {
        var buffer = new byte[BufferSize + MaxToken];
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1);
        stream.SetLength(size);
        var left = size;
        var words = model.Words;
        var wordStart = model.WordStart;
        var separators = model.Separators;
        var separatorStart = model.SeparatorStart;
        var threshold = model.AliasThreshold;
        var alias = model.Alias;
        while (left > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var pos = 0;
            var limit = (int)Math.Min(BufferSize, left);
            while (pos < limit)
            {
                // Walker/Vose alias sampling of the Zipf distribution: a column, then the column's own word or its alias.
                var r = Next(ref state);
                var column = (int)(((r & 0xFFFFFFFF) * (ulong)threshold.Length) >> 32);
                var word = (uint)(r >> 32) < threshold[column] ? column : alias[column];
                var r2 = Next(ref state);
                var caseRoll = (int)(r2 & 127);
                var variant = caseRoll < 108 ? 0 : caseRoll < 124 ? 1 : 2;
                var w = word * 3 + variant;
                var s = (int)(r2 >> 7) & 63;
                int ws = wordStart[w], wl = wordStart[w + 1] - ws;
                int ss = separatorStart[s], sl = separatorStart[s + 1] - ss;
                if (pos + wl + sl > limit)
                {
                    if (limit < left) break; // the rest goes into the next buffer
                    // The end of the file: pad with spaces to the exact size.
                    buffer.AsSpan(pos, limit - pos).Fill((byte)' ');
                    pos = limit;
                    break;
                }
                Unsafe.WriteUnaligned(ref buffer[pos], Unsafe.ReadUnaligned<Vector256<byte>>(ref words[ws]));
                pos += wl;
                Unsafe.WriteUnaligned(ref buffer[pos], Unsafe.ReadUnaligned<ulong>(ref separators[ss]));
                pos += sl;
            }
            stream.Write(buffer, 0, pos);
            left -= pos;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Next(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static ulong Mix(ulong a, ulong b)
    {
        var state = a * 0xD1B54A32D192ED03UL + b;
        return Next(ref state);
    }

    /// <summary>The vocabulary (three case variants per word, UTF-8, flattened), separators and the Zipf sampling table.</summary>
    private sealed class Model
    {
        private static readonly string[] Onsets =
            ["", "", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
             "br", "ch", "cl", "dr", "fl", "gr", "pl", "pr", "sh", "st", "th", "tr", "qu", "sp", "sl", "bl", "cr"];
        private static readonly string[] Vowels = ["a", "e", "i", "o", "u", "y", "ai", "ea", "ee", "ou", "oo", "io", "ie"];
        private static readonly string[] Accented = ["é", "è", "ü", "ö", "ä", "å", "ø", "í", "ô", "ñ"];
        private static readonly string[] Codas = ["", "", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ng", "rk", "ck", "x", "th"];

        public byte[] Words { get; }
        public int[] WordStart { get; }
        public byte[] Separators { get; }
        public int[] SeparatorStart { get; }
        public uint[] AliasThreshold { get; }
        public int[] Alias { get; }

        public Model(long seed)
        {
            var state = Mix((ulong)seed, 0x5EED);
            var vocabulary = new List<string>(VocabularySize);
            var seen = new HashSet<string>(SpecialWords, StringComparer.Ordinal);
            var special = 0;
            var builder = new StringBuilder();
            while (vocabulary.Count < VocabularySize)
            {
                var rank = vocabulary.Count;
                // Sprinkle the special words over the ranks: 3, 10, 24, 51, ...
                if (special < SpecialWords.Length && rank == 3 + special * special * 7)
                {
                    vocabulary.Add(SpecialWords[special++]);
                    continue;
                }
                builder.Clear();
                // Frequent words are short: 1 syllable at the top, up to 4 in the long tail.
                var syllables = 1
                    + (rank >= 30 ? (int)(Next(ref state) % 2) : 0)
                    + (rank >= 1000 ? (int)(Next(ref state) % 2) : 0)
                    + (rank >= 10000 && Next(ref state) % 3 == 0 ? 1 : 0);
                for (var k = 0; k < syllables; k++)
                {
                    builder.Append(Onsets[Next(ref state) % (ulong)Onsets.Length]);
                    builder.Append(Next(ref state) % 20 == 0
                        ? Accented[Next(ref state) % (ulong)Accented.Length]
                        : Vowels[Next(ref state) % (ulong)Vowels.Length]);
                    builder.Append(Codas[Next(ref state) % (ulong)Codas.Length]);
                }
                var word = builder.ToString();
                if (seen.Add(word)) vocabulary.Add(word);
            }

            var bytes = new List<byte>(VocabularySize * 3 * 10);
            WordStart = new int[VocabularySize * 3 + 1];
            for (var i = 0; i < VocabularySize; i++)
            {
                var lower = vocabulary[i];
                var capital = string.Concat(lower[..1].ToUpperInvariant(), lower.AsSpan(1));
                var upper = lower.ToUpperInvariant();
                string[] variants = [lower, capital, upper];
                for (var v = 0; v < 3; v++)
                {
                    bytes.AddRange(Encoding.UTF8.GetBytes(variants[v]));
                    WordStart[i * 3 + v + 1] = bytes.Count;
                }
            }
            if (Enumerable.Range(0, WordStart.Length - 1).Any(w => WordStart[w + 1] - WordStart[w] > CopyWidth))
                throw new InvalidOperationException("a generated word is longer than the copy width");
            bytes.AddRange(new byte[CopyWidth]);
            Words = [.. bytes];

            var separatorBytes = new List<byte>();
            SeparatorStart = new int[CorpusGenerator.Separators.Length + 1];
            for (var s = 0; s < CorpusGenerator.Separators.Length; s++)
            {
                separatorBytes.AddRange(Encoding.UTF8.GetBytes(CorpusGenerator.Separators[s]));
                SeparatorStart[s + 1] = separatorBytes.Count;
            }
            if (CorpusGenerator.Separators.Any(x => Encoding.UTF8.GetByteCount(x) > 8))
                throw new InvalidOperationException("a separator is longer than 8 bytes");
            separatorBytes.AddRange(new byte[8]);
            Separators = [.. separatorBytes];

            // Zipf (s = 1) weights, as a Walker/Vose alias table: column i keeps word i with probability
            // AliasThreshold[i] / 2^32 and yields Alias[i] otherwise.
            var n = VocabularySize;
            var scaled = new double[n];
            double sum = 0;
            for (var r = 0; r < n; r++) sum += 1.0 / (r + 1);
            for (var r = 0; r < n; r++) scaled[r] = n / (r + 1.0) / sum;
            AliasThreshold = new uint[n];
            Alias = new int[n];
            var small = new Stack<int>();
            var large = new Stack<int>();
            for (var r = n - 1; r >= 0; r--) (scaled[r] < 1 ? small : large).Push(r);
            while (small.Count > 0 && large.Count > 0)
            {
                int less = small.Pop(), more = large.Pop();
                AliasThreshold[less] = (uint)Math.Min(scaled[less] * 4294967296.0, uint.MaxValue);
                Alias[less] = more;
                scaled[more] += scaled[less] - 1;
                (scaled[more] < 1 ? small : large).Push(more);
            }
            while (large.Count > 0) AliasThreshold[large.Pop()] = uint.MaxValue;
            while (small.Count > 0) AliasThreshold[small.Pop()] = uint.MaxValue;
        }
    }
}
