using Orch.Pipeline.Diagnostics;
using Orch.Pipeline.Graph;
using Orch.Pipeline.Model;

namespace Orch.Pipeline.Tests;

public class PipelineGraphTests
{
    [Fact]
    public void ToMermaid_Wordcount_MatchesGolden()
    {
        var p = TestPipelines.Parse(TestPipelines.Wordcount).Pipeline!;
        Golden.Assert("graph_mermaid", PipelineGraph.ToMermaid(p));
    }

    [Fact]
    public void ToDot_Wordcount_MatchesGolden()
    {
        var p = TestPipelines.Parse(TestPipelines.Wordcount).Pipeline!;
        Golden.Assert("graph_dot", PipelineGraph.ToDot(p));
    }

    [Fact]
    public void Graphs_OddIdsAndLabels_AreEscaped()
    {
        var location = new SourceLocation("odd.yml", 1, 1);
        TaskDefinition Task(string id, string? uses, params string[] needs) => new()
        {
            Id = id, Location = location, Needs = needs, Uses = uses, With = [], Env = [], Locks = [],
            Run = uses is null ? new TemplateText("echo", location) : null, Retry = RetryPolicy.Once,
        };
        var p = new PipelineDefinition
        {
            Name = "odd \"name\"", FilePath = "odd.yml", Params = [], Env = [], Resources = [],
            Tasks = [Task("a\"b", "x/<y>#1"), Task("c\\d\n];", null, "a\"b")],
        };

        var mermaid = PipelineGraph.ToMermaid(p);
        Assert.Equal("""
            flowchart TD
                t0["a#quot;b<br/>uses: x/#lt;y#gt;#35;1"]
                t1["c\d ];<br/>run"]
                t0 --> t1

            """.Replace("\r\n", "\n", StringComparison.Ordinal), mermaid);

        var dot = PipelineGraph.ToDot(p);
        Assert.Equal("""
            digraph "odd \"name\"" {
                rankdir=TB;
                node [shape=box];
                "a\"b" [label="a\"b\nuses: x/<y>#1"];
                "c\\d\n];" [label="c\\d\n];\nrun"];
                "a\"b" -> "c\\d\n];";
            }

            """.Replace("\r\n", "\n", StringComparison.Ordinal), dot);
    }
}
