using System.Buffers;
using System.Runtime.CompilerServices;
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
                // ASCII separators.
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
            if (_pending == 0) return;
            table.Increment(new ReadOnlySpan<byte>(_scratch, 0, _pending));
            _pending = 0;
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

        private void EnsureScratch(int extra)
        {
            if (_scratch.Length - _pending >= extra) return;
            var size = Math.Max((long)_scratch.Length * 2, (long)_pending + extra);
            if (size > Array.MaxLength) throw new InvalidOperationException("word too long");
            Array.Resize(ref _scratch, (int)size);
        }
    }
}
