using Orch.Pipeline.Diagnostics;

namespace Orch.Pipeline.Tests;

/// <summary>Each validation rule, pinned by the exact CLI rendering in Golden/*.txt.</summary>
public class LoaderDiagnosticsTests
{
    private static void Check(string golden, string yaml, params string[] expectedCodes)
    {
        var result = TestPipelines.Parse(yaml);
        Golden.Assert(golden, DiagnosticFormatter.FormatAll(result.Diagnostics, result.SourceText));
        Assert.Equal(expectedCodes.Order(StringComparer.Ordinal), result.Diagnostics.Select(d => d.Code).Order(StringComparer.Ordinal));
        if (result.Diagnostics.Any(d => d.IsError)) Assert.Null(result.Pipeline);
    }

    [Fact]
    public void Parse_YamlSyntaxError_ReportsParserLocation() => Check("yaml_syntax", """
        name: broken
        tasks:
          a:
            run: echo hi
           needs: [b]
        """, DiagnosticCodes.YamlSyntax);

    [Fact]
    public void Parse_UnquotedTemplateInFlowMapping_SuggestsQuoting() => Check("unquoted_template_with", """
        name: t
        params: { a: 1 }
        tasks:
          split:
            uses: wordcount/split
            with: { x: {{ params.a }} }
        """, DiagnosticCodes.UnquotedTemplate);

    [Fact]
    public void Parse_UnquotedTemplateInForEach_SuggestsQuoting() => Check("unquoted_template_for_each", """
        name: t
        tasks:
          split:
            uses: wordcount/split
          count:
            needs: [split]
            for_each: {{ tasks.split.outputs.shards }}
            uses: wordcount/count
        """, DiagnosticCodes.UnquotedTemplate);

    [Fact]
    public void Parse_UnquotedTemplateFollowedByText_SuggestsQuotingInsteadOfSyntaxError() => Check("unquoted_template_syntax", """
        name: t
        tasks:
          a:
            run: echo
            working_directory: {{ params.dir }}/out
        """, DiagnosticCodes.UnquotedTemplate);

    [Fact]
    public void Parse_UnknownTaskKey_SuggestsClosestKey() => Check("unknown_task_key", """
        name: wordcount
        tasks:
          split:
            uses: wordcount/split
          count:
            nedes: [split]
            uses: wordcount/count
        """, DiagnosticCodes.UnknownKey);

    [Fact]
    public void Parse_UnknownKeysEverywhere_EachReportedWithHint() => Check("unknown_keys_nested", """
        name: t
        descripton: typo
        params:
          shards: { default: 8, tpye: int }
        resources:
          report: { capacty: 2 }
        defaults:
          retries: 3
          retry: { attempts: 2, backof: 1s }
        tasks:
          a:
            run: echo
            retry: { atempts: 2 }
            frobnicate: yes
        """, DiagnosticCodes.UnknownKey, DiagnosticCodes.UnknownKey, DiagnosticCodes.UnknownKey, DiagnosticCodes.UnknownKey,
        DiagnosticCodes.UnknownKey, DiagnosticCodes.UnknownKey, DiagnosticCodes.UnknownKey);

    [Fact]
    public void Parse_MissingNameAndTasks_ReportsBoth() => Check("missing_keys", """
        description: nothing here
        """, DiagnosticCodes.MissingKey, DiagnosticCodes.MissingKey);

    [Fact]
    public void Parse_EmptyFile_ReportsMissingKeys() => Check("empty_file", "", DiagnosticCodes.MissingKey);

    [Fact]
    public void Parse_WrongTypes_ReportKindAndExpectation() => Check("wrong_types", """
        name: t
        params: [a, b]
        tasks:
          a:
            run: [echo, hi]
            needs: { b: 1 }
            with: just-text
          b:
            uses: wordcount/split
            for_each: 3
            retry: { attempts: many }
        """, DiagnosticCodes.WrongType, DiagnosticCodes.WrongType, DiagnosticCodes.WrongType,
        DiagnosticCodes.WrongType, DiagnosticCodes.WrongType, DiagnosticCodes.WrongType);

    [Fact]
    public void Parse_TasksAsList_ReportsWrongType() => Check("tasks_list", """
        name: t
        tasks:
          - run: echo
        """, DiagnosticCodes.WrongType);

