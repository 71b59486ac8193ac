using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Orch.Coordination.Artifacts;

/// <summary>
/// Files and streams kept in an <see cref="IStateStore"/>, so that every coordination backend can
/// move them between machines.
/// <para>Key layout under the key prefix (default <c>artifacts/</c>):</para>
/// <list type="bullet">
/// <item><c>chunks/{h2}/{sha256}</c>: one chunk's bytes, addressed by their SHA-256 (<c>h2</c> is
/// its first two hex digits, so a file-backed store does not put every chunk in one directory).
/// Identical content is stored once, whichever artifact or upload it came from.</item>
/// <item><c>manifests/{escaped name}@</c>: JSON with size, SHA-256 of the whole content and the
/// chunk hashes in order. Written last: an artifact exists once its manifest does, so a reader
/// never sees a half-uploaded artifact. The <c>@</c> (escaped inside names) keeps the names
/// <c>a</c> and <c>a/b</c> from needing a file and a directory of the same name in a file-backed store.</item>
/// <item><c>uploads/{id}</c>: start time of an upload in progress, removed when it ends.</item>
/// <item><c>gc</c>: start time of a garbage collection in progress.</item>
/// </list>
/// <para>
/// Deleting removes manifests only; <see cref="CollectGarbageAsync"/> then removes chunks no
/// manifest references. A collection and uploads exclude each other through the marker keys:
/// an upload writes its marker and then waits while a collection marker exists; a collection
/// writes its marker and then gives up if any upload marker exists. Whichever writes second sees
/// the other, so a collection never removes a chunk an upload is about to reference. Markers of
/// processes that died are recognised by age (see <see cref="ArtifactLimits.MaxUploadDuration"/>).
/// </para>
/// </summary>
public sealed class ArtifactStore
{
    /// <summary>A collection stops deleting after this long, so waiting uploads can trust an older marker to be abandoned.</summary>
    private static readonly TimeSpan CollectionBudget = TimeSpan.FromMinutes(1);

    private static readonly TimeSpan MarkerPoll = TimeSpan.FromMilliseconds(100);

    private readonly IStateStore _state;
    private readonly ArtifactLimits _limits;
    private readonly TimeProvider _time;
    private readonly string _manifests;
    private readonly string _chunks;
    private readonly string _uploads;
    private readonly string _gc;

    /// <param name="state">Where chunks and manifests live.</param>
    /// <param name="limits">Sizes and concurrency; <see cref="ArtifactLimits.Default"/> when null.</param>
    /// <param name="keyPrefix">Starts every key this store uses; must end with <c>/</c>.</param>
    /// <param name="time">Clock for marker ages; the system clock when null.</param>
    public ArtifactStore(IStateStore state, ArtifactLimits? limits = null, string keyPrefix = "artifacts/", TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentException.ThrowIfNullOrEmpty(keyPrefix);
        if (!keyPrefix.EndsWith('/')) throw new ArgumentException("the key prefix must end with '/'", nameof(keyPrefix));
        _state = state;
        _limits = limits ?? ArtifactLimits.Default;
        _limits.Validate();
        _time = time ?? TimeProvider.System;
        _manifests = keyPrefix + "manifests/";
        _chunks = keyPrefix + "chunks/";
        _uploads = keyPrefix + "uploads/";
        _gc = keyPrefix + "gc";
    }

    public ArtifactLimits Limits => _limits;

    // ---- upload -------------------------------------------------------------------------------

