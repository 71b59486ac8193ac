namespace Orch.Actions.Basic;

/// <summary><c>noop</c>: does nothing and succeeds. For measuring orchestration overhead and for structure-only DAG nodes.</summary>
public sealed class NoopAction : IBuiltinAction
{
    public string Name => "noop";
    public bool WritesFiles => false;
    public IReadOnlyCollection<string> Inputs => [];
    public ValueTask<ActionResult> ExecuteAsync(ActionContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(ActionResult.Empty);
}
