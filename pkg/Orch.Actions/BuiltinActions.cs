using Orch.Actions.Basic;

namespace Orch.Actions;

/// <summary>The catalogue of actions that ship with orch.</summary>
public static class BuiltinActions
{
    public static IEnumerable<IBuiltinAction> All() =>
    [
        new NoopAction(),
        new SleepAction(),
    ];
}
