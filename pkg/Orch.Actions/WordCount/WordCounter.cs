using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Orch.Actions.WordCount;

/// <summary>A byte range of one file.</summary>
public sealed record WordSegment(string Path, long Offset, long Length);

/// <summary>
/// The core word counter. A word is a maximal run of Unicode letters (<see cref="Rune.IsLetter"/>),
/// lowercased with <see cref="Rune.ToLowerInvariant"/>; input is UTF-8 (invalid bytes separate words).
/// The start and end of every segment (and file) end a word: words never join across segments.
/// </summary>
public static class WordCounter
{
    public const int DefaultBufferSize = 1 << 20;
    private const int MinBufferSize = 16;

    /// <summary>Counts the words of a whole file into <paramref name="table"/>.</summary>
    public static void CountFile(string path, WordCountTable table, CancellationToken cancellationToken = default, int bufferSize = DefaultBufferSize)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        var length = RandomAccess.GetLength(handle);
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(bufferSize, MinBufferSize));
        try
        {
            var scanner = new Scanner(table);
            CountRange(handle, path, 0, length, buffer, scanner, cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Counts the words of every segment, in order, into <paramref name="table"/>.</summary>
    public static void CountSegments(IEnumerable<WordSegment> segments, WordCountTable table, CancellationToken cancellationToken = default, int bufferSize = DefaultBufferSize)
    {
        ArgumentNullException.ThrowIfNull(segments);
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(bufferSize, MinBufferSize));
        try
        {
            var scanner = new Scanner(table);
            foreach (var segment in segments)
            {
                if (segment.Length == 0) continue;
                using var handle = File.OpenHandle(segment.Path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
                CountRange(handle, segment.Path, segment.Offset, segment.Length, buffer, scanner, cancellationToken);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Counts the words of an in-memory UTF-8 text into <paramref name="table"/>.</summary>
    public static void CountBytes(ReadOnlySpan<byte> utf8, WordCountTable table)
    {
        var scanner = new Scanner(table);
        scanner.Scan(utf8, final: true);
        scanner.Flush();
    }

    private static void CountRange(SafeFileHandle handle, string path, long offset, long length, byte[] buffer, Scanner scanner, CancellationToken cancellationToken)
    {
        var position = offset;
        var end = offset + length;
        var carry = 0;
        while (position < end)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var toRead = (int)Math.Min(buffer.Length - carry, end - position);
            var read = RandomAccess.Read(handle, buffer.AsSpan(carry, toRead), position);
            if (read <= 0)
                throw new IOException($"'{path}' ended at byte {position} but the segment reaches byte {end} (was the file changed?)");
            position += read;
            var available = carry + read;
            var consumed = scanner.Scan(buffer.AsSpan(0, available), final: position == end);
            carry = available - consumed;
            if (carry > 0) Buffer.BlockCopy(buffer, consumed, buffer, 0, carry);
        }
        scanner.Flush();
    }

    /// <summary>Tokenizer state: the word in progress (lowercased UTF-8) lives in a scratch buffer.</summary>
    private sealed class Scanner(WordCountTable table)
    {
        /// <summary>For code points below U+0800: the invariant lowercase code point of a letter, 0 for a non-letter.</summary>
        private static readonly char[] TwoByteLower = BuildTwoByteLower();

        /// <summary>
        /// For code points below U+0800: the UTF-8 bytes (first byte low) of the invariant lowercase of a letter whose
        /// lowercase is also two bytes long; 0 for anything else (non-letters, and letters like U+0130 or U+023A).
        /// </summary>
        private static readonly ushort[] TwoByteLowerUtf8 = BuildTwoByteLowerUtf8();

        private byte[] _scratch = new byte[256];

        private static char[] BuildTwoByteLower()
        {
            var table = new char[0x800];
            for (var cp = 0x80; cp < 0x800; cp++)
            {
                var rune = new Rune(cp);
                if (Rune.IsLetter(rune)) table[cp] = checked((char)Rune.ToLowerInvariant(rune).Value);
            }
            return table;
        }
        private int _pending;

        private static ushort[] BuildTwoByteLowerUtf8()
        {
            var table = new ushort[0x800];
            for (var cp = 0x80; cp < 0x800; cp++)
            {
                var lower = TwoByteLower[cp];
                if (lower is >= (char)0x80 and < (char)0x800) table[cp] = (ushort)((0xC0 | (lower >> 6)) | ((0x80 | (lower & 0x3F)) << 8));
            }
            return table;
        }

        // 0: ASCII non-letter, 'a'..'z': ASCII letter (lowercased), 0xFF: first byte >= 0x80.
        private static ReadOnlySpan<byte> Classes =>
        [
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F,
            0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F,
            0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x00, 0x00, 0x00, 0x00, 0x00,
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ];

        /// <summary>
        /// Scans <paramref name="buffer"/> and returns how many bytes were consumed: all of them, except an
        /// incomplete UTF-8 sequence at the very end when <paramref name="final"/> is false.
        /// A word running up to the end of the buffer stays pending until <see cref="Flush"/> or more input.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public int Scan(ReadOnlySpan<byte> buffer, bool final)
        {
            var classes = Classes;
            var n = buffer.Length;
            var i = 0;
            if (_pending > 0)
            {
                i = ScanSlow(buffer, 0, final, out var needMore);
                if (needMore || i >= n) return i;
            }
            while (true)
            {
                i = ScanBlocks(buffer, i);

                // One word (or the rest of the buffer) byte by byte. ASCII separators first.
                while (i < n && classes[buffer[i]] == 0) i++;
                if (i >= n) return n;

                // ASCII letters.
                var start = i;
                var diff = 0;
                byte c;
                while (i < n && (uint)((c = classes[buffer[i]]) - 1) < 0x7Fu)
                {
                    diff |= c ^ buffer[i];
                    i++;
                }
                if (i < n && classes[buffer[i]] == 0)
                {
                    // A complete ASCII word: count it straight from the buffer when already lowercase.
                    if (diff == 0)
                    {
                        table.Increment(buffer.Slice(start, i - start));
                    }
                    else
                    {
                        AppendLowerAscii(buffer.Slice(start, i - start));
                        Flush();
                    }
                    i++;
                    continue;
                }
                if (i > start) AppendLowerAscii(buffer.Slice(start, i - start));
                if (i >= n) return n;

                // A byte >= 0x80 at i.
                i = ScanSlow(buffer, i, final, out var more);
                if (more || i >= n) return i;
            }
        }

        /// <summary>
        /// The fast path, over blocks of 64 bytes. Each block is classified once (which bytes may be part of a word,
        /// which are >= 0x80); words are then found from those masks, so no word waits on the one before it.
        /// A word of 1..16 ASCII letters is counted straight from registers (the table gets the key as two
        /// lowercased words); other words whose end is within the next block go through
        /// <see cref="TryCountTwoByteWord"/> or <see cref="CountRun"/>. Returns where the byte-by-byte path takes
        /// over: at a word of 64 bytes or more, or near the buffer's end.
        /// Only called with no word pending, at a separator or a word's first byte.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private int ScanBlocks(ReadOnlySpan<byte> buffer, int i)
        {
            if (!Vector256.IsHardwareAccelerated) return i;
            ref var start = ref MemoryMarshal.GetReference(buffer);
            var n = buffer.Length;
            var blockStart = i;
            // Words starting in a block may end in the next one, so both are classified before the first is walked.
            if (blockStart + 2 * 64 > n) return i;
            Classify(ref start, blockStart, out var inWord, out var high);
            ulong carry = 0; // 1 when the byte before the block is part of a word (already handled)
            while (blockStart + 2 * 64 <= n)
            {
                Classify(ref start, blockStart + 64, out var nextInWord, out var nextHigh);
                var starts = inWord & ~((inWord << 1) | carry);
                // For a word at s, the 64 bits from s on are (bits >> s) | (next << (64 - s)): the rest of this block, then
                // the start of the next. The next block's bits are shifted by 1 here and by 63 - s below, as a shift
                // count of 64 would act as 0.
                var separators = ~inWord;
                var nextSeparators = ~nextInWord << 1;
                var nextHighShifted = nextHigh << 1;
                ref var block = ref Unsafe.Add(ref start, blockStart);
                while (starts != 0)
                {
                    var s = BitOperations.TrailingZeroCount(starts);
                    starts &= starts - 1;
                    var length = BitOperations.TrailingZeroCount((separators >> s) | (nextSeparators << (63 - s)));
                    var asciiLength = BitOperations.TrailingZeroCount((high >> s) | (nextHighShifted << (63 - s)));
                    if (length <= Math.Min(asciiLength, 16))
                    {
                        // All ASCII letters: OR 0x20 lowercases each one; the mask zeroes the bytes after the word.
                        var key = (Vector128.LoadUnsafe(ref block, (nuint)s) | Vector128.Create((byte)0x20))
                            & Vector128.LessThan(Vector128<byte>.Indices, Vector128.Create((byte)length));
                        var words = key.AsUInt64();
                        table.IncrementInline(words.ToScalar(), words.GetElement(1), length);
                    }
                    else if (length > Vector256<byte>.Count || !TryCountTwoByteWord(ref Unsafe.Add(ref block, s), length))
                    {
                        if (length >= 64) return blockStart + s;
                        CountRun(buffer, blockStart + s, blockStart + s + length);
                    }
                }
                carry = inWord >> 63;
                inWord = nextInWord;
                high = nextHigh;
                blockStart += 64;
            }
            // A word running into this block has been counted: go on after its separator.
            return carry == 0 ? blockStart : blockStart + BitOperations.TrailingZeroCount(~inWord) + 1;
        }

        /// <summary>
        /// Counts the word of <paramref name="length"/> (at most 32) bytes at <paramref name="word"/>, followed by an
        /// ASCII separator, when its bytes are ASCII letters and two-byte letters that lowercase to two bytes: the
        /// ASCII letters are lowercased together, then each two-byte letter is replaced by its lowercase in place.
        /// Returns false, having counted nothing, for any other word. 32 bytes must be readable at <paramref name="word"/>.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private bool TryCountTwoByteWord(ref byte word, int length)
        {
            var v = Vector256.LoadUnsafe(ref word);
            var inWord = ~0UL >> (64 - length);
            var high = v.ExtractMostSignificantBits() & inWord;
            var leads = Vector256.GreaterThanOrEqual(v, Vector256.Create((byte)0xC0)).ExtractMostSignificantBits() & inWord;
            var threeOrMore = Vector256.GreaterThanOrEqual(v, Vector256.Create((byte)0xE0)).ExtractMostSignificantBits() & inWord;
            // Every lead byte is followed by exactly one continuation byte, and no lead starts a longer sequence.
            if ((high & ~leads) != leads << 1 || threeOrMore != 0) return false;
            // OR 0x20 lowercases the ASCII letters; every byte >= 0x80 is overwritten below with its letter's lowercase.
            var scratch = _scratch;
            (v | Vector256.Create((byte)0x20)).StoreUnsafe(ref MemoryMarshal.GetArrayDataReference(scratch));
            var lowerTable = TwoByteLowerUtf8;
            while (leads != 0)
            {
                var p = BitOperations.TrailingZeroCount(leads);
                leads &= leads - 1;
                var pair = lowerTable[((Unsafe.Add(ref word, p) & 0x1F) << 6) | (Unsafe.Add(ref word, p + 1) & 0x3F)];
                if (pair == 0) return false;
                Unsafe.WriteUnaligned(ref scratch[p], pair);
            }
            CountScratch(length);
            return true;
        }

        /// <summary>
        /// For the 64 bytes at <paramref name="offset"/>: bit k of <paramref name="inWord"/> is set when byte k is an
        /// ASCII letter or >= 0x80 (may be part of a word), bit k of <paramref name="high"/> when it is >= 0x80.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Classify(ref byte start, int offset, out ulong inWord, out ulong high)
        {
            var lo = Vector256.LoadUnsafe(ref start, (nuint)offset);
            var hi = Vector256.LoadUnsafe(ref start, (nuint)offset + 32);
            high = lo.ExtractMostSignificantBits() | ((ulong)hi.ExtractMostSignificantBits() << 32);
            inWord = InWordMask(lo) | ((ulong)InWordMask(hi) << 32);
        }

        /// <summary>Bit k set: byte k of <paramref name="v"/> is an ASCII letter or any byte >= 0x80 (may be part of a word).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static uint InWordMask(Vector256<byte> v)
        {
            // (b | 0x20) - 'a' < 26 exactly for A-Z and a-z; bytes >= 0x80 have their top bit set already.
            var letter = Vector256.LessThan((v | Vector256.Create((byte)0x20)) - Vector256.Create((byte)'a'), Vector256.Create((byte)26));
            return (letter | v).ExtractMostSignificantBits();
        }

        /// <summary>
        /// Counts the words of <c>buffer[i..end)</c>: ASCII letters and bytes >= 0x80, followed by an ASCII separator
        /// at <paramref name="end"/>. The same steps as <see cref="ScanSlow"/>, which the separator lets skip every
        /// end-of-buffer check. Only called with no word pending.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void CountRun(ReadOnlySpan<byte> buffer, int i, int end)
        {
            // A rune lowercases to one rune of at most 4 bytes: ASCII stays 1 byte, a longer one at most doubles.
            EnsureScratch(2 * (end - i) + 4);
            var scratch = _scratch;
            var lowerTable = TwoByteLower;
            var length = 0;
            while (i < end)
            {
                var b = buffer[i];
                if (b < 0x80)
                {
                    scratch[length++] = (byte)(b | 0x20); // an ASCII letter
                    i++;
                    continue;
                }
                // Two-byte sequences through the lookup table; buffer[i + 1] is at most the separator.
                if ((uint)(b - 0xC2) <= 0xDF - 0xC2 && (buffer[i + 1] & 0xC0) == 0x80)
                {
                    var lower = (int)lowerTable[((b & 0x1F) << 6) | (buffer[i + 1] & 0x3F)];
                    if (lower == 0)
                    {
                        CountScratch(length);
                        length = 0;
                    }
                    else if (lower is >= 0x80 and < 0x800)
                    {
                        scratch[length] = (byte)(0xC0 | (lower >> 6));
                        scratch[length + 1] = (byte)(0x80 | (lower & 0x3F));
                        length += 2;
                    }
                    else
                    {
                        length += new Rune(lower).EncodeToUtf8(scratch.AsSpan(length));
                    }
                    i += 2;
                    continue;
                }
                // Neither a valid sequence nor an invalid one reaches past the ASCII separator at end.
                var status = Rune.DecodeFromUtf8(buffer[i..], out var rune, out var consumed);
                if (status == OperationStatus.Done && Rune.IsLetter(rune))
                {
                    length += Rune.ToLowerInvariant(rune).EncodeToUtf8(scratch.AsSpan(length));
                }
                else
                {
                    CountScratch(length);
                    length = 0;
                }
                i += consumed;
            }
            CountScratch(length);
        }

        /// <summary>Rune-by-rune scanning until an ASCII separator (consumed) or the end of the buffer.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private int ScanSlow(ReadOnlySpan<byte> buffer, int i, bool final, out bool needMore)
        {
            needMore = false;
            var classes = Classes;
            var n = buffer.Length;
            while (i < n)
            {
                var c = classes[buffer[i]];
                if (c == 0)
                {
                    Flush();
                    return i + 1;
                }
                if (c < 0x80)
                {
                    AppendByte(c);
                    i++;
                    continue;
                }
                // Two-byte sequences (Latin, Greek, Cyrillic, ...) through a lookup table.
                if ((uint)(buffer[i] - 0xC2) <= 0xDF - 0xC2 && i + 1 < n && (buffer[i + 1] & 0xC0) == 0x80)
                {
                    var lower = (int)TwoByteLower[((buffer[i] & 0x1F) << 6) | (buffer[i + 1] & 0x3F)];
                    if (lower == 0) Flush();
                    else if (lower is >= 0x80 and < 0x800) AppendTwoBytes(lower);
                    else AppendRune(new Rune(lower));
                    i += 2;
                    continue;
                }
                var status = Rune.DecodeFromUtf8(buffer[i..], out var rune, out var consumed);
                if (status == OperationStatus.NeedMoreData && !final)
                {
                    needMore = true;
                    return i;
                }
                if (status == OperationStatus.Done && Rune.IsLetter(rune)) AppendRune(Rune.ToLowerInvariant(rune));
                else Flush();
                i += consumed;
            }
            return i;
        }

        /// <summary>Counts the pending word, if any.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Flush()
        {
            var length = _pending;
            _pending = 0;
            CountScratch(length);
        }

        /// <summary>Counts the first <paramref name="length"/> bytes of the scratch buffer as a word, if any.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void CountScratch(int length)
        {
            if (length == 0) return;
            if (length <= 16)
            {
                // The scratch buffer is never shorter than 16 bytes: load the key whole, then cut it to the word.
                var key = Vector128.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(_scratch))
                    & Vector128.LessThan(Vector128<byte>.Indices, Vector128.Create((byte)length));
                var words = key.AsUInt64();
                table.IncrementInline(words.ToScalar(), words.GetElement(1), length);
            }
            else
            {
                table.Increment(new ReadOnlySpan<byte>(_scratch, 0, length));
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void AppendLowerAscii(ReadOnlySpan<byte> letters)
        {
            EnsureScratch(letters.Length);
            var classes = Classes;
            var scratch = _scratch.AsSpan(_pending, letters.Length);
            for (var k = 0; k < letters.Length; k++) scratch[k] = classes[letters[k]];
            _pending += letters.Length;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void AppendTwoBytes(int codePoint)
        {
            EnsureScratch(2);
            _scratch[_pending] = (byte)(0xC0 | (codePoint >> 6));
            _scratch[_pending + 1] = (byte)(0x80 | (codePoint & 0x3F));
            _pending += 2;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void AppendByte(byte b)
        {
            EnsureScratch(1);
            _scratch[_pending++] = b;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void AppendRune(Rune rune)
        {
            EnsureScratch(4);
            _pending += rune.EncodeToUtf8(_scratch.AsSpan(_pending));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void EnsureScratch(int extra)
        {
            if (_scratch.Length - _pending < extra) GrowScratch(extra);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        private void GrowScratch(int extra)
        {
            var size = Math.Max((long)_scratch.Length * 2, (long)_pending + extra);
            if (size > Array.MaxLength) throw new InvalidOperationException("word too long");
            Array.Resize(ref _scratch, (int)size);
        }
    }
}
