using System.Runtime.CompilerServices;

namespace Orch.Pipeline.Tests;

/// <summary>
/// Compares text with a file under Golden/. With ORCH_UPDATE_GOLDEN=1 the file is (re)written in the
/// source tree instead, so a reviewer sees the change in the diff.
/// </summary>
internal static class Golden
{
    public static void Assert(string name, string actual, [CallerFilePath] string callerFile = "")
    {
        actual = actual.Replace("\r\n", "\n", StringComparison.Ordinal);
        if (Environment.GetEnvironmentVariable("ORCH_UPDATE_GOLDEN") == "1")
        {
            var sourceDir = Path.Combine(Path.GetDirectoryName(callerFile)!, "Golden");
            Directory.CreateDirectory(sourceDir);
            File.WriteAllText(Path.Combine(sourceDir, name + ".txt"), actual);
            return;
        }
        var path = Path.Combine(AppContext.BaseDirectory, "Golden", name + ".txt");
        Xunit.Assert.True(File.Exists(path), $"golden file Golden/{name}.txt is missing; run with ORCH_UPDATE_GOLDEN=1 to create it. Actual output:\n{actual}");
        var expected = File.ReadAllText(path).Replace("\r\n", "\n", StringComparison.Ordinal);
        Xunit.Assert.Equal(expected, actual);
    }
}
