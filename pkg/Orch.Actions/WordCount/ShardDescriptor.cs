namespace Orch.Actions.WordCount;

/// <summary>
/// The plain-value form of a <see cref="WordShard"/> passed between steps:
/// <c>{ "id": 0, "segments": [ { "path": "/abs/file", "offset": 0, "length": 123 } ], "bytes": 123 }</c>.
/// </summary>
public static class ShardDescriptor
{
    public static Dictionary<string, object?> ToPlain(WordShard shard)
    {
        ArgumentNullException.ThrowIfNull(shard);
        var segments = new List<object?>(shard.Segments.Count);
        foreach (var segment in shard.Segments)
        {
            segments.Add(new Dictionary<string, object?>
            {
                ["path"] = segment.Path,
                ["offset"] = segment.Offset,
                ["length"] = segment.Length,
            });
        }
        return new Dictionary<string, object?>
        {
            ["id"] = (long)shard.Id,
            ["segments"] = segments,
            ["bytes"] = shard.Bytes,
        };
    }

    /// <summary>Reads a descriptor leniently (numbers as long, double or string). Relative paths go through <paramref name="resolvePath"/>.</summary>
    public static WordShard Parse(object? value, Func<string, string> resolvePath)
    {
        ArgumentNullException.ThrowIfNull(resolvePath);
        var map = PlainValues.AsMap(value) ?? throw new ActionInputException("input 'shard' must be a shard descriptor (a map with 'segments')");
        var id = map.TryGetValue("id", out var idValue) && idValue is not null ? PlainValues.ToInt64(idValue, "shard 'id'") : 0;
        if (id is < 0 or > int.MaxValue) throw new ActionInputException($"shard 'id' must be between 0 and {int.MaxValue}, got {id}");
        if (!map.TryGetValue("segments", out var segmentsValue))
            throw new ActionInputException("input 'shard' has no 'segments'");
        var items = PlainValues.AsList(segmentsValue) ?? throw new ActionInputException("shard 'segments' must be a list");
        var segments = new List<WordSegment>(items.Count);
        foreach (var item in items)
        {
            var segment = PlainValues.AsMap(item) ?? throw new ActionInputException("each shard segment must be a map with 'path', 'offset' and 'length'");
            if (!segment.TryGetValue("path", out var pathValue) || pathValue is null || pathValue is string { Length: 0 })
                throw new ActionInputException("a shard segment has no 'path'");
            var path = resolvePath(PlainValues.ToText(pathValue, "segment 'path'"));
            var offset = segment.TryGetValue("offset", out var o) && o is not null ? PlainValues.ToInt64(o, "segment 'offset'") : 0;
            if (!segment.TryGetValue("length", out var l) || l is null)
                throw new ActionInputException($"the shard segment of '{path}' has no 'length'");
            var length = PlainValues.ToInt64(l, "segment 'length'");
            if (offset < 0 || length < 0 || offset > long.MaxValue - length)
                throw new ActionInputException($"the shard segment of '{path}' has an invalid range (offset {offset}, length {length})");
            segments.Add(new WordSegment(path, offset, length));
        }
        return new WordShard((int)id, segments);
    }
}
