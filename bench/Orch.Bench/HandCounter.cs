using System.Buffers;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Orch.Bench;

/// <summary>
/// The hand-written reference word counter orch's word count is measured against: the input split into
/// two byte ranges (cut just after an ASCII separator), one thread per range, each with its own
/// open-addressing hash table over lowercased UTF-8 words, then one merge. Same word definition as
/// <c>wordcount/count</c>: a maximal run of Unicode letters, lowercased with
/// <see cref="Rune.ToLowerInvariant"/>; invalid UTF-8 separates words; file ends end words.
/// Run as <c>Orch.Bench count-words PATH...</c> so it pays process start and JIT like the orch binary.
/// </summary>
internal static class HandCounter
{
    public static int Run(IReadOnlyList<string> paths, TextWriter output)
    {
        var files = paths
            .SelectMany(p => Directory.Exists(p) ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories).Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal) : (IEnumerable<string>)[p])
            .ToList();
        var result = Count(files, threads: 2);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"total_words {result.Total}"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"distinct_words {result.Distinct}"));
        foreach (var (word, count) in result.Top) output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{count}\t{word}"));
        return 0;
    }

    public sealed record Result(long Total, int Distinct, IReadOnlyList<(string Word, long Count)> Top);

    public static Result Count(IReadOnlyList<string> files, int threads)
    {
        var parts = Split(files, threads);
        var tables = new WordTable[parts.Count];
        var workers = new Thread[parts.Count];
        for (var t = 0; t < parts.Count; t++)
        {
            var index = t;
            workers[t] = new Thread(() =>
            {
                var table = new WordTable(1 << 17);
                var scanner = new Scanner(table);
                foreach (var (path, offset, length) in parts[index]) scanner.CountRange(path, offset, length);
                tables[index] = table;
            }, maxStackSize: 1 << 20);
            workers[t].Start();
        }
        foreach (var worker in workers) worker.Join();

        var merged = tables[0];
        for (var t = 1; t < tables.Length; t++) merged.MergeFrom(tables[t]);
        return new Result(merged.Total, merged.Count, merged.Top(20));
    }

    /// <summary>Cuts the concatenated files into <paramref name="parts"/> ranges, each cut just after an ASCII non-letter.</summary>
    private static List<List<(string Path, long Offset, long Length)>> Split(IReadOnlyList<string> files, int parts)
    {
        var lengths = files.Select(f => new FileInfo(f).Length).ToList();
        var total = lengths.Sum();
        var result = new List<List<(string, long, long)>>();
        var current = new List<(string, long, long)>();
        long seen = 0; // bytes of the concatenation before file f
        for (var f = 0; f < files.Count; f++)
        {
            var start = 0L;
            while (start < lengths[f])
            {
                var target = total * (result.Count + 1) / parts; // where the current part should end
                if (result.Count == parts - 1 || seen + lengths[f] <= target)
                {
                    current.Add((files[f], start, lengths[f] - start));
                    break;
                }
                var cut = Math.Max(start, CutAfterSeparator(files[f], target - seen));
                if (cut > start) current.Add((files[f], start, cut - start));
                result.Add(current);
                current = [];
                start = cut;
            }
            seen += lengths[f];
        }
        if (current.Count > 0 || result.Count == 0) result.Add(current);
        return result;
    }

    /// <summary>The first offset at or after <paramref name="from"/> that follows an ASCII non-letter (or the file's end).</summary>
    private static long CutAfterSeparator(string path, long from)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        var length = RandomAccess.GetLength(handle);
        var buffer = new byte[1 << 16];
        var position = from;
        while (position < length)
        {
            var read = RandomAccess.Read(handle, buffer, position);
            if (read <= 0) break;
            for (var k = 0; k < read; k++)
            {
                if (Scanner.Classes[buffer[k]] == 0) return position + k + 1;
            }
            position += read;
        }
        return length;
    }

    /// <summary>One thread's tokenizer.</summary>
    private sealed class Scanner(WordTable table)
    {
        private const int BlockSize = 1 << 22;
        private const int Padding = 16;

        /// <summary>0: ASCII non-letter; 'a'..'z': ASCII letter, lowercased; 0xFF: a byte of a multi-byte sequence.</summary>
        public static readonly byte[] Classes = BuildClasses();

        /// <summary>For U+0080..U+07FF: the invariant lowercase code point of a letter, 0 for anything else.</summary>
        private static readonly int[] TwoByteLower = BuildTwoByteLower();

        private byte[] _buffer = new byte[BlockSize + Padding];
        private byte[] _scratch = new byte[256 + Padding];

        private static byte[] BuildClasses()
        {
            var classes = new byte[256];
            for (var b = 0x80; b < 256; b++) classes[b] = 0xFF;
            for (var b = 'a'; b <= 'z'; b++) classes[b] = (byte)b;
            for (var b = 'A'; b <= 'Z'; b++) classes[b] = (byte)(b + 32);
            return classes;
        }

        private static int[] BuildTwoByteLower()
        {
            var lower = new int[0x800];
            for (var cp = 0x80; cp < 0x800; cp++)
            {
                var rune = new Rune(cp);
                if (Rune.IsLetter(rune)) lower[cp] = Rune.ToLowerInvariant(rune).Value;
            }
            return lower;
        }

        public void CountRange(string path, long offset, long length)
        {
            using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
            var position = offset;
            var end = offset + length;
            var carry = 0;
            while (position < end)
            {
                if (_buffer.Length - Padding - carry < 1 << 16) Array.Resize(ref _buffer, _buffer.Length * 2);
                var toRead = (int)Math.Min(_buffer.Length - Padding - 1 - carry, end - position);
                var read = RandomAccess.Read(handle, _buffer.AsSpan(carry, toRead), position);
                if (read <= 0) throw new IOException($"'{path}' is shorter than expected");
                position += read;
                var available = carry + read;
                int cut;
                if (position == end)
                {
                    // The end of the range ends a word: make it an explicit separator.
                    _buffer[available] = (byte)' ';
                    cut = available + 1;
                }
                else
                {
                    cut = available;
                    var classes = Classes;
                    while (cut > 0 && classes[_buffer[cut - 1]] != 0) cut--;
                }
                if (cut > 0) ScanBlock(cut);
                carry = available - Math.Min(cut, available);
                if (carry > 0) Buffer.BlockCopy(_buffer, available - carry, _buffer, 0, carry);
            }
        }

        /// <summary>
        /// Counts the words of <c>_buffer[0..n)</c>, whose last byte is an ASCII separator, so every word in it
        /// is complete and no loop over letters can run past it.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void ScanBlock(int n)
        {
            var buffer = _buffer;
            ref var b = ref MemoryMarshal.GetArrayDataReference(buffer);
            ref var cls = ref MemoryMarshal.GetArrayDataReference(Classes);
            // A letter just past the block stops the separator loop without a bounds check.
            var saved = buffer[n];
            buffer[n] = (byte)'a';
            var i = 0;
            while (true)
            {
                while (Unsafe.Add(ref cls, Unsafe.Add(ref b, i)) == 0) i++;
                if (i >= n) break;

                var start = i;
                uint diff = 0;
                byte c;
                while ((uint)((c = Unsafe.Add(ref cls, Unsafe.Add(ref b, i))) - 1) < 0x7Fu)
                {
                    diff |= (uint)(c ^ Unsafe.Add(ref b, i));
                    i++;
                }
                if (c == 0)
                {
                    if (diff == 0)
                    {
                        table.Add(ref Unsafe.Add(ref b, start), i - start);
                    }
                    else
                    {
                        var len = LowerInto(ref Unsafe.Add(ref b, start), i - start, 0);
                        table.Add(ref MemoryMarshal.GetArrayDataReference(_scratch), len);
                    }
                    i++;
                    continue;
                }
                i = ScanSlow(buffer, start, i, n);
            }
            buffer[n] = saved;
        }

        /// <summary>Finishes a word that contains a non-ASCII byte at <paramref name="i"/>; returns the index after its separator.</summary>
        private int ScanSlow(byte[] buffer, int start, int i, int n)
        {
            var classes = Classes;
            var len = LowerInto(ref buffer[start], i - start, 0);
            while (true)
            {
                var lead = buffer[i];
                var c = classes[lead];
                if (c == 0)
                {
                    Flush(ref len);
                    return i + 1;
                }
                if (c != 0xFF)
                {
                    Reserve(len, 1);
                    _scratch[len++] = c;
                    i++;
                    continue;
                }
                // i + 1 < n: the block ends with an ASCII separator.
                if (lead is >= 0xC2 and <= 0xDF && (buffer[i + 1] & 0xC0) == 0x80)
                {
                    var lower = TwoByteLower[((lead & 0x1F) << 6) | (buffer[i + 1] & 0x3F)];
                    if (lower == 0) Flush(ref len);
                    else len = Append(new Rune(lower), len);
                    i += 2;
                    continue;
                }
                var status = Rune.DecodeFromUtf8(buffer.AsSpan(i, n - i), out var rune, out var consumed);
                if (status == OperationStatus.Done && Rune.IsLetter(rune)) len = Append(Rune.ToLowerInvariant(rune), len);
                else Flush(ref len);
                i += consumed;
            }
        }

        private void Flush(ref int len)
        {
            if (len == 0) return;
            table.Add(ref MemoryMarshal.GetArrayDataReference(_scratch), len);
            len = 0;
        }

        private int Append(Rune rune, int len)
        {
            Reserve(len, 4);
            return len + rune.EncodeToUtf8(_scratch.AsSpan(len));
        }

        private int LowerInto(ref byte source, int count, int len)
        {
            Reserve(len, count);
            var classes = Classes;
            var scratch = _scratch;
            for (var k = 0; k < count; k++) scratch[len + k] = classes[Unsafe.Add(ref source, k)];
            return len + count;
        }

        private void Reserve(int len, int extra)
        {
            if (_scratch.Length - Padding - len >= extra) return;
            Array.Resize(ref _scratch, Math.Max(_scratch.Length * 2, len + extra + Padding));
        }
    }

    /// <summary>
    /// Open addressing with linear probing over entries that keep the word's first 8 bytes inline, so words of
    /// up to 8 bytes compare without touching the arena. Callers guarantee 8 readable bytes at every key start.
    /// </summary>
    private sealed class WordTable
    {
        private const ulong K1 = 0x9E3779B97F4A7C15UL;
        private const ulong K2 = 0xC2B2AE3D27D4EB4FUL;

        private Entry[] _entries;
        private int _shift;
        private byte[] _arena = new byte[1 << 20];
        private int _arenaUsed;

        public WordTable(int capacity)
        {
            _entries = new Entry[capacity];
            _shift = 64 - BitOperations.Log2((uint)capacity);
        }

        public int Count { get; private set; }
        public long Total { get; private set; }

        private struct Entry
        {
            public ulong Hash;
            public ulong Head;
            public long Count;
            public int Offset;
            public int Length;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static ulong Head(ref byte key, int length)
        {
            var v = Unsafe.ReadUnaligned<ulong>(ref key);
            return length >= 8 ? v : v & ((1UL << (length << 3)) - 1);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static ulong Hash(ref byte key, int length, ulong head)
        {
            var h = (head ^ (ulong)length) * K1;
            if (length > 8)
            {
                var k = 8;
                for (; k + 8 <= length; k += 8) h = (BitOperations.RotateLeft(h, 29) ^ Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref key, k))) * K1;
                if (k < length) h = (BitOperations.RotateLeft(h, 29) ^ Head(ref Unsafe.Add(ref key, k), length - k)) * K1;
            }
            h ^= h >> 31;
            return h * K2;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(ref byte key, int length)
        {
            var head = Head(ref key, length);
            var hash = Hash(ref key, length, head);
            Add(ref key, length, head, hash, 1);
        }

        private void Add(ref byte key, int length, ulong head, ulong hash, long count)
        {
            Total += count;
            var entries = _entries;
            var mask = entries.Length - 1;
            var index = (int)(hash >> _shift);
            while (true)
            {
                ref var e = ref entries[index];
                if (e.Hash == hash && e.Head == head && e.Length == length
                    && (length <= 8 || new ReadOnlySpan<byte>(_arena, e.Offset, length).SequenceEqual(MemoryMarshal.CreateReadOnlySpan(ref key, length))))
                {
                    e.Count += count;
                    return;
                }
                if (e.Length == 0)
                {
                    Insert(ref e, ref key, length, head, hash, count);
                    return;
                }
                index = (index + 1) & mask;
            }
        }

        private void Insert(ref Entry e, ref byte key, int length, ulong head, ulong hash, long count)
        {
            if (_arena.Length - _arenaUsed < length + 8) Array.Resize(ref _arena, Math.Max(_arena.Length * 2, _arenaUsed + length + 8));
            MemoryMarshal.CreateReadOnlySpan(ref key, length).CopyTo(_arena.AsSpan(_arenaUsed));
            e.Hash = hash;
            e.Head = head;
            e.Count = count;
            e.Offset = _arenaUsed;
            e.Length = length;
            _arenaUsed += length;
            if (++Count * 2 > _entries.Length) Grow();
        }

        private void Grow()
        {
            var old = _entries;
            _entries = new Entry[old.Length * 2];
            _shift--;
            var mask = _entries.Length - 1;
            foreach (var e in old)
            {
                if (e.Length == 0) continue;
                var index = (int)(e.Hash >> _shift);
                while (_entries[index].Length != 0) index = (index + 1) & mask;
                _entries[index] = e;
            }
        }

        public void MergeFrom(WordTable other)
        {
            foreach (var e in other._entries)
            {
                if (e.Length == 0) continue;
                Add(ref other._arena[e.Offset], e.Length, e.Head, e.Hash, e.Count);
            }
        }

        /// <summary>The most frequent words, count descending then word ordinal.</summary>
        public List<(string Word, long Count)> Top(int n)
        {
            var best = new PriorityQueue<int, (long Count, int Index)>(n + 1, Comparer<(long Count, int Index)>.Create((a, b) =>
            {
                var byCount = a.Count.CompareTo(b.Count);
                return byCount != 0 ? byCount : -Compare(a.Index, b.Index);
            }));
            for (var k = 0; k < _entries.Length; k++)
            {
                if (_entries[k].Length == 0) continue;
                best.Enqueue(k, (_entries[k].Count, k));
                if (best.Count > n) best.Dequeue();
            }
            var list = new List<(string, long)>();
            while (best.TryDequeue(out var k, out _)) list.Add((Encoding.UTF8.GetString(_arena, _entries[k].Offset, _entries[k].Length), _entries[k].Count));
            list.Reverse();
            return list;
        }

        private int Compare(int a, int b) =>
            new ReadOnlySpan<byte>(_arena, _entries[a].Offset, _entries[a].Length).SequenceCompareTo(new ReadOnlySpan<byte>(_arena, _entries[b].Offset, _entries[b].Length));
    }
}
