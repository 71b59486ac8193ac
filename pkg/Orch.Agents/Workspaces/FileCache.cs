using System.Collections.Concurrent;
using Orch.Agents.Shell;
using Orch.Coordination.Artifacts;
using Orch.Protocol;

namespace Orch.Agents.Workspaces;

/// <summary>
/// Files an agent fetched from the artifact store, kept by content hash: attempts that need the
/// same input (the shards of one corpus, a rerun) fetch it once and get hard links to it. When the
/// cache holds more than <paramref name="maxBytes"/>, the files used longest ago are removed
/// (a workspace's hard link keeps its file while the attempt runs).
/// </summary>
internal sealed class FileCache(string directory, ArtifactStore store, long maxBytes)
{
    private readonly ConcurrentDictionary<string, Lazy<Task>> _fetching = new(StringComparer.Ordinal);
    private readonly Lock _trimming = new();

    /// <summary>Places exactly the content <paramref name="file"/> names at <paramref name="destination"/>, fetching it first if this agent has not got it.</summary>
    public async Task PlaceAsync(RunFile file, string destination, CancellationToken cancellationToken)
    {
        if (file.Sha256.Length != 64 || !file.Sha256.All(char.IsAsciiHexDigitLower))
            throw new ArtifactException(ArtifactError.Corrupted, file.Artifact, $"'{file.Path}' has no valid SHA-256 in its task message");
        var cached = Path.Combine(directory, file.Sha256[..2], file.Sha256);
        if (File.Exists(cached))
        {
            File.SetLastWriteTimeUtc(cached, DateTime.UtcNow); // marks it used, for trimming
        }
        else
        {
            // One fetch per content however many attempts wait for it; it runs on when one of
            // them is cancelled, and a failed fetch is forgotten so that the next attempt tries again.
            var fetch = _fetching.GetOrAdd(file.Sha256, _ => new Lazy<Task>(() => store.GetToFileAsync(file.ToArtifactRef(), cached, CancellationToken.None)));
            try
            {
                await fetch.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                if (fetch.Value.IsCompleted) _fetching.TryRemove(new KeyValuePair<string, Lazy<Task>>(file.Sha256, fetch));
            }
            Trim(keep: cached);
        }
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        // A hard link costs nothing however large the file; a copy when the workspace is on another file system.
        if (LibC.Link(cached, destination) != 0) File.Copy(cached, destination, overwrite: false);
    }

    /// <summary>Removes the files used longest ago until the cache fits its limit again.</summary>
    private void Trim(string keep)
    {
        lock (_trimming)
        {
            var files = new DirectoryInfo(directory).EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true })
                .Where(f => !f.Name.EndsWith(".partial", StringComparison.Ordinal))
                .ToList();
            var total = files.Sum(f => f.Length);
            foreach (var old in files.OrderBy(f => f.LastWriteTimeUtc))
            {
                if (total <= maxBytes) break;
                if (old.FullName == keep) continue;
                try { old.Delete(); total -= old.Length; }
                catch (IOException) { }
            }
        }
    }
}
