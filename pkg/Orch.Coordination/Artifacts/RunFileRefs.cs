using Orch.Protocol;

namespace Orch.Coordination.Artifacts;

/// <summary>Converts between a run's files as messages carry them and the artifacts that hold them.</summary>
public static class RunFileRefs
{
    public static ArtifactRef ToArtifactRef(this RunFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        return new ArtifactRef(file.Artifact, file.Size, file.Sha256, file.Chunks);
    }

    /// <param name="path">Where the file belongs, relative to the run's working directory.</param>
    public static RunFile ToRunFile(this ArtifactRef artifact, string path)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        return new RunFile(path, artifact.Name, artifact.Size, artifact.Sha256, artifact.ChunkCount);
    }
}
