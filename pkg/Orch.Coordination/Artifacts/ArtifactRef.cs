namespace Orch.Coordination.Artifacts;

/// <summary>
/// A stored artifact: its name, length in bytes, SHA-256 of the whole content (lowercase hex) and
/// how many chunks hold it. Small enough to travel in messages and run records; fetching by a ref
/// fails when the name has since been given other content.
/// </summary>
public sealed record ArtifactRef(string Name, long Size, string Sha256, int ChunkCount);

/// <summary>What <see cref="ArtifactStore.CollectGarbageAsync"/> did.</summary>
/// <param name="Skipped">Why nothing was collected (an upload or another collection is running), or null.</param>
/// <param name="ChunksKept">Chunks still referenced by a manifest.</param>
/// <param name="ChunksDeleted">Chunks no manifest referenced, now removed.</param>
/// <param name="AbandonedUploads">Markers of uploads that died without finishing, now removed.</param>
public sealed record GarbageCollection(string? Skipped, int ChunksKept, int ChunksDeleted, int AbandonedUploads);
