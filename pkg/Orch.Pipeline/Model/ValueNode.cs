using Orch.Pipeline.Diagnostics;

namespace Orch.Pipeline.Model;

/// <summary>
/// A YAML value kept as a tree with locations, rendered later against a template context.
/// A scalar that is exactly one <c>{{ expression }}</c> renders to the expression's value
/// (list, number, object); any other scalar renders to a string.
/// </summary>
public abstract record ValueNode(SourceLocation Location);

/// <summary>
/// A scalar. <see cref="Value"/> is the typed value for plain YAML scalars (long, double, bool, null)
/// and the string otherwise; <see cref="Text"/> is the source text.
/// </summary>
public sealed record ScalarNode(string Text, object? Value, SourceLocation Location) : ValueNode(Location)
{
    public bool HasTemplate => Value is string s && s.Contains("{{", StringComparison.Ordinal);
}

public sealed record SequenceNode(IReadOnlyList<ValueNode> Items, SourceLocation Location) : ValueNode(Location);

public sealed record MappingNode(IReadOnlyList<KeyValuePair<string, ValueNode>> Entries, SourceLocation Location) : ValueNode(Location);
