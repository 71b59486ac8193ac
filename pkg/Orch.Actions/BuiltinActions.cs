using Orch.Actions.Basic;
using Orch.Actions.WordCount;

namespace Orch.Actions;

/// <summary>The catalogue of actions that ship with orch.</summary>
public static class BuiltinActions
{
    public static IEnumerable<IBuiltinAction> All() =>
    [
        new NoopAction(),
        new SleepAction(),
        new SplitAction(),
        new CountAction(),
        new MergeAction(),
        new GenerateAction(),
    ];
}
