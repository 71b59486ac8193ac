using Orch.Coordination.Embedded;

namespace Orch.Coordination.Tests.Artifacts;

/// <summary>The artifact kit over the in-memory embedded store.</summary>
public sealed class EmbeddedArtifactStoreTests : ArtifactStoreConformance
{
    protected override IStateStore CreateState() => new EmbeddedStateStore();
}

/// <summary>The artifact kit over the embedded store written through to a directory, where keys become paths.</summary>
public sealed class EmbeddedFileArtifactStoreTests : ArtifactStoreConformance
{
    private readonly string _directory = Directory.CreateTempSubdirectory("orch-artifact-state-").FullName;

    protected override IStateStore CreateState() => new EmbeddedStateStore(_directory);

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }
}
