namespace Orch.Protocol;

/// <summary>Identifies one run of a pipeline, e.g. <c>20261125-073552-wordcount-3f9a</c>.</summary>
public readonly record struct RunId(string Value)
{
    public override string ToString() => Value;
}

/// <summary>Identifies an agent process (or an in-process agent of the embedded default).</summary>
public readonly record struct AgentId(string Value)
{
    public override string ToString() => Value;
}

/// <summary>Identifies one try of one task instance; unique across runs and agents.</summary>
public readonly record struct AttemptId(string Value)
{
    public static AttemptId New() => new(Guid.NewGuid().ToString("N"));
    public override string ToString() => Value;
}

/// <summary>Identifies one batch of attempts on a task topic: what an agent claims before it runs them.</summary>
public readonly record struct BatchId(string Value)
{
    public static BatchId New() => new(Guid.NewGuid().ToString("N"));
    public override string ToString() => Value;
}