    [Fact]
    public void Parse_DuplicateKeysAndTaskIds_PointAtSecondOccurrence() => Check("duplicates", """
        name: t
        tasks:
          a:
            run: echo 1
            timeout: 1m
            timeout: 2m
          a:
            run: echo 2
        """, DiagnosticCodes.DuplicateKey, DiagnosticCodes.DuplicateKey);

    [Fact]
    public void Parse_InvalidTaskId_ReportsAllowedCharacters() => Check("invalid_task_id", """
        name: t
        tasks:
          1st step:
            run: echo
        """, DiagnosticCodes.InvalidName);

    [Fact]
    public void Parse_UnknownNeed_SuggestsClosestTaskId() => Check("unknown_need", """
        name: t
        tasks:
          split:
            uses: wordcount/split
          count:
            needs: [splt, zzz]
            uses: wordcount/count
        """, DiagnosticCodes.UnknownNeed, DiagnosticCodes.UnknownNeed);

    [Fact]
    public void Parse_Cycles_EachReportedOnceWithPath() => Check("cycles", """
        name: t
        tasks:
          a:
            needs: [c]
            run: echo a
          b:
            needs: [a]
            run: echo b
          c:
            needs: b
            run: echo c
          d:
            needs: [d]
            run: echo d
          e:
            needs: [a]
            run: echo e
        """, DiagnosticCodes.Cycle, DiagnosticCodes.Cycle);

    [Fact]
    public void Parse_RunAndUsesOrNeither_Reported() => Check("run_and_uses", """
        name: t
        tasks:
          both:
            uses: wordcount/split
            run: echo
          neither:
            timeout: 5m
          empty:
        """, DiagnosticCodes.RunAndUses, DiagnosticCodes.NeitherRunNorUses, DiagnosticCodes.NeitherRunNorUses);

    [Fact]
    public void Parse_UnknownAction_SuggestsKnownAction() => Check("unknown_action", """
        name: t
        tasks:
          a:
            uses: wordcount/splt
          b:
            uses: nothing/like-it
        """, DiagnosticCodes.UnknownAction, DiagnosticCodes.UnknownAction);

    [Fact]
    public void Parse_LocksOnUndeclaredResource_Reported() => Check("undeclared_resource", """
        name: t
        resources:
          report: 1
          fork: { capacity: 3 }
        tasks:
          a:
            for_each: [1, 2]
            run: echo
            locks: [reprot, "fork:{{ item }}", "knife:{{ item }}", "{{ item }}", report]
        """, DiagnosticCodes.UndeclaredResource, DiagnosticCodes.UndeclaredResource);

    [Fact]
    public void Parse_TemplateSyntaxError_MapsLocationIntoFile() => Check("template_syntax", """
        name: t
        params: { a: x }
        tasks:
          a:
            uses: wordcount/split
            with: { x: "value {{ params. }}" }
          b:
            run: |
              echo start
                echo {{ if }}
        """, DiagnosticCodes.TemplateSyntax, DiagnosticCodes.TemplateSyntax);

    [Fact]
    public void Parse_OutputsOfTaskNotUpstream_SuggestsAddingNeed() => Check("output_not_upstream", """
        name: t
        env:
          FROM_TASK: "{{ tasks.split.outputs.x }}"
        tasks:
          split:
            uses: wordcount/split
          count:
            needs: [split]
            uses: wordcount/count
            with: { a: "{{ tasks.split.outputs.n }}" }
          merge:
            needs: [count]
            uses: wordcount/merge
            with:
              ok: "{{ tasks.split.outputs.n }}"
              bad: "{{ tasks.other.outputs.n }}"
              missing: "{{ tasks.splt.outputs.n }}"
              self: "{{ tasks.merge.outputs.n }}"
          other:
            uses: wordcount/merge
        """, DiagnosticCodes.OutputNotUpstream, DiagnosticCodes.OutputNotUpstream, DiagnosticCodes.OutputNotUpstream,
        DiagnosticCodes.OutputNotUpstream);

    [Fact]
    public void Parse_UnknownParam_SuggestsClosestParam() => Check("unknown_param", """
        name: t
        params:
          input: corpus
          shards: 4
        tasks:
          a:
            uses: wordcount/split
            with: { in: "{{ params.inptu }}", n: "{{ params['shard'] }}", x: "{{ params.zzzzzz }}" }
        """, DiagnosticCodes.UnknownParam, DiagnosticCodes.UnknownParam, DiagnosticCodes.UnknownParam);

