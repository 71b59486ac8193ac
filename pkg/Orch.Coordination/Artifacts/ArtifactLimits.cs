namespace Orch.Coordination.Artifacts;

/// <summary>
/// Sizes and concurrency for an <see cref="ArtifactStore"/>. The defaults assume the backend keeps
/// everything in memory (Redis does): an artifact of up to 1 GiB and an uploaded directory of up
/// to 2 GiB still fit a shared coordination server; bigger data belongs in an object store.
/// Chunks of 1 MiB stay well below every backend's message limit (Dapr's default request limit
/// is 4 MiB) while keeping the per-chunk round trip cheap.
/// </summary>
public sealed record ArtifactLimits
{
    public static ArtifactLimits Default { get; } = new();

    /// <summary>Bytes per chunk when uploading. Readers use the size recorded in the manifest.</summary>
    public int ChunkBytes { get; init; } = 1 << 20;

    /// <summary>Largest chunk a reader accepts from a manifest, so memory per download stays bounded.</summary>
    public int MaxChunkBytes { get; init; } = 16 << 20;

    /// <summary>Largest single artifact, on upload and on download.</summary>
    public long MaxArtifactBytes { get; init; } = 1L << 30;

    /// <summary>Largest total of the files one <see cref="ArtifactStore.PutDirectoryAsync"/> uploads.</summary>
    public long MaxDirectoryBytes { get; init; } = 2L << 30;

    /// <summary>Most files one <see cref="ArtifactStore.PutDirectoryAsync"/> uploads.</summary>
    public int MaxDirectoryFiles { get; init; } = 100_000;

    /// <summary>Chunks in flight per transfer. Memory per transfer is about this many chunks plus one.</summary>
    public int Parallelism { get; init; } = 4;

    /// <summary>
    /// Longest an upload may take. Garbage collection waits for uploads younger than this (plus
    /// <see cref="ClockSkew"/>); an upload that takes longer fails before writing its manifest,
    /// because a collection may already have removed chunks it relied on.
    /// </summary>
    public TimeSpan MaxUploadDuration { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How far the clocks of machines sharing the store may disagree.</summary>
    public TimeSpan ClockSkew { get; init; } = TimeSpan.FromMinutes(5);

    internal void Validate()
    {
        if (ChunkBytes < 1) throw new ArgumentOutOfRangeException(nameof(ChunkBytes), ChunkBytes, "must be at least 1");
        if (MaxChunkBytes < ChunkBytes) throw new ArgumentOutOfRangeException(nameof(MaxChunkBytes), MaxChunkBytes, $"must be at least ChunkBytes ({ChunkBytes})");
        if (MaxChunkBytes > Array.MaxLength / 2) throw new ArgumentOutOfRangeException(nameof(MaxChunkBytes), MaxChunkBytes, "too large for one buffer");
        if (MaxArtifactBytes < 0) throw new ArgumentOutOfRangeException(nameof(MaxArtifactBytes), MaxArtifactBytes, "must not be negative");
        if (MaxDirectoryBytes < 0) throw new ArgumentOutOfRangeException(nameof(MaxDirectoryBytes), MaxDirectoryBytes, "must not be negative");
        if (MaxDirectoryFiles < 0) throw new ArgumentOutOfRangeException(nameof(MaxDirectoryFiles), MaxDirectoryFiles, "must not be negative");
        if (Parallelism < 1) throw new ArgumentOutOfRangeException(nameof(Parallelism), Parallelism, "must be at least 1");
        if (MaxUploadDuration <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(MaxUploadDuration), MaxUploadDuration, "must be positive");
        if (ClockSkew < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ClockSkew), ClockSkew, "must not be negative");
    }
}
