namespace Orch.Coordination.Embedded;

/// <summary>
/// In-memory state with compare-and-set, optionally written through to a directory (one file per
/// key, replaced atomically by rename) so that a later process can read it back: this is how the
/// embedded default keeps run records under <c>.orch/</c> for <c>--resume</c>. With a directory,
/// only versions stay in memory and values are read back from their files, so large run records
/// are not held twice.
/// </summary>
public sealed class EmbeddedStateStore(string? directory = null) : IStateStore
{
    private readonly Dictionary<string, VersionedValue> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _versions = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public ValueTask<VersionedValue?> GetAsync(string key, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(Load(key));
        }
    }

    public ValueTask<long?> TrySetAsync(string key, ReadOnlyMemory<byte> value, long? expectedVersion, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var currentVersion = VersionOf(key);
            if (expectedVersion is { } expected && expected != currentVersion) return ValueTask.FromResult<long?>(null);
            var version = currentVersion + 1;
            if (directory is not null)
            {
                WriteFile(key, value.Span);
                _versions[key] = version;
            }
            else
            {
                _values[key] = new VersionedValue(value.ToArray(), version);
            }
            return ValueTask.FromResult<long?>(version);
        }
    }

    public ValueTask<bool> DeleteAsync(string key, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var existed = VersionOf(key) > 0;
            _values.Remove(key);
            _versions.Remove(key);
            if (directory is not null && File.Exists(PathOf(key))) File.Delete(PathOf(key));
            return ValueTask.FromResult(existed);
        }
    }

    public ValueTask<IReadOnlyList<string>> ListKeysAsync(string prefix, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var keys = new SortedSet<string>(_values.Keys.Concat(_versions.Keys).Where(k => k.StartsWith(prefix, StringComparison.Ordinal)), StringComparer.Ordinal);
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
        if (directory is null) return _values.GetValueOrDefault(key);
        var path = PathOf(key);
        if (!File.Exists(path)) return null;
        // A file written by an earlier process counts as version 1.
        var version = _versions.TryGetValue(key, out var known) ? known : _versions[key] = 1;
        return new VersionedValue(File.ReadAllBytes(path), version);
    }

    private long VersionOf(string key)
    {
        if (directory is null) return _values.TryGetValue(key, out var value) ? value.Version : 0;
        if (_versions.TryGetValue(key, out var version)) return version;
        return File.Exists(PathOf(key)) ? _versions[key] = 1 : 0;
    }

    private string PathOf(string key)
    {
        if (key.Length == 0 || key.Contains("..", StringComparison.Ordinal) || key.StartsWith('/'))
            throw new ArgumentException($"state key '{key}' is not a relative path", nameof(key));
        return Path.Combine(directory!, key);
    }

    private void WriteFile(string key, ReadOnlySpan<byte> value)
    {
        var path = PathOf(key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0))
        {
            file.Write(value);
        }
        File.Move(temp, path, overwrite: true);
    }
}
