using System.Xml.Linq;

namespace Orch.Architecture.Tests;

/// <summary>
/// Keeps dependencies pointing inward: adapters depend on ports, the engine and agents meet
/// only through the coordination ports and protocol, and only the composition root knows every
/// adapter. Reads the csproj files, so a new reference fails here before it spreads.
/// </summary>
public class DependencyRulesTests
{
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Orch.Pipeline"] = ["Orch.Protocol"],
        ["Orch.Protocol"] = [],
        ["Orch.Actions"] = [],
        ["Orch.Coordination"] = ["Orch.Protocol"],
        ["Orch.Coordination.Embedded"] = ["Orch.Coordination"],
        ["Orch.Coordination.Redis"] = ["Orch.Coordination"],
        ["Orch.Coordination.Dapr"] = ["Orch.Coordination"],
        ["Orch.Engine"] = ["Orch.Pipeline", "Orch.Coordination"],
        ["Orch.Agents"] = ["Orch.Coordination", "Orch.Actions"],
        ["Orch.Hosting"] = ["Orch.Engine", "Orch.Agents", "Orch.Coordination.Embedded", "Orch.Coordination.Redis", "Orch.Coordination.Dapr"],
    };

    [Fact]
    public void PkgProjects_ReferenceOnlyWhatTheArchitectureAllows()
    {
        var pkg = Path.Combine(RepoRoot(), "pkg");
        var projects = Directory.GetDirectories(pkg).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(projects);

        var violations = new List<string>();
        foreach (var project in projects)
        {
            if (!Allowed.TryGetValue(project, out var allowed))
            {
                violations.Add($"{project}: not in the allowed-dependencies table; add it with its intended references");
                continue;
            }
            foreach (var reference in References(Path.Combine(pkg, project, project + ".csproj")))
            {
                if (!allowed.Contains(reference)) violations.Add($"{project} -> {reference} is not allowed");
            }
        }
        Assert.Empty(violations);
    }

    [Fact]
    public void Engine_DoesNotReferenceAnyAdapterOrTheAgents() =>
        Assert.DoesNotContain(References(Path.Combine(RepoRoot(), "pkg", "Orch.Engine", "Orch.Engine.csproj")),
            r => r.StartsWith("Orch.Coordination.", StringComparison.Ordinal) || r == "Orch.Agents");

    private static IEnumerable<string> References(string csproj) =>
        XDocument.Load(csproj).Descendants("ProjectReference")
            .Select(e => Path.GetFileNameWithoutExtension(e.Attribute("Include")!.Value.Replace('\\', '/')));

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Orchestrator.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("Orchestrator.sln not found above the test assembly");
    }
}
