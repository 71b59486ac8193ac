using Orch.Pipeline.Diagnostics;
using Orch.Pipeline.Loading;

namespace Orch.Pipeline.Tests;

internal static class TestPipelines
{
    public static readonly PipelineLoadOptions Options = new()
    {
        KnownActions = ["wordcount/split", "wordcount/count", "wordcount/merge", "http/get"],
    };

    public static PipelineLoadResult Parse(string yaml, string fileName = "test.yml") =>
        PipelineLoader.Parse(yaml.Replace("\r\n", "\n", StringComparison.Ordinal), fileName, Options);

    /// <summary>Parses and renders every diagnostic as the CLI would.</summary>
    public static string Report(string yaml, string fileName = "test.yml")
    {
        var result = Parse(yaml, fileName);
        return DiagnosticFormatter.FormatAll(result.Diagnostics, result.SourceText);
    }

    public const string Wordcount = """
        name: wordcount
        description: Count words in a corpus
        timeout: 1h
        params:
          input: examples/wordcount/corpus
          shards: { default: 8, type: int, description: number of shards }
          ratio: 0.5
          verbose: false
          tags: [a, b]
          token: { type: string, required: true }
        env: { LANG: C.UTF-8, INPUT: "{{ params.input }}" }
        resources:
          report: { capacity: 1 }
          fork: 4
        defaults:
          retry: { attempts: 3, backoff: 2s }
          timeout: 10m
        tasks:
          merge:
            needs: [count]
            run: |
              ./merge.sh {{ params.input | sh }}
              echo "total=42" >> "$ORCH_OUTPUT"
            shell: bash
            env: { K: v }
            working_directory: out/{{ params.shards }}
            locks: [report]
            retry: { attempts: 1 }
            timeout: 30s
            when: "{{ params.shards > 0 }}"
          split:
            uses: wordcount/split
            with:
              input: "{{ params.input }}"
              shards: 8
              ratio: 1.5
              flag: true
              quoted: "8"
              nothing: null
              nested: { list: [1, two] }
          count:
            needs: split
            for_each: "{{ tasks.split.outputs.shards }}"
            uses: wordcount/count
            with: { shard: "{{ item }}", position: "{{ index }}" }
            locks: ["fork:{{ item }}"]
            retry: { max_backoff: 1m }
          report:
            needs: [merge, count]
            for_each: [x, y]
            uses: http/get
        """;
}
