using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Orch.Actions.WordCount;

/// <summary>
/// Word → count table used by the word-count actions, keyed on the lowercased words' UTF-8 bytes.
/// Open addressing with linear probing over 32-byte slots; keys of up to 16 bytes live inside the slot
/// (one memory access per lookup), longer keys in a pooled byte arena.
/// Entries are addressed by handles (slot indices) returned from <see cref="GetHandles"/> and friends;
/// spans returned by <see cref="GetWord"/> stay valid until the table is next modified.
/// Not thread-safe. Dispose to return the arena to the pool.
/// </summary>
public sealed class WordCountTable : IDisposable
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Slot
    {
        public long Count; // 0 marks an empty slot
        public uint Hash;
        public int Length;
        public ulong Key0; // key bytes 0..7 (zero padded), or the arena offset of a key longer than InlineMax
        public ulong Key1; // key bytes 8..15 (zero padded)
    }

    private const int InlineMax = 16;
    private const int MinCapacity = 1024;

    private Slot[] _slots;
    private int _mask;
    private int _shift; // a hash's top bits pick its home slot: index = hash >> _shift
    private int _count;
    private int _growThreshold;
    private byte[] _arena;
    private int _arenaUsed;
    private long _total;

    public WordCountTable(int expectedDistinct = 0)
    {
        var capacity = CapacityFor(expectedDistinct);
        _slots = new Slot[capacity];
        _mask = capacity - 1;
        _shift = ShiftFor(capacity);
        _growThreshold = GrowThreshold(capacity);
        _arena = ArrayPool<byte>.Shared.Rent(1 << 16);
    }

    /// <summary>Number of distinct words.</summary>
    public int Count => _count;

    /// <summary>Sum of all counts.</summary>
    public long TotalWords => _total;

    /// <summary>Adds one occurrence of <paramref name="word"/> (already lowercased UTF-8).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Increment(ReadOnlySpan<byte> word) => Add(word, 1);

    /// <summary>Adds <paramref name="count"/> occurrences of <paramref name="word"/> (already lowercased UTF-8).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Add(ReadOnlySpan<byte> word, long count)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), count, "count must be positive");
        var length = word.Length;
        if ((uint)(length - 1) >= InlineMax)
        {
            AddLong(word, count);
            return;
        }
        LoadInline(word, out var k0, out var k1);
        AddInline(k0, k1, length, count);
    }

    /// <summary>
    /// Adds one occurrence of a word of 1..16 bytes given as its zero-padded little-endian bytes
    /// (<paramref name="k0"/>: bytes 0..7, <paramref name="k1"/>: bytes 8..15): the scanner's path, which never
    /// copies the word.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void IncrementInline(ulong k0, ulong k1, int length) => AddInline(k0, k1, length, 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AddInline(ulong k0, ulong k1, int length, long count)
    {
        var hash = HashInline(k0, k1);
        var slots = _slots;
        var mask = _mask;
        var i = (int)(hash >> _shift);
        while (true)
        {
            ref var slot = ref slots[i];
            // No hash compare: an inline key is its bytes, and a long key's slot never has an inline length.
            if (slot.Key0 == k0 && slot.Key1 == k1 && slot.Length == length)
            {
                slot.Count += count;
                _total += count;
                return;
            }
            if (slot.Count == 0)
            {
                slot.Hash = hash;
                slot.Length = length;
                slot.Key0 = k0;
                slot.Key1 = k1;
                Inserted(ref slot, count);
                return;
            }
            i = (i + 1) & mask;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AddLong(ReadOnlySpan<byte> word, long count)
    {
        if (word.IsEmpty) throw new ArgumentException("word must not be empty", nameof(word));
        var hash = HashLong(word);
        var slots = _slots;
        var mask = _mask;
        var i = (int)(hash >> _shift);
        while (true)
        {
            ref var slot = ref slots[i];
            if (slot.Count == 0)
            {
                if (_arena.Length - _arenaUsed < word.Length) GrowArena(word.Length);
                word.CopyTo(new Span<byte>(_arena, _arenaUsed, word.Length));
                slot.Hash = hash;
                slot.Length = word.Length;
                slot.Key0 = (ulong)_arenaUsed;
                slot.Key1 = 0;
                _arenaUsed += word.Length;
                Inserted(ref slot, count);
                return;
            }
            if (slot.Hash == hash && slot.Length == word.Length &&
                new ReadOnlySpan<byte>(_arena, (int)slot.Key0, slot.Length).SequenceEqual(word))
            {
                slot.Count += count;
                _total += count;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// <summary>The count of <paramref name="word"/> (lowercased UTF-8), 0 when absent.</summary>
    public long GetCount(ReadOnlySpan<byte> word)
    {
        if (word.IsEmpty) return 0;
        var hash = word.Length <= InlineMax ? HashOf(word) : HashLong(word);
        var i = (int)(hash >> _shift);
        while (true)
        {
            ref var slot = ref _slots[i];
            if (slot.Count == 0) return 0;
            if (slot.Hash == hash && slot.Length == word.Length && WordOf(ref slot).SequenceEqual(word)) return slot.Count;
            i = (i + 1) & _mask;
        }
    }

    /// <summary>The count of <paramref name="word"/> as given (no lowercasing), 0 when absent.</summary>
    public long GetCount(string word) => GetCount(Encoding.UTF8.GetBytes(word));

    /// <summary>
    /// Grows the table, if needed, to hold <paramref name="distinct"/> entries without growing again.
    /// Call it before adding many entries taken from another table in its slot order: that order follows the
    /// hash, and a table much smaller than them would pile them all into its first slots.
    /// </summary>
    public void EnsureCapacity(int distinct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(distinct);
        var capacity = CapacityFor(distinct);
        if (capacity > _slots.Length) Rehash(capacity);
    }

    /// <summary>Adds every entry of <paramref name="other"/>.</summary>
    public void MergeFrom(WordCountTable other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (ReferenceEquals(other, this)) throw new ArgumentException("cannot merge a table into itself", nameof(other));
        EnsureCapacity(Math.Max(_count, other._count));
        var slots = other._slots;
        for (var i = 0; i < slots.Length; i++)
        {
            if (slots[i].Count != 0) Add(other.WordOf(ref slots[i]), slots[i].Count);
        }
    }

    /// <summary>The word of an entry handle (lowercased UTF-8).</summary>
    public ReadOnlySpan<byte> GetWord(int handle) => WordOf(ref _slots[handle]);

    /// <summary>The count of an entry handle.</summary>
    public long GetCount(int handle) => _slots[handle].Count;

    /// <summary>Handles of every entry, in table order (unspecified).</summary>
    public int[] GetHandles()
    {
        var handles = new int[_count];
        var n = 0;
        var slots = _slots;
        for (var i = 0; i < slots.Length; i++)
        {
            if (slots[i].Count != 0) handles[n++] = i;
        }
        return handles;
    }

    /// <summary>Handles of every entry: count descending, then word in ordinal (UTF-8 byte) order.</summary>
    public int[] GetSortedHandles()
    {
        var handles = GetHandles();
        Array.Sort(handles, new HandleComparer(this));
        return handles;
    }

    /// <summary>Handles of the first <paramref name="top"/> entries in <see cref="GetSortedHandles"/> order.</summary>
    public int[] GetTopHandles(int top)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(top);
        if (top == 0) return [];
        if (top >= _count / 4) return GetSortedHandles().AsSpan(0, Math.Min(top, _count)).ToArray();

        // A bounded heap whose root is the worst entry kept so far. Over a plain array: PriorityQueue<int, int> is
        // compiled by the JIT at every run, as ReadyToRun does not precompile it, and runs unoptimized at first.
        var comparer = new HandleComparer(this);
        var heap = new int[top];
        var size = 0;
        var slots = _slots;
        for (var i = 0; i < slots.Length; i++)
        {
            if (slots[i].Count == 0) continue;
            if (size < top)
            {
                heap[size] = i;
                SiftUp(heap, size++, comparer);
            }
            else if (comparer.Compare(i, heap[0]) < 0)
            {
                heap[0] = i;
                SiftDown(heap, size, comparer);
            }
        }
        // Taking the worst off each time fills the result from its end.
        var result = new int[size];
        while (size > 0)
        {
            result[size - 1] = heap[0];
            heap[0] = heap[--size];
            SiftDown(heap, size, comparer);
        }
        return result;
    }

    /// <summary>Moves heap[k] up while it sorts after its parent (the root sorts last).</summary>
    private static void SiftUp(int[] heap, int k, HandleComparer comparer)
    {
        while (k > 0)
        {
            var parent = (k - 1) / 2;
            if (comparer.Compare(heap[k], heap[parent]) <= 0) return;
            (heap[k], heap[parent]) = (heap[parent], heap[k]);
            k = parent;
        }
    }

    /// <summary>Moves heap[0] down while a child of it sorts after it.</summary>
    private static void SiftDown(int[] heap, int size, HandleComparer comparer)
    {
        var k = 0;
        while (true)
        {
            var child = 2 * k + 1;
            if (child >= size) return;
            if (child + 1 < size && comparer.Compare(heap[child + 1], heap[child]) > 0) child++;
            if (comparer.Compare(heap[child], heap[k]) <= 0) return;
            (heap[k], heap[child]) = (heap[child], heap[k]);
            k = child;
        }
    }

    /// <summary>Copies the entries into a dictionary keyed by the word as a string.</summary>
    public Dictionary<string, long> ToDictionary()
    {
        var result = new Dictionary<string, long>(_count, StringComparer.Ordinal);
        foreach (var handle in GetHandles()) result.Add(Encoding.UTF8.GetString(GetWord(handle)), GetCount(handle));
        return result;
    }

    /// <summary>Removes every entry (keeps the allocated capacity).</summary>
    public void Clear()
    {
        Array.Clear(_slots);
        _count = 0;
        _arenaUsed = 0;
        _total = 0;
    }

    public void Dispose()
    {
        var arena = _arena;
        _arena = [];
        _slots = new Slot[MinCapacity];
        _mask = MinCapacity - 1;
        _shift = ShiftFor(MinCapacity);
        _growThreshold = GrowThreshold(MinCapacity);
        _count = 0;
        _arenaUsed = 0;
        _total = 0;
        if (arena.Length > 0) ArrayPool<byte>.Shared.Return(arena);
    }

    private static int GrowThreshold(int capacity) => (int)(capacity * 0.7);

    /// <summary>The smallest capacity that holds <paramref name="distinct"/> entries below the growth threshold.</summary>
    private static int CapacityFor(int distinct)
    {
        var capacity = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(distinct * 3L / 2, MinCapacity, 1 << 30));
        while (capacity < 1 << 30 && distinct > GrowThreshold(capacity)) capacity *= 2;
        return capacity;
    }

    private static int ShiftFor(int capacity) => 32 - BitOperations.Log2((uint)capacity);

    private ReadOnlySpan<byte> WordOf(ref Slot slot) =>
        slot.Length <= InlineMax
            ? MemoryMarshal.CreateReadOnlySpan(ref Unsafe.As<ulong, byte>(ref slot.Key0), slot.Length)
            : new ReadOnlySpan<byte>(_arena, (int)slot.Key0, slot.Length);

    private void Inserted(ref Slot slot, long count)
    {
        slot.Count = count;
        _total += count;
        if (++_count > _growThreshold) Resize();
    }

    private void GrowArena(int needed)
    {
        var required = (long)_arenaUsed + needed;
        if (required > Array.MaxLength) throw new InvalidOperationException("word table exceeds the maximum arena size");
        var size = Math.Min(Math.Max(required, (long)_arena.Length * 2), Array.MaxLength);
        var arena = ArrayPool<byte>.Shared.Rent((int)size);
        Buffer.BlockCopy(_arena, 0, arena, 0, _arenaUsed);
        if (_arena.Length > 0) ArrayPool<byte>.Shared.Return(_arena);
        _arena = arena;
    }

    private void Resize()
    {
        if (_slots.Length >= 1 << 30) throw new InvalidOperationException("word table is full");
        Rehash(_slots.Length * 2);
    }

    private void Rehash(int capacity)
    {
        var old = _slots;
        var slots = new Slot[capacity];
        var mask = slots.Length - 1;
        var shift = ShiftFor(slots.Length);
        for (var i = 0; i < old.Length; i++)
        {
            if (old[i].Count == 0) continue;
            var j = (int)(old[i].Hash >> shift);
            while (slots[j].Count != 0) j = (j + 1) & mask;
            slots[j] = old[i];
        }
        _slots = slots;
        _mask = mask;
        _shift = shift;
        _growThreshold = GrowThreshold(slots.Length);
    }

    /// <summary>Loads a key of 1..16 bytes as two zero-padded little-endian words, without reading past its end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadInline(ReadOnlySpan<byte> key, out ulong k0, out ulong k1)
    {
        ref var p = ref MemoryMarshal.GetReference(key);
        var len = key.Length;
        if (len >= 8)
        {
            k0 = Unsafe.ReadUnaligned<ulong>(ref p);
            k1 = len == 8 ? 0 : Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, len - 8)) >> (8 * (16 - len));
        }
        else if (len >= 4)
        {
            k0 = Unsafe.ReadUnaligned<uint>(ref p) | ((ulong)Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref p, len - 4)) << (8 * (len - 4)));
            k1 = 0;
        }
        else
        {
            k0 = p | ((ulong)Unsafe.Add(ref p, len >> 1) << (8 * (len >> 1))) | ((ulong)Unsafe.Add(ref p, len - 1) << (8 * (len - 1)));
            k1 = 0;
        }
    }

    /// <summary>
    /// Hash of an inline key: multiplicative, so its top bits (which pick the slot) depend on every key byte.
    /// The length needs no mixing in: words have no zero bytes, so the zero padding tells lengths apart.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint HashInline(ulong k0, ulong k1) =>
        (uint)(((k0 * 0x9E3779B97F4A7C15UL) ^ (k1 * 0xC2B2AE3D27D4EB4FUL)) >> 32);

    private static uint HashOf(ReadOnlySpan<byte> key)
    {
        LoadInline(key, out var k0, out var k1);
        return HashInline(k0, k1);
    }

    /// <summary>Hash of a key longer than <see cref="InlineMax"/> bytes (8 bytes per step).</summary>
    private static uint HashLong(ReadOnlySpan<byte> key)
    {
        const ulong K0 = 0x9E3779B97F4A7C15UL;
        const ulong K1 = 0xFF51AFD7ED558CCDUL;
        const ulong K2 = 0xC4CEB9FE1A85EC53UL;
        var h = (ulong)key.Length * K0;
        var i = 0;
        for (; i + 8 <= key.Length; i += 8)
        {
            h = (h ^ BinaryPrimitives.ReadUInt64LittleEndian(key[i..])) * K1;
            h ^= h >> 29;
        }
        if (i < key.Length) h = (h ^ BinaryPrimitives.ReadUInt64LittleEndian(key[^8..])) * K1;
        h ^= h >> 32;
        h *= K2;
        h ^= h >> 29;
        return (uint)h;
    }

    private sealed class HandleComparer(WordCountTable table) : IComparer<int>
    {
        public int Compare(int x, int y)
        {
            var cx = table._slots[x].Count;
            var cy = table._slots[y].Count;
            if (cx != cy) return cx > cy ? -1 : 1;
            return table.GetWord(x).SequenceCompareTo(table.GetWord(y));
        }
    }
}
