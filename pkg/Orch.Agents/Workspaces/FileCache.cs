using System.Collections.Concurrent;
using Orch.Agents.Shell;
using Orch.Coordination.Artifacts;
using Orch.Protocol;

namespace Orch.Agents.Workspaces;

/// <summary>
/// Files an agent fetched from the artifact store, kept by content hash: attempts that need the
/// same input (the shards of one corpus, a rerun) fetch it once and get hard links to it.
/// </summary>
internal sealed class FileCache(string directory, ArtifactStore store)
{
    private readonly ConcurrentDictionary<string, Lazy<Task>> _fetching = new(StringComparer.Ordinal);

    /// <summary>Places exactly the content <paramref name="file"/> names at <paramref name="destination"/>, fetching it first if this agent has not got it.</summary>
    public async Task PlaceAsync(RunFile file, string destination, CancellationToken cancellationToken)
    {
        if (file.Sha256.Length != 64 || !file.Sha256.All(char.IsAsciiHexDigitLower))
            throw new ArtifactException(ArtifactError.Corrupted, file.Artifact, $"'{file.Path}' has no valid SHA-256 in its task message");
        var cached = Path.Combine(directory, file.Sha256[..2], file.Sha256);
        if (!File.Exists(cached))
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
        }
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        // A hard link costs nothing however large the file; a copy when the workspace is on another file system.
        if (LibC.Link(cached, destination) != 0) File.Copy(cached, destination, overwrite: false);
    }
}