    /// <summary>
    /// Stores the file at <paramref name="path"/> under <paramref name="name"/>, replacing what the
    /// name held. When the name already holds exactly this content with every chunk present (the
    /// same input uploaded by a resumed run), nothing is sent: the file is only hashed locally.
    /// </summary>
    public async Task<ArtifactRef> PutFileAsync(string name, string path, CancellationToken cancellationToken)
    {
        ArtifactNames.Validate(name);
        await using var upload = await BeginUploadAsync(cancellationToken).ConfigureAwait(false);
        return await PutFileCoreAsync(name, path, upload, _limits.Parallelism, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stores what <paramref name="content"/> holds from its position to its end under <paramref name="name"/>.</summary>
    public async Task<ArtifactRef> PutAsync(string name, Stream content, CancellationToken cancellationToken)
    {
        ArtifactNames.Validate(name);
        ArgumentNullException.ThrowIfNull(content);
        await using var upload = await BeginUploadAsync(cancellationToken).ConfigureAwait(false);
        return await PutCoreAsync(name, content, upload, _limits.Parallelism, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Stores every file under <paramref name="directory"/> as <c>{prefix}/{relative path}</c>, then
    /// removes artifacts under <c>{prefix}/</c> the directory no longer has, so the prefix mirrors
    /// the directory. Limits on total size and file count are checked before anything is stored.
    /// Returns the refs in ordinal order of name.
    /// </summary>
    public async Task<IReadOnlyList<ArtifactRef>> PutDirectoryAsync(string prefix, string directory, CancellationToken cancellationToken)
    {
        ArtifactNames.Validate(prefix);
        var root = new DirectoryInfo(directory);
        if (!root.Exists) throw new DirectoryNotFoundException($"directory '{directory}' does not exist");
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false };
        var files = root.EnumerateFiles("*", options)
            .Select(f => (File: f, Name: prefix + "/" + Path.GetRelativePath(root.FullName, f.FullName).Replace(Path.DirectorySeparatorChar, '/')))
            .OrderBy(f => f.Name, StringComparer.Ordinal)
            .ToList();

        var refs = await PutFilesAsync(prefix, files.Select(f => (f.Name, f.File.FullName)).ToList(), cancellationToken).ConfigureAwait(false);

        var kept = refs.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var stale in await ListNamesAsync(prefix + "/", cancellationToken).ConfigureAwait(false))
        {
            if (!kept.Contains(stale)) await _state.DeleteAsync(ManifestKey(stale), cancellationToken).ConfigureAwait(false);
        }
        return refs;
    }

    /// <summary>
    /// Stores each file under its name in one upload, after checking the directory limits
    /// (<paramref name="what"/> names the set in their errors). Returns the refs in the given order.
    /// </summary>
    public async Task<ArtifactRef[]> PutFilesAsync(string what, IReadOnlyList<(string Name, string Path)> files, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(files);
        if (files.Count > _limits.MaxDirectoryFiles)
            throw new ArtifactException(ArtifactError.TooLarge, what,
                $"'{what}' has {files.Count} files, more than the limit of {_limits.MaxDirectoryFiles} (ArtifactLimits.MaxDirectoryFiles)");
        var total = files.Sum(f => new FileInfo(f.Path).Length);
        if (total > _limits.MaxDirectoryBytes)
            throw new ArtifactException(ArtifactError.TooLarge, what,
                $"'{what}' holds {Size(total)} in {files.Count} files, more than the limit of {Size(_limits.MaxDirectoryBytes)} (ArtifactLimits.MaxDirectoryBytes)");
        foreach (var (name, _) in files) ArtifactNames.Validate(name);

        var refs = new ArtifactRef[files.Count];
        await using (var upload = await BeginUploadAsync(cancellationToken).ConfigureAwait(false))
        {
            // Several files at once, one chunk each in flight: many small files do not pay their
            // round trips one after another, and memory stays at a few chunks.
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = _limits.Parallelism, CancellationToken = cancellationToken };
            await Parallel.ForEachAsync(Enumerable.Range(0, files.Count), parallel, async (i, ct) =>
                refs[i] = await PutFileCoreAsync(files[i].Name, files[i].Path, upload, 1, ct).ConfigureAwait(false)).ConfigureAwait(false);
        }
        return refs;
    }

    private async Task<ArtifactRef> PutFileCoreAsync(string name, string path, Upload upload, int parallelism, CancellationToken cancellationToken)
    {
        await using var file = OpenForRead(path);
        if (await UnchangedAsync(name, file, upload, cancellationToken).ConfigureAwait(false) is { } unchanged) return unchanged;
        return await PutCoreAsync(name, file, upload, parallelism, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The existing artifact when <paramref name="name"/> already holds this file's content and all its chunks.</summary>
    private async Task<ArtifactRef?> UnchangedAsync(string name, FileStream file, Upload upload, CancellationToken cancellationToken)
    {
        if (file.Length > _limits.MaxArtifactBytes) return null;
        ArtifactManifest? existing;
        try
        {
            existing = await TryReadManifestAsync(name, cancellationToken).ConfigureAwait(false);
        }
        catch (ArtifactException)
        {
            return null; // an unreadable manifest is simply replaced
        }
        if (existing is null || existing.Size != file.Length) return null;
        var hash = Convert.ToHexStringLower(await SHA256.HashDataAsync(file, cancellationToken).ConfigureAwait(false));
        file.Position = 0;
        if (hash != existing.Sha256) return null;
        // Chunks are checked too, so uploading again repairs an artifact whose chunk the store lost.
        var present = await upload.ChunkKeysAsync(cancellationToken).ConfigureAwait(false);
        return existing.Chunks.All(c => present.Contains(ChunkKey(c))) ? existing.ToRef() : null;
    }

    private static FileStream OpenForRead(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.Asynchronous | FileOptions.SequentialScan);

    /// <summary>
    /// Reads chunk by chunk, storing up to <paramref name="parallelism"/> chunks at once while
    /// reading the next, then writes the manifest.
    /// </summary>
    private async Task<ArtifactRef> PutCoreAsync(string name, Stream content, Upload upload, int parallelism, CancellationToken cancellationToken)
    {
        if (content.CanSeek)
        {
            var length = content.Length - content.Position;
            if (length > _limits.MaxArtifactBytes) throw TooLarge(name, length);
        }

        var chunkBytes = _limits.ChunkBytes;
        var chunks = new List<string>();
        var inFlight = new Queue<(Task<string> Store, byte[] Buffer)>();
        var spare = new Stack<byte[]>();
        using var whole = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long size = 0;
        try
        {
            while (true)
            {
                var buffer = spare.Count > 0 ? spare.Pop() : ArrayPool<byte>.Shared.Rent(chunkBytes);
                var read = await content.ReadAtLeastAsync(buffer.AsMemory(0, chunkBytes), chunkBytes, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    break;
                }
                size += read;
                if (size > _limits.MaxArtifactBytes) throw TooLarge(name, null);

                var data = buffer.AsMemory(0, read);
                inFlight.Enqueue((StoreChunkAsync(data, cancellationToken), buffer));
                whole.AppendData(data.Span);
                while (inFlight.Count >= parallelism) await SettleOldestAsync().ConfigureAwait(false);
                if (read < chunkBytes) break;
            }
            while (inFlight.Count > 0) await SettleOldestAsync().ConfigureAwait(false);
        }
        finally
        {
            // Buffers go back to the pool only once no store call can still be reading them.
            foreach (var (store, buffer) in inFlight)
            {
                try { await store.ConfigureAwait(false); } catch (Exception) { /* the first failure is already propagating */ }
                ArrayPool<byte>.Shared.Return(buffer);
            }
            foreach (var buffer in spare) ArrayPool<byte>.Shared.Return(buffer);
        }

        // In order, so the manifest lists chunk hashes in content order.
        async Task SettleOldestAsync()
        {
            var (store, buffer) = inFlight.Dequeue();
            try
            {
                chunks.Add(await store.ConfigureAwait(false));
            }
            finally
            {
                spare.Push(buffer);
            }
        }

        upload.ThrowIfOverdue(name);
        var manifest = new ArtifactManifest(ArtifactManifest.CurrentFormat, name, size, Convert.ToHexStringLower(whole.GetHashAndReset()), chunkBytes, chunks);
        await _state.TrySetAsync(ManifestKey(name), manifest.Serialize(), null, cancellationToken).ConfigureAwait(false);
        return manifest.ToRef();
    }

    /// <summary>Hashes a chunk on the thread pool (alongside reading the next one and the whole-content hash) and stores it.</summary>
    private Task<string> StoreChunkAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => Task.Run(async () =>
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(data.Span));
        // Created only when missing: content-addressed, so an existing chunk already holds these bytes.
        await _state.TrySetAsync(ChunkKey(hash), data, 0, cancellationToken).ConfigureAwait(false);
        return hash;
    }, cancellationToken);

    /// <param name="size">The size when known up front; null when a stream ran past the limit.</param>
    private ArtifactException TooLarge(string name, long? size) =>
        new(ArtifactError.TooLarge, name, size is { } known
            ? $"artifact '{name}' is {Size(known)}, more than the limit of {Size(_limits.MaxArtifactBytes)} (ArtifactLimits.MaxArtifactBytes)"
            : $"artifact '{name}' is larger than the limit of {Size(_limits.MaxArtifactBytes)} (ArtifactLimits.MaxArtifactBytes); nothing was stored under the name");

    // ---- download -----------------------------------------------------------------------------

    /// <summary>The artifact's ref, or null when no artifact has that name.</summary>
    public async Task<ArtifactRef?> FindAsync(string name, CancellationToken cancellationToken) =>
        (await TryReadManifestAsync(name, cancellationToken).ConfigureAwait(false))?.ToRef();

    /// <summary>Writes the artifact named <paramref name="name"/> to <paramref name="destination"/>, verifying every byte.</summary>
    /// <remarks>On failure part of the content may already be written; <see cref="GetToFileAsync(string, string, CancellationToken)"/> never leaves a partial file.</remarks>
    public async Task<ArtifactRef> GetAsync(string name, Stream destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var manifest = await ReadManifestAsync(name, cancellationToken).ConfigureAwait(false);
        await GetCoreAsync(manifest, destination, _limits.Parallelism, cancellationToken).ConfigureAwait(false);
        return manifest.ToRef();
    }

    /// <summary>Writes exactly the content <paramref name="artifact"/> refers to; fails with <see cref="ArtifactError.Changed"/> when its name now holds other content.</summary>
    public async Task GetAsync(ArtifactRef artifact, Stream destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        ArgumentNullException.ThrowIfNull(destination);
        var manifest = await ReadManifestAsync(artifact, cancellationToken).ConfigureAwait(false);
        await GetCoreAsync(manifest, destination, _limits.Parallelism, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes the artifact to <paramref name="path"/> through a temporary file in the same
    /// directory that is renamed into place once verified, so the path never holds a partial file.
    /// </summary>
    public async Task<ArtifactRef> GetToFileAsync(string name, string path, CancellationToken cancellationToken)
    {
        var manifest = await ReadManifestAsync(name, cancellationToken).ConfigureAwait(false);
        await WriteFileAsync(manifest, path, _limits.Parallelism, cancellationToken).ConfigureAwait(false);
        return manifest.ToRef();
    }

    /// <inheritdoc cref="GetToFileAsync(string, string, CancellationToken)"/>
    public async Task GetToFileAsync(ArtifactRef artifact, string path, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        var manifest = await ReadManifestAsync(artifact, cancellationToken).ConfigureAwait(false);
        await WriteFileAsync(manifest, path, _limits.Parallelism, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes every artifact named <c>{prefix}/...</c> to the same relative path under
    /// <paramref name="directory"/>. A name that would land outside the directory is refused
    /// before anything is written. Returns the refs in ordinal order of name (none when nothing is
    /// stored under the prefix, which is also what an uploaded empty directory gives).
    /// </summary>
    public async Task<IReadOnlyList<ArtifactRef>> GetDirectoryAsync(string prefix, string directory, CancellationToken cancellationToken)
    {
        ArtifactNames.Validate(prefix);
        var root = Path.GetFullPath(directory);
        var rootWithSeparator = Path.EndsInDirectorySeparator(root) ? root : root + Path.DirectorySeparatorChar;
        var targets = new List<(string Name, string Path)>();
        foreach (var name in await ListNamesAsync(prefix + "/", cancellationToken).ConfigureAwait(false))
        {
            // Names come from the store, which any client could have written: check them again.
            var relative = name[(prefix.Length + 1)..];
            var target = ArtifactNames.IsValid(name) ? Path.GetFullPath(Path.Combine(root, relative)) : "";
            if (!target.StartsWith(rootWithSeparator, StringComparison.Ordinal))
                throw new ArtifactException(ArtifactError.InvalidName, name,
                    $"artifact '{ArtifactNames.Printable(name)}' would be written outside '{directory}'; nothing was written");
            targets.Add((name, target));
        }

        // As for uploads: several files at once, one chunk each in flight.
        var refs = new ArtifactRef[targets.Count];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = _limits.Parallelism, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(Enumerable.Range(0, targets.Count), parallel, async (i, ct) =>
        {
            var manifest = await ReadManifestAsync(targets[i].Name, ct).ConfigureAwait(false);
            await WriteFileAsync(manifest, targets[i].Path, 1, ct).ConfigureAwait(false);
            refs[i] = manifest.ToRef();
        }).ConfigureAwait(false);
        return refs;
    }

    private async Task WriteFileAsync(ArtifactManifest manifest, string path, int parallelism, CancellationToken cancellationToken)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = $"{full}.{Guid.NewGuid():N}.partial";
        try
        {
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0, FileOptions.Asynchronous))
            {
                await GetCoreAsync(manifest, file, parallelism, cancellationToken).ConfigureAwait(false);
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>Fetches up to <paramref name="parallelism"/> chunks ahead and writes them in order.</summary>
    private async Task GetCoreAsync(ArtifactManifest manifest, Stream destination, int parallelism, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var ahead = new Queue<Task<byte[]>>();
        using var whole = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var next = 0;
        try
        {
            for (var i = 0; i < manifest.Chunks.Count; i++)
            {
                for (; next < manifest.Chunks.Count && ahead.Count < parallelism; next++)
                    ahead.Enqueue(FetchChunkAsync(manifest, next, stop.Token));
                var data = await ahead.Dequeue().ConfigureAwait(false);
                whole.AppendData(data);
                await destination.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            foreach (var fetch in ahead)
            {
                try { await fetch.ConfigureAwait(false); } catch (Exception) { /* the first failure is already propagating */ }
            }
            throw;
        }
        await destination.FlushAsync(cancellationToken).ConfigureAwait(false);

        var actual = Convert.ToHexStringLower(whole.GetHashAndReset());
        if (actual != manifest.Sha256)
            throw new ArtifactException(ArtifactError.Corrupted, manifest.Name,
                $"artifact '{manifest.Name}' failed verification (hash mismatch: manifest says sha256 {manifest.Sha256}, content is {actual}); upload it again");
    }

    private async Task<byte[]> FetchChunkAsync(ArtifactManifest manifest, int index, CancellationToken cancellationToken)
    {
        var hash = manifest.Chunks[index];
        var key = ChunkKey(hash);
        var value = await _state.GetAsync(key, cancellationToken).ConfigureAwait(false)
            ?? throw new ArtifactException(ArtifactError.MissingChunk, manifest.Name,
                $"missing chunk {index + 1} of {manifest.Chunks.Count} of artifact '{manifest.Name}' (store lost data?): key '{key}' is gone; upload the artifact again");
        var data = value.Value;
        var expectedLength = index < manifest.Chunks.Count - 1 ? manifest.ChunkBytes : manifest.Size - (long)manifest.ChunkBytes * index;
        if (data.Length != expectedLength || Convert.ToHexStringLower(SHA256.HashData(data)) != hash)
        {
            // The key names its content, so bytes that do not match are wrong for every artifact
            // using them: remove them so the next upload of this content stores it afresh.
            await _state.DeleteAsync(key, CancellationToken.None).ConfigureAwait(false);
            throw new ArtifactException(ArtifactError.Corrupted, manifest.Name,
                $"chunk {index + 1} of {manifest.Chunks.Count} of artifact '{manifest.Name}' is corrupted (hash mismatch on key '{key}'); the bad chunk was removed, upload the artifact again");
        }
        return data;
    }

    private async Task<ArtifactManifest> ReadManifestAsync(ArtifactRef artifact, CancellationToken cancellationToken)
    {
        var manifest = await ReadManifestAsync(artifact.Name, cancellationToken).ConfigureAwait(false);
        if (manifest.Sha256 != artifact.Sha256 || manifest.Size != artifact.Size)
            throw new ArtifactException(ArtifactError.Changed, artifact.Name,
                $"artifact '{artifact.Name}' changed since it was referenced (expected sha256 {artifact.Sha256}, {artifact.Size} bytes; it now holds sha256 {manifest.Sha256}, {manifest.Size} bytes)");
        return manifest;
    }

    private async Task<ArtifactManifest> ReadManifestAsync(string name, CancellationToken cancellationToken)
    {
        var manifest = await TryReadManifestAsync(name, cancellationToken).ConfigureAwait(false)
            ?? throw new ArtifactException(ArtifactError.NotFound, name,
                $"artifact '{name}' not found: it was never uploaded, was deleted, or its upload did not finish");
        if (manifest.Size > _limits.MaxArtifactBytes) throw TooLarge(name, manifest.Size);
        if (manifest.ChunkBytes > _limits.MaxChunkBytes)
            throw new ArtifactException(ArtifactError.TooLarge, name,
                $"artifact '{name}' is stored in chunks of {Size(manifest.ChunkBytes)}, more than the limit of {Size(_limits.MaxChunkBytes)} (ArtifactLimits.MaxChunkBytes)");
        return manifest;
    }

    private async Task<ArtifactManifest?> TryReadManifestAsync(string name, CancellationToken cancellationToken, bool validate = true)
    {
        if (validate) ArtifactNames.Validate(name);
        var value = await _state.GetAsync(ManifestKey(name), cancellationToken).ConfigureAwait(false);
        return value is null ? null : ArtifactManifest.Parse(name, value.Value);
    }

    // ---- listing and deleting -----------------------------------------------------------------

    /// <summary>Artifacts whose names start with <paramref name="prefix"/> (a plain string prefix: end it with <c>/</c> for a tree), in ordinal order.</summary>
    public async Task<IReadOnlyList<ArtifactRef>> ListAsync(string prefix, CancellationToken cancellationToken)
    {
        var refs = new List<ArtifactRef>();
        foreach (var name in await ListNamesAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            // Skips a manifest deleted since the listing. Names are not checked: a bad one written
            // by another client shows up here, and getting it fails.
            if (await TryReadManifestAsync(name, cancellationToken, validate: false).ConfigureAwait(false) is { } manifest) refs.Add(manifest.ToRef());
        }
        return refs;
    }

    /// <summary>
    /// Removes the artifacts whose names start with <paramref name="prefix"/> (a plain string
    /// prefix: end it with <c>/</c> for a tree) and returns how many. Their chunks stay until
    /// <see cref="CollectGarbageAsync"/>, since other artifacts may share them.
    /// </summary>
    public async Task<int> DeleteAsync(string prefix, CancellationToken cancellationToken)
    {
        var deleted = 0;
        foreach (var name in await ListNamesAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            if (await _state.DeleteAsync(ManifestKey(name), cancellationToken).ConfigureAwait(false)) deleted++;
        }
        return deleted;
    }

    private async Task<List<string>> ListNamesAsync(string prefix, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var keys = await _state.ListKeysAsync(_manifests + ArtifactNames.Escape(prefix), cancellationToken).ConfigureAwait(false);
        return keys.Where(k => k.EndsWith('@'))
            .Select(k => ArtifactNames.Unescape(k[_manifests.Length..^1]))
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    // ---- garbage collection -------------------------------------------------------------------

    /// <summary>
    /// Removes chunks that no manifest references, and markers of uploads that died. Does nothing
    /// (and says why) while an upload or another collection is running; safe to call at any time
    /// from any machine.
    /// </summary>
    public async Task<GarbageCollection> CollectGarbageAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        var marker = Stamp();
        if (await _state.TrySetAsync(_gc, marker, 0, cancellationToken).ConfigureAwait(false) is null)
        {
            var other = await _state.GetAsync(_gc, cancellationToken).ConfigureAwait(false);
            var abandoned = other is not null && Age(other) > CollectionBudget + _limits.ClockSkew;
            if (!abandoned || await _state.TrySetAsync(_gc, marker, other!.Version, cancellationToken).ConfigureAwait(false) is null)
                return new GarbageCollection("another collection is running", 0, 0, 0);
        }
        try
        {
            var abandonedUploads = 0;
            foreach (var key in await _state.ListKeysAsync(_uploads, cancellationToken).ConfigureAwait(false))
            {
                var upload = await _state.GetAsync(key, cancellationToken).ConfigureAwait(false);
                if (upload is null) continue;
                if (Age(upload) <= _limits.MaxUploadDuration + _limits.ClockSkew)
                    return new GarbageCollection($"an upload is in progress ({key})", 0, 0, abandonedUploads);
                await _state.DeleteAsync(key, cancellationToken).ConfigureAwait(false);
                abandonedUploads++;
            }

            var referenced = new HashSet<string>(StringComparer.Ordinal);
            foreach (var name in await ListNamesAsync("", cancellationToken).ConfigureAwait(false))
            {
                // An unreadable manifest throws: its chunks are unknown, so none may be removed.
                if (await TryReadManifestAsync(name, cancellationToken, validate: false).ConfigureAwait(false) is { } manifest)
                    referenced.UnionWith(manifest.Chunks);
            }

            int kept = 0, deleted = 0;
            foreach (var key in await _state.ListKeysAsync(_chunks, cancellationToken).ConfigureAwait(false))
            {
                if (referenced.Contains(key[(key.LastIndexOf('/') + 1)..]))
                {
                    kept++;
                    continue;
                }
                // Past the budget, waiting uploads may take this marker for abandoned: stop, the rest waits for the next run.
                if (started.Elapsed > CollectionBudget) return new GarbageCollection("out of time; run again to finish", kept, deleted, abandonedUploads);
                if (await _state.DeleteAsync(key, cancellationToken).ConfigureAwait(false)) deleted++;
            }
            return new GarbageCollection(null, kept, deleted, abandonedUploads);
        }
        finally
        {
            await _state.DeleteAsync(_gc, CancellationToken.None).ConfigureAwait(false);
        }
    }

    // ---- upload markers -----------------------------------------------------------------------

    private async Task<Upload> BeginUploadAsync(CancellationToken cancellationToken)
    {
        var key = _uploads + Guid.NewGuid().ToString("N");
        await _state.TrySetAsync(key, Stamp(), 0, cancellationToken).ConfigureAwait(false);
        var upload = new Upload(this, key);
        try
        {
            // Our marker is written: a collection starting from now gives up. Wait out one that started before.
            while (await _state.GetAsync(_gc, cancellationToken).ConfigureAwait(false) is { } gc && Age(gc) <= CollectionBudget + _limits.ClockSkew)
                await Task.Delay(MarkerPoll, _time, cancellationToken).ConfigureAwait(false);
            // The deadline still counts from the marker's stamp, which is what collections judge by.
            return upload;
        }
        catch
        {
            await upload.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>An upload in progress: its marker key, removed on dispose.</summary>
    private sealed class Upload(ArtifactStore store, string key) : IAsyncDisposable
    {
        public Stopwatch Started { get; } = Stopwatch.StartNew();

        private readonly Lock _gate = new();
        private Task<HashSet<string>>? _chunkKeys;

        /// <summary>Chunk keys in the store, listed once per upload when first needed; collections cannot remove any meanwhile.</summary>
        public Task<HashSet<string>> ChunkKeysAsync(CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                return _chunkKeys ??= List();
            }

            async Task<HashSet<string>> List() =>
                (await store._state.ListKeysAsync(store._chunks, cancellationToken).ConfigureAwait(false)).ToHashSet(StringComparer.Ordinal);
        }

        public void ThrowIfOverdue(string name)
        {
            if (Started.Elapsed > store._limits.MaxUploadDuration)
                throw new ArtifactException(ArtifactError.TooSlow, name,
                    $"upload of artifact '{name}' took {Started.Elapsed:g}, longer than the limit of {store._limits.MaxUploadDuration:g} (ArtifactLimits.MaxUploadDuration); its chunks may have been collected meanwhile, so it was not stored");
        }

        public async ValueTask DisposeAsync() => await store._state.DeleteAsync(key, CancellationToken.None).ConfigureAwait(false);
    }

    private byte[] Stamp() => Encoding.UTF8.GetBytes(_time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture));

    /// <summary>How old a marker is; an unreadable one counts as ancient, so it cannot block anyone.</summary>
    private TimeSpan Age(VersionedValue marker) =>
        DateTimeOffset.TryParse(Encoding.UTF8.GetString(marker.Value), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var stamp)
            ? _time.GetUtcNow() - stamp
            : TimeSpan.MaxValue;

    // ---- keys ---------------------------------------------------------------------------------

    private string ManifestKey(string name) => _manifests + ArtifactNames.Escape(name) + "@";

    private string ChunkKey(string hash) => $"{_chunks}{hash[..2]}/{hash}";

    /// <summary>Bytes for messages: exact count, and a rounded binary unit when that is shorter to read.</summary>
    internal static string Size(long bytes)
    {
        string[] units = ["KiB", "MiB", "GiB", "TiB"];
        if (bytes < 1024) return bytes.ToString(CultureInfo.InvariantCulture) + " bytes";
        double value = bytes;
        var unit = -1;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes ({value:0.##} {units[unit]})");
    }
}
