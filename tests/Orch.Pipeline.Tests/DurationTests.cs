using Orch.Pipeline.Model;

namespace Orch.Pipeline.Tests;

public class DurationTests
{
    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("30s", 30_000)]
    [InlineData("5m", 300_000)]
    [InlineData("2h", 7_200_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("1m30s", 90_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData("0s", 0)]
    [InlineData(" 10s ", 10_000)]
    public void TryParse_ValidDuration_ReturnsValue(string text, long milliseconds)
    {
        Assert.True(Duration.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData("30")]
    [InlineData("1.5")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("s")]
    [InlineData("5 m")]
    [InlineData("-5s")]
    [InlineData("1x")]
    [InlineData("1.2.3s")]
    [InlineData("1h30")]
    [InlineData("99999999999999999999h")]
    public void TryParse_InvalidDuration_ReturnsFalse(string text)
    {
        Assert.False(Duration.TryParse(text, out _));
    }

    [Theory]
    [InlineData(5_400_000, "1h30m")]
    [InlineData(90_000, "1m30s")]
    [InlineData(1_500, "1s500ms")]
    [InlineData(500, "500ms")]
    [InlineData(0, "0s")]
    [InlineData(86_400_000, "24h")]
    public void Format_RoundTrips(long milliseconds, string expected)
    {
        var value = TimeSpan.FromMilliseconds(milliseconds);
        Assert.Equal(expected, Duration.Format(value));
        Assert.True(Duration.TryParse(expected, out var parsed));
        Assert.Equal(value, parsed);
    }
}
