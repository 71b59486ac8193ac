namespace Orch.Coordination.Embedded;

/// <summary>
/// In-memory state with compare-and-set, optionally written through to a directory (one file per
/// key, replaced atomically by rename) so that a later process can read it back: this is how the
/// embedded default keeps run records under <c>.orch/</c> for <c>--resume</c>.
/// </summary>
public sealed class EmbeddedStateStore(string? directory = null) : IStateStore
{
    private readonly Dictionary<string, VersionedValue> _values = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public ValueTask<VersionedValue?> GetAsync(string key, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(Load(key));
        }
    }

    public ValueTask<long?> TrySetAsync(string key, byte[] value, long? expectedVersion, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var current = Load(key);
            var currentVersion = current?.Version ?? 0;
            if (expectedVersion is { } expected && expected != currentVersion) return ValueTask.FromResult<long?>(null);
            var next = new VersionedValue(value, currentVersion + 1);
            if (directory is not null) WriteFile(key, value);
            _values[key] = next;
            return ValueTask.FromResult<long?>(next.Version);
        }
    }

    public ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var existed = Load(key) is not null;
            _values.Remove(key);
            if (directory is not null && File.Exists(PathOf(key))) File.Delete(PathOf(key));
            return ValueTask.FromResult(existed);
        }
    }

    public ValueTask<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var keys = new SortedSet<string>(_values.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)), StringComparer.Ordinal);
            if (directory is not null && Directory.Exists(directory))
            {
                foreach (var file in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories))
                {
                    var key = Path.GetRelativePath(directory, file).Replace(Path.DirectorySeparatorChar, '/');
                    if (key.StartsWith(prefix, StringComparison.Ordinal) && !key.EndsWith(".tmp", StringComparison.Ordinal)) keys.Add(key);
                }
            }
            return ValueTask.FromResult<IReadOnlyList<string>>(keys.ToList());
        }
    }

    private VersionedValue? Load(string key)
    {
        if (_values.TryGetValue(key, out var value)) return value;
        if (directory is null) return null;
        var path = PathOf(key);
        if (!File.Exists(path)) return null;
        var loaded = new VersionedValue(File.ReadAllBytes(path), 1);
        _values[key] = loaded;
        return loaded;
    }

    private string PathOf(string key)
    {
        if (key.Length == 0 || key.Contains("..", StringComparison.Ordinal) || key.StartsWith('/'))
            throw new ArgumentException($"state key '{key}' is not a relative path", nameof(key));
        return Path.Combine(directory!, key);
    }

    private void WriteFile(string key, byte[] value)
    {
        var path = PathOf(key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, value);
        File.Move(temp, path, overwrite: true);
    }
}
