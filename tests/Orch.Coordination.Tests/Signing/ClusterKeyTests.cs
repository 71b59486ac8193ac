using System.Security.Cryptography;
using Orch.Coordination.Signing;

namespace Orch.Coordination.Tests.Signing;

public sealed class ClusterKeyTests
{
    private static readonly byte[] Random32 = RandomNumberGenerator.GetBytes(32);

    [Fact]
    public void Parse_Base64Of32Bytes_WithTrailingNewline_IsAKey()
    {
        var key = ClusterKey.Parse(Convert.ToBase64String(Random32) + "\n");
        Assert.Equal(ClusterKey.Parse(Convert.ToHexString(Random32)).Id, key.Id);
    }

    [Fact]
    public void Parse_HexOf32Bytes_IsAKeyAndDifferentBytesGiveADifferentId()
    {
        var key = ClusterKey.Parse("  " + Convert.ToHexStringLower(Random32) + "  ");
        Assert.Equal(16, key.Id.Length);
        Assert.NotEqual(ClusterKey.Parse(Convert.ToHexString(RandomNumberGenerator.GetBytes(32))).Id, key.Id);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(31)]
    public void Parse_TooShort_SaysHowManyBytesAndHowToMakeOne(int bytes)
    {
        var text = Convert.ToBase64String(RandomNumberGenerator.GetBytes(bytes));
        var ex = Assert.Throws<FormatException>(() => ClusterKey.Parse(text));
        Assert.Contains($"has {bytes} bytes", ex.Message, StringComparison.Ordinal);
        Assert.Contains("at least 32", ex.Message, StringComparison.Ordinal);
        Assert.Contains("head -c 32 /dev/urandom | base64", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(text, ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   \n")]
    [InlineData("correct horse battery staple, a passphrase not a key!")]
    public void Parse_NotAKey_IsRejectedWithoutEchoingTheText(string text)
    {
        Assert.False(ClusterKey.TryParse(text, out var key, out var problem));
        Assert.Null(key);
        Assert.Contains("cluster key", problem, StringComparison.Ordinal);
        if (text.Trim().Length > 0) Assert.DoesNotContain(text, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_OneRepeatedByte_IsNotRandomEnough()
    {
        var ex = Assert.Throws<FormatException>(() => ClusterKey.Parse(Convert.ToBase64String(new byte[32])));
        Assert.Contains("not random", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToString_ShowsTheIdButNotTheKey()
    {
        var base64 = Convert.ToBase64String(Random32);
        var key = ClusterKey.Parse(base64);
        var text = key.ToString();
        Assert.Contains(key.Id, text, StringComparison.Ordinal);
        Assert.DoesNotContain(base64, text, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToHexStringLower(Random32)[..16], text, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void FromFile_ReadsTheKey()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, Convert.ToBase64String(Random32) + "\n");
            Assert.Equal(ClusterKey.Parse(Convert.ToBase64String(Random32)).Id, ClusterKey.FromFile(path).Id);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void FromFile_Missing_NamesTheFile()
    {
        var path = Path.Combine(Path.GetTempPath(), "no-such-dir-" + Guid.NewGuid().ToString("N"), "cluster.key");
        var ex = Assert.Throws<FormatException>(() => ClusterKey.FromFile(path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains("does not exist", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromFile_TooShort_NamesTheFileAndTheProblem()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, Convert.ToBase64String(RandomNumberGenerator.GetBytes(8)));
            var ex = Assert.Throws<FormatException>(() => ClusterKey.FromFile(path));
            Assert.Contains(path, ex.Message, StringComparison.Ordinal);
            Assert.Contains("has 8 bytes", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Generate_MakesDistinctKeys() => Assert.NotEqual(ClusterKey.Generate().Id, ClusterKey.Generate().Id);
}
