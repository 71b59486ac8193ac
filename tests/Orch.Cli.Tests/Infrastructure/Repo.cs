namespace Orch.Cli.Tests.Infrastructure;

/// <summary>Paths in the source tree and the built orch binary.</summary>
public static class Repo
{
    private static readonly Lazy<string> LazyRoot = new(FindRoot);

    /// <summary>The repository root: the nearest directory above the test assembly holding Orchestrator.sln.</summary>
    public static string Root => LazyRoot.Value;

    public static string Pipeline(string name) => Path.Combine(Root, "pipelines", name);

    public static string Corpus => Path.Combine(Root, "examples", "wordcount", "corpus");

    /// <summary>Where golden files live in the source tree (rewritten there with ORCH_UPDATE_GOLDEN=1).</summary>
    public static string GoldenDirectory => Path.Combine(Root, "tests", "Orch.Cli.Tests", "Golden");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Orchestrator.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException($"no Orchestrator.sln above {AppContext.BaseDirectory}");
    }
}
