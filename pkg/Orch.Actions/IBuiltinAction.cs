namespace Orch.Actions;

/// <summary>
/// A task body that runs inside the agent process (<c>uses:</c>), as opposed to a shell task.
/// Implementations must be thread-safe: one instance serves every concurrent task.
/// </summary>
public interface IBuiltinAction
{
    /// <summary>The name pipelines use, e.g. <c>wordcount/count</c>.</summary>
    string Name { get; }

    /// <summary>Names of the <c>with:</c> inputs this action reads; others are reported as unknown.</summary>
    IReadOnlyCollection<string> Inputs { get; }

    /// <summary>
    /// False for actions that never create or change a file (<c>noop</c>, <c>sleep</c>): an agent
    /// then skips looking for files the attempt made, which costs more than such an action itself.
    /// </summary>
    bool WritesFiles => true;

    /// <summary>
    /// Runs the action. Throw <see cref="ActionInputException"/> for bad inputs (a clear message,
    /// no retry helps); any other exception fails the attempt and may be retried.
    /// </summary>
    ValueTask<ActionResult> ExecuteAsync(ActionContext context, CancellationToken cancellationToken);
}

/// <summary>Outputs of one attempt: plain values (string, long, double, bool, lists, string-keyed maps).</summary>
public sealed record ActionResult(IReadOnlyDictionary<string, object?> Outputs)
{
    public static readonly ActionResult Empty = new(new Dictionary<string, object?>());
}

/// <summary>An input the action cannot use. Its message is shown to the user as is.</summary>
public sealed class ActionInputException(string message) : Exception(message);

/// <summary>Starting an action's work without an <c>async</c> method.</summary>
public static class ActionTask
{
    /// <summary>
    /// Calls <paramref name="start"/>; an exception it throws (a bad input checked up front) comes
    /// back as a faulted task, as from an <c>async</c> method. Actions avoid <c>async</c> methods
    /// because each one's state machine instantiates the runtime's async builders over a type of
    /// this assembly, which ReadyToRun leaves to the JIT at every start.
    /// </summary>
    public static ValueTask<ActionResult> Start(Func<Task<ActionResult>> start)
    {
        ArgumentNullException.ThrowIfNull(start);
        try
        {
            return new(start());
        }
        catch (Exception e)
        {
            return ValueTask.FromException<ActionResult>(e);
        }
    }
}