    [Fact]
    public void Parse_ItemOutsideFanOut_Reported() => Check("item_outside_fan_out", """
        name: t
        env: { I: "{{ index }}" }
        tasks:
          a:
            uses: wordcount/split
            with: { x: "{{ item }}" }
          b:
            for_each: "{{ [item, 2] }}"
            uses: wordcount/split
            with: { x: "{{ item }}", i: "{{ index }}" }
          c:
            run: echo {{ for item in [1, 2] }}{{ item }}{{ end }}
        """, DiagnosticCodes.ItemOutsideFanOut, DiagnosticCodes.ItemOutsideFanOut, DiagnosticCodes.ItemOutsideFanOut);

    [Fact]
    public void Parse_UnquotedShellInterpolation_WarnsButLoads()
    {
        const string yaml = """
            name: t
            params: { input: corpus, shards: 4 }
            tasks:
              split:
                uses: wordcount/split
              run:
                needs: [split]
                for_each: [a, b]
                run: |
                  ./merge.sh {{ params.input }} {{ params.input | sh }}
                  echo {{ params.shards }} {{ index }} {{ item }} {{ sh(item) }}
                  cat {{ tasks.split.outputs.file | string.upcase | sh }} {{ tasks.split.outputs.file }}
            """;
        Check("shell_quoting", yaml, DiagnosticCodes.UnquotedShellValue, DiagnosticCodes.UnquotedShellValue, DiagnosticCodes.UnquotedShellValue);
        var result = TestPipelines.Parse(yaml);
        Assert.True(result.Succeeded);
        Assert.NotNull(result.Pipeline);
    }

    [Fact]
    public void Parse_BadDurations_ReportAcceptedForms() => Check("bad_duration", """
        name: t
        timeout: 30
        defaults: { timeout: soon }
        tasks:
          a:
            run: echo
            timeout: 1h30
            retry: { backoff: 5 minutes }
        """, DiagnosticCodes.BadDuration, DiagnosticCodes.BadDuration, DiagnosticCodes.BadDuration, DiagnosticCodes.BadDuration);

    [Fact]
    public void Parse_BadValues_Reported() => Check("bad_values", """
        name: t
        params:
          a: { type: integer }
          b: { default: many, type: int }
          c: { default: [1], type: string }
        resources:
          r: { capacity: 0 }
        tasks:
          a:
            run: echo
            retry: { attempts: 0 }
            timeout: 0s
        """, DiagnosticCodes.BadValue, DiagnosticCodes.BadValue, DiagnosticCodes.BadValue, DiagnosticCodes.BadValue,
        DiagnosticCodes.BadValue, DiagnosticCodes.BadValue);

    [Fact]
    public void Parse_BadPlacement_Reported() => Check("bad_placement", """
        name: t
        tasks:
          a:
            run: echo
            on: { labels: [gpu, "has space"], lables: [x] }
            slots: 0
          b:
            run: echo
            on: [gpu]
            slots: 2000
        """, DiagnosticCodes.InvalidName, DiagnosticCodes.UnknownKey, DiagnosticCodes.BadValue, DiagnosticCodes.WrongType, DiagnosticCodes.BadValue);

    [Fact]
    public void Load_MissingFile_ReportsFileNotFound()
    {
        var path = Path.Combine("no-such-dir", "missing.yml");
        var result = Orch.Pipeline.Loading.PipelineLoader.Load(path, TestPipelines.Options);
        Assert.Null(result.Pipeline);
        var d = Assert.Single(result.Diagnostics);
        Assert.Equal(DiagnosticCodes.FileNotFound, d.Code);
        Assert.Equal(path, d.Location.File);
        Golden.Assert("file_not_found", DiagnosticFormatter.FormatAll(result.Diagnostics, result.SourceText).Replace('\\', '/'));
    }

    [Fact]
    public void Load_ExistingFile_UsesPathAsGiven()
    {
        var path = Path.Combine(Path.GetTempPath(), $"orch-{Guid.NewGuid():N}.yml");
        File.WriteAllText(path, "name: t\ntasks:\n  a:\n    run: echo\n    nedes: []\n");
        try
        {
            var result = Orch.Pipeline.Loading.PipelineLoader.Load(path, TestPipelines.Options);
            var d = Assert.Single(result.Diagnostics);
            Assert.Equal(new SourceLocation(path, 5, 5), d.Location);
            Assert.NotNull(result.SourceText);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
