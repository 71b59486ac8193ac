using System.Security.Cryptography;
using System.Text;

namespace Orch.Coordination.Signing;

/// <summary>
/// The secret every coordinator and agent of one cluster shares to sign and verify bus messages.
/// Written as base64 or hex text of at least <see cref="MinimumBytes"/> random bytes, e.g. made
/// with <c>head -c 32 /dev/urandom | base64 &gt; cluster.key</c>. The key itself is never shown:
/// <see cref="ToString"/> gives only its <see cref="Id"/>, a fingerprint that names the key
/// without revealing it.
/// </summary>
public sealed class ClusterKey
{
    /// <summary>The fewest key bytes accepted (HMAC-SHA256 gains nothing from a longer key than its 32-byte output, and is weaker with a shorter one).</summary>
    public const int MinimumBytes = 32;

    /// <summary>How to make a key, for messages that ask for one.</summary>
    public const string CreateHint = "create one with: head -c 32 /dev/urandom | base64 > cluster.key";

    private readonly byte[] _key;

    private ClusterKey(byte[] key)
    {
        _key = key;
        // HMAC of a fixed label under the key: equal for equal keys, and says nothing about the key.
        Id = Convert.ToHexStringLower(HMACSHA256.HashData(key, "orch cluster key id"u8).AsSpan(0, 8));
    }

    /// <summary>A fingerprint of the key (16 hex digits): equal keys have equal ids. Safe to log.</summary>
    public string Id { get; }

    /// <summary>Makes a new random key.</summary>
    public static ClusterKey Generate() => new(RandomNumberGenerator.GetBytes(MinimumBytes));

    /// <summary>Reads a key from its text: base64 or hex, surrounding whitespace ignored.</summary>
    /// <exception cref="FormatException">The text is not a key; the message says why, never what the text was.</exception>
    public static ClusterKey Parse(string text) =>
        TryParse(text, out var key, out var problem) ? key : throw new FormatException(problem);

    /// <summary>Reads a key from its text; false with what is wrong (never the text itself) when it is not one.</summary>
    public static bool TryParse(string? text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ClusterKey? key, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? problem)
    {
        key = null;
        var trimmed = (text ?? "").Trim();
        if (trimmed.Length == 0)
        {
            problem = $"the cluster key is empty; {CreateHint}";
            return false;
        }
        var bytes = Decode(trimmed);
        if (bytes is null)
        {
            problem = $"the cluster key is neither base64 nor hex text; {CreateHint}";
            return false;
        }
        if (bytes.Length < MinimumBytes)
        {
            problem = $"the cluster key has {bytes.Length} bytes; it needs at least {MinimumBytes} random bytes; {CreateHint}";
            CryptographicOperations.ZeroMemory(bytes);
            return false;
        }
        if (bytes.AsSpan().IndexOfAnyExcept(bytes[0]) < 0)
        {
            problem = $"the cluster key repeats one byte value, so it is not random; {CreateHint}";
            return false;
        }
        key = new ClusterKey(bytes);
        problem = null;
        return true;
    }

    /// <summary>Reads a key from a file holding its text.</summary>
    /// <exception cref="FormatException">The file cannot be read or does not hold a key; the message names the file and says why.</exception>
    public static ClusterKey FromFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            var why = ex switch
            {
                FileNotFoundException or DirectoryNotFoundException => "it does not exist",
                UnauthorizedAccessException => "permission denied",
                _ => "it cannot be read",
            };
            throw new FormatException($"cannot read the cluster key file '{path}': {why}; {CreateHint}", ex);
        }
        return TryParse(text, out var key, out var problem) ? key : throw new FormatException($"{path}: {problem}");
    }

    /// <summary>HMAC-SHA256 of <paramref name="data"/> under the key.</summary>
    internal byte[] Mac(ReadOnlySpan<byte> data) => HMACSHA256.HashData(_key, data);

    /// <summary>Names the key by its id only.</summary>
    public override string ToString() => $"cluster key {Id} (secret not shown)";

    private static byte[]? Decode(string text)
    {
        // Hex first: base64 text made of hex digits only is too unlikely to matter.
        if (text.Length % 2 == 0 && text.All(char.IsAsciiHexDigit))
        {
            return Convert.FromHexString(text);
        }
        var buffer = new byte[text.Length];
        return Convert.TryFromBase64String(text, buffer, out var written) ? buffer[..written] : null;
    }
}
