namespace Orch.Coordination.Artifacts;

/// <summary>Why an artifact operation failed.</summary>
public enum ArtifactError
{
    /// <summary>No manifest under the name: never uploaded, deleted, or its upload did not finish.</summary>
    NotFound,

    /// <summary>A size or count limit of <see cref="ArtifactLimits"/> was exceeded.</summary>
    TooLarge,

    /// <summary>The name is not a safe relative path (empty segment, <c>..</c>, absolute, backslash, control character).</summary>
    InvalidName,

    /// <summary>A chunk the manifest lists is gone from the store.</summary>
    MissingChunk,

    /// <summary>Stored bytes do not match their hash, or a manifest cannot be read.</summary>
    Corrupted,

    /// <summary>The name now holds other content than the <see cref="ArtifactRef"/> asked for.</summary>
    Changed,

    /// <summary>The upload took longer than <see cref="ArtifactLimits.MaxUploadDuration"/>.</summary>
    TooSlow,
}

/// <summary>An artifact operation failed; the message names the artifact and what to do about it.</summary>
public sealed class ArtifactException : Exception
{
    public ArtifactException(ArtifactError error, string artifact, string message, Exception? inner = null)
        : base(message, inner)
    {
        Error = error;
        Artifact = artifact;
    }

    public ArtifactError Error { get; }

    /// <summary>The artifact (or directory prefix) concerned.</summary>
    public string Artifact { get; }
}
