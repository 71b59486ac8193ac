using System.Text.Json;
using Orch.Cli.Tests.Infrastructure;

namespace Orch.Cli.Tests;

/// <summary>Parameter values reach scripts as data, never as shell code.</summary>
public sealed class InjectionTests
{
    private const string Pipeline = """
        name: inject
        params:
          x: { default: "" }
        tasks:
          quoted:
            run: printf '%s' {{ params.x | sh }} > quoted.txt
          via_env:
            env:
              X: "{{ params.x }}"
            run: printf '%s' "$X" > env.txt
          pipeline_env:
            run: printf '%s' "$PX" > pipeline-env.txt
          output:
            env:
              X: "{{ params.x }}"
            run: printf 'value=%s\n' "$X" >> "$ORCH_OUTPUT"
        env:
          PX: "{{ params.x }}"
        """;

    [Theory]
    [InlineData("$(touch pwned); `touch pwned2`; echo hi > pwned3")]
    [InlineData("'; touch pwned4; echo '")]
    [InlineData("\"; touch pwned5; \" $HOME ${PATH} \\ * ? ~ & | ; < > ( ) { } [ ] !")]
    [InlineData("{{ 6 * 7 }} {% touch pwned6 %} $(touch pwned7)")]
    [InlineData("-n")]
    [InlineData("héllo wörld ✓ 𐐀")]
    public async Task ParamValue_ArrivesLiterally_AndRunsNothing(string value)
    {
        using var dir = new TempDir();
        dir.Write("inject.yml", Pipeline);

        var result = await OrchCli.RunAsync(dir.Path, "run", "inject.yml", "-p", $"x={value}", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path, "pwned*"));
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path, "hi"));
        Assert.Equal(value, dir.Read("quoted.txt"));
        Assert.Equal(value, dir.Read("env.txt"));
        Assert.Equal(value, dir.Read("pipeline-env.txt"));
        using var json = JsonDocument.Parse(result.Stdout);
        var output = json.RootElement.GetProperty("tasks").EnumerateArray().Single(t => t.GetProperty("id").GetString() == "output");
        Assert.Equal(value, output.GetProperty("outputs").GetProperty("value").GetString());
    }

    [Fact]
    public async Task MultiLineValue_ArrivesLiterally()
    {
        using var dir = new TempDir();
        dir.Write("inject.yml", Pipeline.Replace("  output:\n    env:\n      X: \"{{ params.x }}\"\n    run: printf 'value=%s\\n' \"$X\" >> \"$ORCH_OUTPUT\"\n", "", StringComparison.Ordinal));
        const string value = "line one\n$(touch pwned)\nline 'three'";

        var result = await OrchCli.RunAsync(dir.Path, "run", "inject.yml", "-p", $"x={value}");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.DoesNotContain("  output:", dir.Read("inject.yml"), StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path, "pwned*"));
        Assert.Equal(value, dir.Read("quoted.txt"));
        Assert.Equal(value, dir.Read("env.txt"));
    }
}
