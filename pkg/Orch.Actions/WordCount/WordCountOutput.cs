using System.Buffers.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Orch.Actions.WordCount;

/// <summary>Writes merged counts: the JSON summary and the optional TSV of every word.</summary>
public static class WordCountOutput
{
    /// <summary>
    /// Writes <c>{"total_words": N, "distinct_words": M, "top": [{"word": "the", "count": 123}, ...]}</c>
    /// (top entries: count descending, then word ordinal). Non-ASCII letters are written unescaped.
    /// </summary>
    public static void WriteJson(string path, WordCountTable table, int top)
    {
        ArgumentNullException.ThrowIfNull(table);
        var handles = table.GetTopHandles(top);
        WriteAtomically(path, stream =>
        {
            using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                writer.WriteStartObject();
                writer.WriteNumber("total_words", table.TotalWords);
                writer.WriteNumber("distinct_words", table.Count);
                writer.WriteStartArray("top");
                foreach (var handle in handles)
                {
                    writer.WriteStartObject();
                    writer.WriteString("word", table.GetWord(handle));
                    writer.WriteNumber("count", table.GetCount(handle));
                    writer.WriteEndObject();
                }
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
            stream.WriteByte((byte)'\n');
        });
    }

    /// <summary>Writes every <c>word&lt;TAB&gt;count\n</c> line, count descending then word ordinal.</summary>
    public static void WriteTsv(string path, WordCountTable table, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(table);
        var handles = table.GetSortedHandles();
        WriteAtomically(path, stream =>
        {
            var buffer = new byte[1 << 20];
            var pos = 0;
            for (var k = 0; k < handles.Length; k++)
            {
                if ((k & 0xFFFF) == 0) cancellationToken.ThrowIfCancellationRequested();
                var word = table.GetWord(handles[k]);
                if (buffer.Length - pos < word.Length + 22)
                {
                    stream.Write(buffer, 0, pos);
                    pos = 0;
                    if (buffer.Length < word.Length + 22) buffer = new byte[word.Length + 22];
                }
                word.CopyTo(buffer.AsSpan(pos));
                pos += word.Length;
                buffer[pos++] = (byte)'\t';
                Utf8Formatter.TryFormat(table.GetCount(handles[k]), buffer.AsSpan(pos), out var written);
                pos += written;
                buffer[pos++] = (byte)'\n';
            }
            stream.Write(buffer, 0, pos);
        });
    }

    private static void WriteAtomically(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
        var temp = full + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
        {
            write(stream);
        }
        File.Move(temp, full, overwrite: true);
    }
}
