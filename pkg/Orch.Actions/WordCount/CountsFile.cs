using System.Buffers;

namespace Orch.Actions.WordCount;

/// <summary>
/// The binary partial-counts format passed from <c>wordcount/count</c> to <c>wordcount/merge</c>:
/// <c>"WCNT"</c>, a version byte, varint distinct, varint total, then per entry
/// varint byte length, the word's UTF-8 bytes and varint count. Varints are unsigned LEB128.
/// </summary>
public static class CountsFile
{
    private const byte Version = 1;
    private const int BufferSize = 1 << 20;
    private static ReadOnlySpan<byte> Magic => "WCNT"u8;

    /// <summary>Writes <paramref name="table"/> to <paramref name="path"/> (replaced atomically).</summary>
    public static void Write(string path, WordCountTable table, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(table);
        var temp = path + ".tmp";
        // Pooled: a fresh 1 MB array per file would be zeroed and faulted in every time.
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            using var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1);
            Magic.CopyTo(buffer);
            buffer[4] = Version;
            var pos = 5;
            pos += WriteVarint(buffer.AsSpan(pos), (ulong)table.Count);
            pos += WriteVarint(buffer.AsSpan(pos), (ulong)table.TotalWords);
            var handles = table.GetHandles();
            for (var k = 0; k < handles.Length; k++)
            {
                if ((k & 0xFFFF) == 0) cancellationToken.ThrowIfCancellationRequested();
                var word = table.GetWord(handles[k]);
                if (buffer.Length - pos < word.Length + 20)
                {
                    stream.Write(buffer, 0, pos);
                    pos = 0;
                }
                pos += WriteVarint(buffer.AsSpan(pos), (ulong)word.Length);
                if (word.Length > buffer.Length - pos - 10)
                {
                    stream.Write(buffer, 0, pos);
                    pos = 0;
                    stream.Write(word);
                }
                else
                {
                    word.CopyTo(buffer.AsSpan(pos));
                    pos += word.Length;
                }
                pos += WriteVarint(buffer.AsSpan(pos), (ulong)table.GetCount(handles[k]));
            }
            stream.Write(buffer, 0, pos);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Reads a partial-counts file and adds its entries to <paramref name="table"/>; returns (distinct, total) of the file.</summary>
    public static (long Distinct, long Total) ReadInto(string path, WordCountTable table, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(table);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        using var reader = new Reader(stream, path);
        var header = reader.Take(5);
        if (!header[..4].SequenceEqual(Magic) || header[4] != Version)
            throw new InvalidDataException($"'{path}' is not a word-count partial file (version {Version})");
        var distinct = (long)reader.ReadVarint();
        var total = (long)reader.ReadVarint();
        // Entries come in the writer's slot order; room for them all up front keeps them spread out. An entry takes
        // at least 3 bytes, which bounds what a corrupt header can make this allocate.
        table.EnsureCapacity((int)Math.Min(Math.Min(Math.Max(distinct, table.Count), stream.Length / 3), int.MaxValue));
        long sum = 0;
        for (long k = 0; k < distinct; k++)
        {
            if ((k & 0xFFFF) == 0) cancellationToken.ThrowIfCancellationRequested();
            var length = reader.ReadVarint();
            if (length == 0 || length > int.MaxValue / 2) throw reader.Corrupt();
            var word = reader.Take((int)length);
            var count = (long)reader.ReadVarint();
            if (count <= 0) throw reader.Corrupt();
            table.Add(word, count);
            sum += count;
        }
        if (sum != total || !reader.AtEnd()) throw reader.Corrupt();
        return (distinct, total);
    }

    private static int WriteVarint(Span<byte> destination, ulong value)
    {
        var i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[i++] = (byte)value;
        return i;
    }

    private sealed class Reader(Stream stream, string path) : IDisposable
    {
        private byte[] _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        private int _pos;
        private int _len;
        private bool _eof;

        public void Dispose()
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }

        public InvalidDataException Corrupt() => new($"'{path}' is a corrupt word-count partial file");

        /// <summary>
        /// The next <paramref name="count"/> bytes. Also buffers up to 10 more bytes so that a following
        /// <see cref="ReadVarint"/> does not move the buffer under the returned span.
        /// </summary>
        public ReadOnlySpan<byte> Take(int count)
        {
            if (_len - _pos < count + 10) Fill(count + 10);
            if (_len - _pos < count) throw Corrupt();
            var span = new ReadOnlySpan<byte>(_buffer, _pos, count);
            _pos += count;
            return span;
        }

        public ulong ReadVarint()
        {
            if (_len - _pos < 10) Fill(10);
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (_pos >= _len) throw Corrupt();
                var b = _buffer[_pos++];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return value;
            }
            throw Corrupt();
        }

        public bool AtEnd() => _pos == _len && !Fill(1);

        /// <summary>Tries to make <paramref name="count"/> bytes available; false at end of file.</summary>
        private bool Fill(int count)
        {
            if (_len - _pos >= count) return true;
            if (_eof) return false;
            var remaining = _len - _pos;
            if (count > _buffer.Length)
            {
                var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(count, _buffer.Length * 2));
                Buffer.BlockCopy(_buffer, _pos, bigger, 0, remaining);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = bigger;
            }
            else if (remaining > 0)
            {
                Buffer.BlockCopy(_buffer, _pos, _buffer, 0, remaining);
            }
            _pos = 0;
            _len = remaining;
            while (_len < _buffer.Length)
            {
                var read = stream.Read(_buffer, _len, _buffer.Length - _len);
                if (read == 0)
                {
                    _eof = true;
                    break;
                }
                _len += read;
                if (_len >= count) break;
            }
            return _len >= count;
        }
    }
}
