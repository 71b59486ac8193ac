using System.Text;
using System.Text.Json;
using Orch.Actions.WordCount;

namespace Orch.Actions.Tests.WordCount;

/// <summary>A simple, independent word counter: runes, <see cref="Rune.IsLetter"/>, <see cref="Rune.ToLowerInvariant"/>, a dictionary.</summary>
internal static class ReferenceCounter
{
    public static Dictionary<string, long> CountFiles(IEnumerable<string> paths)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var path in paths) CountBytes(File.ReadAllBytes(path), counts);
        return counts;
    }

    public static Dictionary<string, long> CountText(string text)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        CountBytes(Encoding.UTF8.GetBytes(text), counts);
        return counts;
    }

    public static void CountBytes(ReadOnlySpan<byte> bytes, Dictionary<string, long> counts)
    {
        var word = new StringBuilder();
        while (!bytes.IsEmpty)
        {
            var status = Rune.DecodeFromUtf8(bytes, out var rune, out var consumed);
            if (status == System.Buffers.OperationStatus.Done && Rune.IsLetter(rune))
            {
                word.Append(Rune.ToLowerInvariant(rune).ToString());
            }
            else if (word.Length > 0)
            {
                Add(counts, word.ToString());
                word.Clear();
            }
            bytes = bytes[consumed..];
        }
        if (word.Length > 0) Add(counts, word.ToString());
    }

    private static void Add(Dictionary<string, long> counts, string word) =>
        counts[word] = counts.TryGetValue(word, out var n) ? n + 1 : 1;

    /// <summary>Count descending, then word by code point (compared as UTF-8 bytes).</summary>
    public static List<KeyValuePair<string, long>> Sorted(Dictionary<string, long> counts)
    {
        var list = counts.ToList();
        list.Sort((a, b) => a.Value != b.Value
            ? b.Value.CompareTo(a.Value)
            : Encoding.UTF8.GetBytes(a.Key).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(b.Key)));
        return list;
    }

    /// <summary>All regular files under a directory, sorted by relative path (the order split uses).</summary>
    public static List<string> FilesUnder(string directory) =>
        Directory.GetFiles(directory, "*", SearchOption.AllDirectories)
            .OrderBy(p => Path.GetRelativePath(directory, p).Replace('\\', '/'), StringComparer.Ordinal)
            .ToList();
}

/// <summary>A temporary directory removed on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "orch-wordcount-tests", Guid.NewGuid().ToString("N"));

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public string Write(string relative, string text) => WriteBytes(relative, Encoding.UTF8.GetBytes(text));

    public string WriteBytes(string relative, byte[] bytes)
    {
        var full = Combine(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, bytes);
        return full;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Runs split → count (every shard) → merge through the registered actions, like a pipeline would.</summary>
internal sealed class WordCountPipeline(TempDir temp)
{
    private readonly ActionRegistry _registry = ActionRegistry.CreateDefault();
    private int _tasks;

    public string OutputPath => temp.Combine("out", "result.json");
    public string TsvPath => temp.Combine("out", "counts.tsv");

    public async Task<IReadOnlyDictionary<string, object?>> RunAsync(string action, Dictionary<string, object?> with, string? artifactDirectory = null)
    {
        Assert.True(_registry.TryGet(action, out var impl), $"action {action} is not registered");
        var context = new ActionContext
        {
            With = with,
            WorkingDirectory = temp.Path,
            ArtifactDirectory = artifactDirectory ?? temp.Combine("artifacts", $"task-{Interlocked.Increment(ref _tasks)}"),
        };
        var result = await impl.ExecuteAsync(context, TestContext.Current.CancellationToken);
        return result.Outputs;
    }

    public async Task<List<Dictionary<string, object?>>> SplitAsync(string input, int shards)
    {
        var outputs = await RunAsync("wordcount/split", new() { ["input"] = input, ["shards"] = (long)shards });
        return ((List<object?>)outputs["shards"]!).Cast<Dictionary<string, object?>>().ToList();
    }

    /// <summary>The whole map/reduce; returns the parsed JSON result and the merge outputs.</summary>
    public async Task<(JsonDocument Json, IReadOnlyDictionary<string, object?> Outputs, List<Dictionary<string, object?>> Shards)> RunAllAsync(
        string input, int shards, long? top = null, bool tsv = false)
    {
        var shardList = await SplitAsync(input, shards);
        var partials = new List<object?>();
        foreach (var shard in shardList)
        {
            var counted = await RunAsync("wordcount/count", new() { ["shard"] = shard });
            partials.Add(counted["counts"]);
        }
        var with = new Dictionary<string, object?> { ["partials"] = partials, ["output"] = "out/result.json" };
        if (top is not null) with["top"] = top;
        if (tsv) with["counts"] = "out/counts.tsv";
        var merged = await RunAsync("wordcount/merge", with);
        var json = JsonDocument.Parse(await File.ReadAllBytesAsync(OutputPath, TestContext.Current.CancellationToken));
        return (json, merged, shardList);
    }

    /// <summary>Asserts the JSON result equals the reference counts (totals and the top list in exact order).</summary>
    public static void AssertMatches(Dictionary<string, long> expected, JsonDocument json, int top)
    {
        var root = json.RootElement;
        Assert.Equal(expected.Values.Sum(), root.GetProperty("total_words").GetInt64());
        Assert.Equal(expected.Count, root.GetProperty("distinct_words").GetInt64());
        var expectedTop = ReferenceCounter.Sorted(expected).Take(top).Select(p => $"{p.Key}={p.Value}").ToList();
        var actualTop = root.GetProperty("top").EnumerateArray()
            .Select(e => $"{e.GetProperty("word").GetString()}={e.GetProperty("count").GetInt64()}").ToList();
        Assert.Equal(expectedTop, actualTop);
    }

    /// <summary>Asserts the TSV lists every word of the reference counts in exact order.</summary>
    public void AssertTsvMatches(Dictionary<string, long> expected)
    {
        var expectedText = string.Concat(ReferenceCounter.Sorted(expected).Select(p => $"{p.Key}\t{p.Value}\n"));
        Assert.Equal(expectedText, File.ReadAllText(TsvPath, Encoding.UTF8));
    }
}
