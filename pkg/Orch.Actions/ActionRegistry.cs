namespace Orch.Actions;

/// <summary>The built-in actions an agent can run, by name.</summary>
public sealed class ActionRegistry
{
    private readonly Dictionary<string, IBuiltinAction> _actions = new(StringComparer.Ordinal);

    public ActionRegistry(IEnumerable<IBuiltinAction> actions)
    {
        foreach (var action in actions) _actions.Add(action.Name, action);
    }

    public IReadOnlyCollection<string> Names => _actions.Keys;

    public bool TryGet(string name, out IBuiltinAction action) => _actions.TryGetValue(name, out action!);

    /// <summary>Every action that ships with orch.</summary>
    public static ActionRegistry CreateDefault() => new(BuiltinActions.All());
}
