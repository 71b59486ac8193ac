namespace Orch.Cli.Tests;

/// <summary>Small pipeline files the tests write into their working directories.</summary>
public static class Pipelines
{
    /// <summary>Four independent mistakes, so validate must report them all at once.</summary>
    public const string Broken = """
        name: broken
        params:
          count: { default: 3, type: int }
        tasks:
          first:
            run: echo first > ran-first.txt
          second:
            nedes: [first]
            run: echo {{ params.cuont | sh }}
          third:
            needs: [frist]
            uses: no/such-action
        """;

    public const string Cycle = """
        name: cycle
        tasks:
          a:
            needs: [c]
            run: echo a > ran-a.txt
          b:
            needs: [a]
            run: echo b
          c:
            needs: [b]
            run: echo c
        """;

    public const string Valid = """
        name: valid
        tasks:
          one:
            run: echo one
          two:
            needs: [one]
            run: echo two
        """;
}
