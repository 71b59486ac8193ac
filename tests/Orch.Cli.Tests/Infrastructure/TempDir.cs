namespace Orch.Cli.Tests.Infrastructure;

/// <summary>A fresh, empty working directory for one orch invocation (or a few); deleted on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "orch-cli-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    /// <summary>Writes <paramref name="text"/> (UTF-8, no BOM) to a file under the directory and returns its full path.</summary>
    public string Write(string relative, string text)
    {
        var full = this[relative];
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllText(full, text);
        return full;
    }

    public bool Exists(string relative) => File.Exists(this[relative]) || Directory.Exists(this[relative]);

    public string Read(string relative) => File.ReadAllText(this[relative]);

    /// <summary>The run directories under <c>.orch/runs</c> (none when orch never started a run here).</summary>
    public IReadOnlyList<string> RunDirectories()
    {
        var runs = this[System.IO.Path.Combine(".orch", "runs")];
        return Directory.Exists(runs) ? Directory.GetDirectories(runs).Order(StringComparer.Ordinal).ToList() : [];
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a killed child may still hold a file for a moment.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
