using System.Buffers;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Orch.Actions.WordCount;

/// <summary>A shard: consecutive byte ranges of the input files, counted by one task.</summary>
public sealed record WordShard(int Id, IReadOnlyList<WordSegment> Segments)
{
    public long Bytes => Segments.Sum(s => s.Length);
}

/// <summary>An input file and its size.</summary>
public sealed record WordInputFile(string Path, long Length);

/// <summary>Lists input files and splits them into shards cut at word boundaries.</summary>
public static class ShardPlanner
{
    private const int ScanBufferSize = 64 * 1024;

    /// <summary>
    /// The files of <paramref name="path"/>: the file itself, or every file under the directory
    /// (recursively) sorted ordinally by relative path with '/' separators. Returns null when the path does not exist.
    /// </summary>
    public static List<WordInputFile>? ListFiles(string path)
    {
        if (File.Exists(path)) return [new WordInputFile(Path.GetFullPath(path), new FileInfo(path).Length)];
        if (!Directory.Exists(path)) return null;
        var root = Path.GetFullPath(path);
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            AttributesToSkip = FileAttributes.None,
            IgnoreInaccessible = false,
            ReturnSpecialDirectories = false,
        };
        var files = new List<(string Key, WordInputFile File)>();
        foreach (var info in new DirectoryInfo(root).EnumerateFiles("*", options))
        {
            var key = Path.GetRelativePath(root, info.FullName).Replace('\\', '/');
            files.Add((key, new WordInputFile(info.FullName, info.Length)));
        }
        files.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return files.ConvertAll(f => f.File);
    }

    /// <summary>
    /// Splits the concatenated bytes of <paramref name="files"/> into about <paramref name="shards"/> ranges of
    /// equal size. Each cut moves forward to a word boundary (never inside a word or a UTF-8 sequence); file ends
    /// are always boundaries. Empty shards are dropped; ids are consecutive from 0.
    /// </summary>
    public static List<WordShard> Plan(IReadOnlyList<WordInputFile> files, int shards, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentOutOfRangeException.ThrowIfLessThan(shards, 1);
        var starts = new long[files.Count + 1];
        for (var f = 0; f < files.Count; f++) starts[f + 1] = starts[f] + files[f].Length;
        var total = starts[^1];
        var result = new List<WordShard>();
        if (total == 0) return result;
        var effective = (int)Math.Min(shards, total);

        var cuts = new List<long>(effective + 1) { 0 };
        // total * k / effective without overflow, and without Int128 (which keeps this method out of the
        // ReadyToRun image, so it would be compiled at every start): q * k + r * k / effective, where r * k < 2^62.
        var (quotient, remainder) = Math.DivRem(total, effective);
        for (var k = 1; k < effective; k++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var target = quotient * k + remainder * k / effective;
            var previous = cuts[^1];
            if (target <= previous) continue;
            var f = Array.BinarySearch(starts, target);
            if (f >= 0)
            {
                cuts.Add(target); // a file start: always a boundary
                continue;
            }
            f = ~f - 1;
            var local = FindBoundary(files[f].Path, target - starts[f], files[f].Length);
            var cut = starts[f] + local;
            if (cut > previous) cuts.Add(cut);
        }
        if (cuts[^1] < total) cuts.Add(total);

        var fileIndex = 0;
        for (var c = 0; c + 1 < cuts.Count; c++)
        {
            long from = cuts[c], to = cuts[c + 1];
            var segments = new List<WordSegment>();
            while (fileIndex < files.Count && starts[fileIndex + 1] <= from) fileIndex++;
            for (var f = fileIndex; f < files.Count && starts[f] < to; f++)
            {
                var begin = Math.Max(from, starts[f]);
                var end = Math.Min(to, starts[f + 1]);
                if (end > begin) segments.Add(new WordSegment(files[f].Path, begin - starts[f], end - begin));
            }
            if (segments.Count > 0) result.Add(new WordShard(result.Count, segments));
        }
        return result;
    }

    /// <summary>
    /// The first offset at or after <paramref name="offset"/> that is a word boundary: skips UTF-8 continuation
    /// bytes, then letters, stopping before the first non-letter (or at the end of the file).
    /// </summary>
    public static long FindBoundary(string path, long offset, long fileLength)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return FindBoundary(handle, offset, fileLength);
    }

    private static long FindBoundary(SafeFileHandle handle, long offset, long fileLength)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ScanBufferSize);
        try
        {
            var position = offset;
            var atStart = true;
            while (position < fileLength)
            {
                var read = RandomAccess.Read(handle, buffer.AsSpan(0, (int)Math.Min(buffer.Length, fileLength - position)), position);
                if (read <= 0) return fileLength;
                var span = buffer.AsSpan(0, read);
                var final = position + read >= fileLength;
                var i = 0;
                if (atStart)
                {
                    while (i < span.Length && (span[i] & 0xC0) == 0x80) i++;
                    if (i == span.Length)
                    {
                        position += i;
                        continue;
                    }
                    atStart = false;
                }
                while (i < span.Length)
                {
                    var status = Rune.DecodeFromUtf8(span[i..], out var rune, out var consumed);
                    if (status == OperationStatus.NeedMoreData && !final) break;
                    if (status != OperationStatus.Done || !Rune.IsLetter(rune)) return position + i;
                    i += consumed;
                }
                if (i == 0) return position; // cannot happen with a 64 KiB buffer; guards against a loop
                position += i;
            }
            return fileLength;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
