using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orch.Coordination.Artifacts;

/// <summary>What a manifest key holds: the artifact's size, hash and chunk hashes in order.</summary>
internal sealed record ArtifactManifest(
    [property: JsonPropertyName("format")] int Format,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("sha256")] string Sha256,
    [property: JsonPropertyName("chunkBytes")] int ChunkBytes,
    [property: JsonPropertyName("chunks")] IReadOnlyList<string> Chunks)
{
    public const int CurrentFormat = 1;

    public ArtifactRef ToRef() => new(Name, Size, Sha256, Chunks.Count);

    public byte[] Serialize() => JsonSerializer.SerializeToUtf8Bytes(this);

    /// <summary>Reads a manifest, or explains why it cannot be trusted.</summary>
    public static ArtifactManifest Parse(string name, byte[] json)
    {
        ArtifactManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<ArtifactManifest>(json);
        }
        catch (JsonException e)
        {
            throw Unreadable(name, "it is not valid JSON", e);
        }
        if (manifest is null || manifest.Chunks is null || manifest.Sha256 is null) throw Unreadable(name, "fields are missing");
        if (manifest.Format != CurrentFormat) throw Unreadable(name, $"format {manifest.Format} is not known to this version (expected {CurrentFormat})");
        if (manifest.Name != name) throw Unreadable(name, $"it names '{ArtifactNames.Printable(manifest.Name ?? "")}'");
        if (manifest.Size < 0 || manifest.ChunkBytes < 1) throw Unreadable(name, "size or chunk size is out of range");
        var expectedChunks = manifest.Size == 0 ? 0 : (manifest.Size - 1) / manifest.ChunkBytes + 1;
        if (manifest.Chunks.Count != expectedChunks) throw Unreadable(name, $"it lists {manifest.Chunks.Count} chunks where {manifest.Size} bytes need {expectedChunks}");
        if (manifest.Chunks.Any(c => !IsSha256Hex(c))) throw Unreadable(name, "a chunk hash is malformed");
        return manifest;
    }

    internal static bool IsSha256Hex(string? hash) =>
        hash is { Length: 64 } && hash.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f');

    private static ArtifactException Unreadable(string name, string why, Exception? inner = null) =>
        new(ArtifactError.Corrupted, name, $"manifest of artifact '{name}' cannot be read: {why}; delete the artifact and upload it again", inner);
}
