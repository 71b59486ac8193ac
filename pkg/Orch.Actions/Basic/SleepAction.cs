using System.Globalization;

namespace Orch.Actions.Basic;

/// <summary><c>sleep</c>: waits <c>ms</c> milliseconds (cancellable). Handy for demos and timeout tests.</summary>
public sealed class SleepAction : IBuiltinAction
{
    public string Name => "sleep";
    public bool WritesFiles => false;
    public IReadOnlyCollection<string> Inputs => ["ms"];

    public async ValueTask<ActionResult> ExecuteAsync(ActionContext context, CancellationToken cancellationToken)
    {
        var ms = context.GetInt64("ms");
        if (ms < 0) throw new ActionInputException($"input 'ms' must be 0 or more, got {ms.ToString(CultureInfo.InvariantCulture)}");
        await Task.Delay(TimeSpan.FromMilliseconds(ms), cancellationToken).ConfigureAwait(false);
        return ActionResult.Empty;
    }
}
