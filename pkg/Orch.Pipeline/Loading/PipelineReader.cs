using System.Globalization;
using System.Text.RegularExpressions;
using Orch.Pipeline.Diagnostics;
using Orch.Pipeline.Model;
using Orch.Pipeline.Validation;

namespace Orch.Pipeline.Loading;

/// <summary>A templated string found while reading, with what the analyzer needs to check it.</summary>
internal sealed record TemplateSite(TemplateText Text, int BlockIndent, string Field);

internal sealed record RetrySpec(int? Attempts, TimeSpan? Backoff, TimeSpan? MaxBackoff);

internal sealed record NeedRef(string Id, SourceLocation Location);

/// <summary>A task as read from the file, before graph checks and ordering.</summary>
internal sealed class TaskDraft
{
    public required string Id { get; init; }
    public required SourceLocation Location { get; init; }
    public List<NeedRef> Needs { get; } = [];
    public ValueNode? ForEach { get; set; }
    public string? Uses { get; set; }
    public List<KeyValuePair<string, ValueNode>> With { get; } = [];
    public TemplateText? Run { get; set; }
    public string? Shell { get; set; }
    public List<KeyValuePair<string, TemplateText>> Env { get; } = [];
    public TemplateText? WorkingDirectory { get; set; }
    public List<TemplateText> Locks { get; } = [];
    public RetrySpec? Retry { get; set; }
    public TimeSpan? Timeout { get; set; }
    public TemplateText? When { get; set; }
    public List<string> Labels { get; } = [];
    public int? Slots { get; set; }
    public SourceLocation? PlacementLocation { get; set; }
    public List<TemplateSite> Templates { get; } = [];
}

/// <summary>Reads a <see cref="YNode"/> tree into drafts, reporting unknown keys, wrong types and bad values.</summary>
internal sealed partial class PipelineReader
{
    internal static readonly string[] TopLevelKeys = ["name", "description", "timeout", "params", "env", "resources", "defaults", "tasks"];
    internal static readonly string[] TaskKeys = ["uses", "with", "run", "shell", "env", "working_directory", "needs", "for_each", "locks", "retry", "timeout", "when", "on", "slots"];
    internal static readonly string[] OnKeys = ["labels"];
    internal static readonly string[] ParamKeys = ["default", "type", "description", "required"];
    internal static readonly string[] ResourceKeys = ["capacity"];
    internal static readonly string[] DefaultsKeys = ["retry", "timeout"];
    internal static readonly string[] RetryKeys = ["attempts", "backoff", "max_backoff"];
    internal static readonly string[] ParamTypeNames = ["string", "int", "number", "bool", "list", "path"];

    private const string DurationHint = "use a number with a unit: " + Duration.AcceptedForms;

    private readonly string _file;
    private readonly PipelineLoadOptions _options;
    private readonly List<Diagnostic> _diagnostics;

    public PipelineReader(string file, PipelineLoadOptions options, List<Diagnostic> diagnostics)
    {
        _file = file;
        _options = options;
        _diagnostics = diagnostics;
    }

    public string? Name { get; private set; }
    public string? Description { get; private set; }
    public TimeSpan? Timeout { get; private set; }
    public List<ParamDefinition> Params { get; } = [];
    public List<KeyValuePair<string, TemplateText>> Env { get; } = [];
    public List<TemplateSite> EnvTemplates { get; } = [];
    public List<ResourceDefinition> Resources { get; } = [];
    public RetrySpec? DefaultRetry { get; private set; }
    public TimeSpan? DefaultTimeout { get; private set; }
    public List<TaskDraft> Tasks { get; } = [];

    public void Read(YNode? root)
    {
        if (root is null || root is YScalar { IsNull: true })
        {
            Error(DiagnosticCodes.MissingKey, SourceLocation.None(_file), "the pipeline file is empty",
                "a pipeline needs at least 'name:' and 'tasks:'");
            return;
        }
        if (root is not YMapping map)
        {
            Error(DiagnosticCodes.WrongType, root.Location, $"a pipeline file must be a mapping of keys, not {root.KindName}",
                "start with 'name:' and 'tasks:' at the top level");
            return;
        }
        var keys = ReadKeys(map, TopLevelKeys, "");
        if (keys.TryGetValue("name", out var name))
        {
            Name = ReadString(name.Value, "'name'");
            if (Name is { Length: 0 }) Error(DiagnosticCodes.BadValue, name.Value.Location, "'name' must not be empty", null);
        }
        else
        {
            Error(DiagnosticCodes.MissingKey, SourceLocation.None(_file), "missing required key 'name'", "add a line like 'name: my-pipeline'");
        }
        if (keys.TryGetValue("description", out var description)) Description = ReadString(description.Value, "'description'");
        if (keys.TryGetValue("timeout", out var timeout)) Timeout = ReadDuration(timeout.Value, "'timeout'");
        if (keys.TryGetValue("params", out var parameters)) ReadParams(parameters.Value);
        if (keys.TryGetValue("env", out var env)) ReadEnv(env.Value, "pipeline", Env, EnvTemplates);
        if (keys.TryGetValue("resources", out var resources)) ReadResources(resources.Value);
        if (keys.TryGetValue("defaults", out var defaults)) ReadDefaults(defaults.Value);
        if (keys.TryGetValue("tasks", out var tasks))
            ReadTasks(tasks);
        else
            Error(DiagnosticCodes.MissingKey, SourceLocation.None(_file), "missing required key 'tasks'", "add 'tasks:' with at least one task");
    }

    // ---- params ----

    private void ReadParams(YNode node)
    {
        if (IsNull(node)) return;
        if (AsMapping(node, "'params'", "write params as 'name: default' or 'name: { default: ..., type: ... }'") is not { } map) return;
        var seen = new Dictionary<string, SourceLocation>(StringComparer.Ordinal);
        foreach (var (key, value) in Entries(map))
        {
            if (KeyName(key) is not { } name) continue;
            if (!CheckDuplicate(seen, name, key.Location, $"duplicate param '{name}'")) continue;
            if (!IdentifierPattern().IsMatch(name))
            {
                Error(DiagnosticCodes.InvalidName, key.Location, $"invalid param name '{name}'",
                    "param names use letters, digits and '_' and do not start with a digit");
                continue;
            }
            ReadParam(name, key.Location, value);
        }
    }

    private void ReadParam(string name, SourceLocation location, YNode value)
    {
        YNode? defaultNode = value;
        string? typeName = null;
        YNode? typeNode = null;
        string? description = null;
        var required = false;
        if (value is YMapping full)
        {
            var keys = ReadKeys(full, ParamKeys, $" in param '{name}'");
            defaultNode = keys.TryGetValue("default", out var d) ? d.Value : null;
            if (keys.TryGetValue("type", out var t))
            {
                typeNode = t.Value;
                typeName = ReadString(t.Value, $"'type' of param '{name}'");
            }
            if (keys.TryGetValue("description", out var desc)) description = ReadString(desc.Value, $"'description' of param '{name}'");
            if (keys.TryGetValue("required", out var req)) required = ReadBool(req.Value, $"'required' of param '{name}'") ?? false;
        }

        ParamType type;
        if (typeName is not null)
        {
            if (!TryParseParamType(typeName, out type))
            {
                Error(DiagnosticCodes.BadValue, typeNode!.Location, $"unknown type '{typeName}' for param '{name}'",
                    Suggestions.DidYouMean(typeName, ParamTypeNames, null) is { } s
                        ? $"{s} types: {string.Join(", ", ParamTypeNames)}"
                        : $"types: {string.Join(", ", ParamTypeNames)}");
                return;
            }
        }
        else if (defaultNode is null or YScalar { IsNull: true })
        {
            type = ParamType.String;
        }
        else
        {
            switch (defaultNode)
            {
                case YSequence: type = ParamType.List; break;
                case YScalar s:
                    type = s.TypedValue switch
                    {
                        long => ParamType.Int,
                        double => ParamType.Number,
                        bool => ParamType.Bool,
                        _ => ParamType.String,
                    };
                    break;
                default:
                    Error(DiagnosticCodes.WrongType, defaultNode.Location, $"default of param '{name}' must be a string, number, bool or list, not {defaultNode.KindName}",
                        "use the long form 'name: { default: ..., type: ... }' to describe a param");
                    return;
            }
        }

        object? defaultValue = null;
        if (defaultNode is not null && !IsNull(defaultNode))
        {
            if (!TryConvertDefault(defaultNode, type, out defaultValue))
            {
                Error(DiagnosticCodes.BadValue, defaultNode.Location,
                    $"default {Describe(defaultNode)} of param '{name}' is not {Article(type)}",
                    "change the default or the type (" + string.Join(", ", ParamTypeNames) + ")");
                return;
            }
        }
        Params.Add(new ParamDefinition(name, type, defaultValue, required, description, location));
    }

    internal static bool TryParseParamType(string text, out ParamType type)
    {
        switch (text)
        {
            case "string": type = ParamType.String; return true;
            case "int": type = ParamType.Int; return true;
            case "number": type = ParamType.Number; return true;
            case "bool": type = ParamType.Bool; return true;
            case "list": type = ParamType.List; return true;
            case "path": type = ParamType.Path; return true;
            default: type = ParamType.String; return false;
        }
    }

    internal static string Article(ParamType type) => type switch
    {
        ParamType.String => "a string",
        ParamType.Int => "an int",
        ParamType.Number => "a number",
        ParamType.Bool => "a bool",
        ParamType.Path => "a path",
        _ => "a list",
    };

    private static string Describe(YNode node) => node switch
    {
        YScalar s when s.IsPlain => $"'{s.Value}'",
        YScalar s => $"\"{s.Value}\"",
        _ => node.KindName,
    };

    private static bool TryConvertDefault(YNode node, ParamType type, out object? value)
    {
        value = null;
        switch (type)
        {
            case ParamType.String or ParamType.Path when node is YScalar s:
                value = s.Value;
                return true;
            case ParamType.Int when node is YScalar { TypedValue: long l }:
                value = l;
                return true;
            case ParamType.Number when node is YScalar { TypedValue: long or double } s:
                value = Convert.ToDouble(s.TypedValue, CultureInfo.InvariantCulture);
                return true;
            case ParamType.Bool when node is YScalar { TypedValue: bool b }:
                value = b;
                return true;
            case ParamType.List when node is YSequence seq:
                value = seq.Items.Select(ToPlain).ToList();
                return true;
            default:
                return false;
        }
    }

    private static object? ToPlain(YNode node) => node switch
    {
        YScalar s => s.TypedValue,
        YSequence seq => seq.Items.Select(ToPlain).ToList(),
        YMapping map => map.Entries
            .Where(e => e.Key is YScalar)
            .GroupBy(e => ((YScalar)e.Key).Value, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => ToPlain(g.First().Value), StringComparer.Ordinal),
        _ => null,
    };

    // ---- env ----

    private void ReadEnv(YNode node, string owner, List<KeyValuePair<string, TemplateText>> env, List<TemplateSite> sites)
    {
        if (IsNull(node)) return;
        if (AsMapping(node, $"'env' of {owner}", "write env as 'NAME: value' pairs") is not { } map) return;
        var seen = new Dictionary<string, SourceLocation>(StringComparer.Ordinal);
        foreach (var (key, value) in Entries(map))
        {
            if (KeyName(key) is not { } name) continue;
            if (!CheckDuplicate(seen, name, key.Location, $"duplicate env variable '{name}' in {owner}")) continue;
            if (!EnvNamePattern().IsMatch(name))
            {
                Error(DiagnosticCodes.InvalidName, key.Location, $"invalid environment variable name '{name}'",
                    "use letters, digits and '_', not starting with a digit");
                continue;
            }
            if (ReadTemplate(value, $"env variable '{name}' of {owner}", "env", sites, allowNull: true) is { } text)
                env.Add(new(name, text));
        }
    }

    // ---- resources ----

    private void ReadResources(YNode node)
    {
        if (IsNull(node)) return;
        if (AsMapping(node, "'resources'", "write resources as 'name: capacity' or 'name: { capacity: N }'") is not { } map) return;
        var seen = new Dictionary<string, SourceLocation>(StringComparer.Ordinal);
        foreach (var (key, value) in Entries(map))
        {
            if (KeyName(key) is not { } name) continue;
            if (!CheckDuplicate(seen, name, key.Location, $"duplicate resource '{name}'")) continue;
            if (!IdPattern().IsMatch(name))
            {
                Error(DiagnosticCodes.InvalidName, key.Location, $"invalid resource name '{name}'",
                    "resource names use letters, digits, '_' and '-' and do not start with a digit");
                continue;
            }
            YNode? capacityNode = value;
            if (value is YMapping full)
            {
                var keys = ReadKeys(full, ResourceKeys, $" in resource '{name}'");
                capacityNode = keys.TryGetValue("capacity", out var c) ? c.Value : null;
            }
            var capacity = 1;
            if (capacityNode is not null && !IsNull(capacityNode))
            {
                if (ReadInt(capacityNode, $"capacity of resource '{name}'", 1) is not { } read) continue;
                capacity = read;
            }
            Resources.Add(new ResourceDefinition(name, capacity, key.Location));
        }
    }

    // ---- defaults / retry ----

    private void ReadDefaults(YNode node)
    {
        if (IsNull(node)) return;
        if (AsMapping(node, "'defaults'", "write defaults as a mapping with 'retry:' and 'timeout:'") is not { } map) return;
        var keys = ReadKeys(map, DefaultsKeys, " in defaults");
        if (keys.TryGetValue("retry", out var retry)) DefaultRetry = ReadRetry(retry.Value, "defaults");
        if (keys.TryGetValue("timeout", out var timeout)) DefaultTimeout = ReadDuration(timeout.Value, "'timeout' in defaults");
    }

    private RetrySpec? ReadRetry(YNode node, string owner)
    {
        if (IsNull(node)) return null;
        if (node is YScalar)
            return ReadInt(node, $"'attempts' of retry in {owner}", 1) is { } n ? new RetrySpec(n, null, null) : null;
        if (AsMapping(node, $"'retry' in {owner}", "write retry as '{ attempts: 3, backoff: 1s, max_backoff: 30s }'") is not { } map) return null;
        var keys = ReadKeys(map, RetryKeys, $" in retry of {owner}");
        int? attempts = null;
        TimeSpan? backoff = null, maxBackoff = null;
        if (keys.TryGetValue("attempts", out var a)) attempts = ReadInt(a.Value, $"'attempts' of retry in {owner}", 1);
        if (keys.TryGetValue("backoff", out var b)) backoff = ReadDuration(b.Value, $"'backoff' of retry in {owner}", allowZero: true);
        if (keys.TryGetValue("max_backoff", out var m)) maxBackoff = ReadDuration(m.Value, $"'max_backoff' of retry in {owner}", allowZero: true);
        return new RetrySpec(attempts, backoff, maxBackoff);
    }

    // ---- tasks ----

    private void ReadTasks(YEntry entry)
    {
        var node = entry.Value;
        if (IsNull(node) || node is YMapping { Entries.Count: 0 })
        {
            Error(DiagnosticCodes.BadValue, IsNull(node) ? entry.Key.Location : node.Location, "'tasks' is empty", "add at least one task, e.g. 'hello: { run: echo hello }'");
            return;
        }
        if (AsMapping(node, "'tasks'", "write tasks as a mapping of task id to task, e.g. 'build: { run: make }'") is not { } map) return;
        var seen = new Dictionary<string, SourceLocation>(StringComparer.Ordinal);
        foreach (var (key, value) in Entries(map))
        {
            if (KeyName(key) is not { } id) continue;
            if (seen.TryGetValue(id, out var first))
            {
                Error(DiagnosticCodes.DuplicateKey, key.Location, $"duplicate task id '{id}'",
                    $"'{id}' is first defined on line {first.Line}; task ids must be unique");
                continue;
            }
            seen[id] = key.Location;
            if (!IdPattern().IsMatch(id))
            {
                Error(DiagnosticCodes.InvalidName, key.Location, $"invalid task id '{id}'",
                    "task ids use letters, digits, '_' and '-' and start with a letter or '_'");
                continue;
            }
            var task = new TaskDraft { Id = id, Location = key.Location };
            Tasks.Add(task);
            ReadTask(task, value);
        }
    }

    private void ReadTask(TaskDraft task, YNode node)
    {
        var owner = $"task '{task.Id}'";
        if (IsNull(node))
        {
            Error(DiagnosticCodes.NeitherRunNorUses, task.Location, $"task '{task.Id}' has neither 'run' nor 'uses'",
                "add 'uses: <action>' to call an action or 'run: <script>' to run a shell script");
            return;
        }
        if (AsMapping(node, owner, "a task is a mapping with 'uses:' or 'run:' and optional 'needs:', 'with:', ...") is not { } map) return;
        var keys = ReadKeys(map, TaskKeys, $" in {owner}");

        if (keys.TryGetValue("needs", out var needs)) ReadNeeds(task, needs.Value, owner);
        if (keys.TryGetValue("for_each", out var forEach)) ReadForEach(task, forEach.Value, owner);
        if (keys.TryGetValue("uses", out var uses))
        {
            task.Uses = ReadString(uses.Value, $"'uses' in {owner}");
            if (task.Uses is { } action && _options.KnownActions.Count > 0 && !_options.KnownActions.Contains(action))
            {
                Error(DiagnosticCodes.UnknownAction, uses.Value.Location, $"unknown action '{action}' in {owner}",
                    Suggestions.DidYouMean(action, _options.KnownActions,
                        "known actions: " + string.Join(", ", _options.KnownActions.Order(StringComparer.Ordinal))));
            }
        }
        if (keys.TryGetValue("with", out var with)) ReadWith(task, with.Value, owner, task.Uses);
        if (keys.TryGetValue("run", out var run))
            task.Run = ReadTemplate(run.Value, $"'run' in {owner}", "run", task.Templates);
        if (keys.TryGetValue("shell", out var shell)) task.Shell = ReadString(shell.Value, $"'shell' in {owner}");
        if (keys.TryGetValue("env", out var env)) ReadEnv(env.Value, owner, task.Env, task.Templates);
        if (keys.TryGetValue("working_directory", out var wd))
            task.WorkingDirectory = ReadTemplate(wd.Value, $"'working_directory' in {owner}", "working_directory", task.Templates);
        if (keys.TryGetValue("locks", out var locks)) ReadLocks(task, locks.Value, owner);
        if (keys.TryGetValue("retry", out var retry)) task.Retry = ReadRetry(retry.Value, owner);
        if (keys.TryGetValue("timeout", out var timeout)) task.Timeout = ReadDuration(timeout.Value, $"'timeout' in {owner}");
        if (keys.TryGetValue("when", out var when)) task.When = ReadTemplate(when.Value, $"'when' in {owner}", "when", task.Templates);
        if (keys.TryGetValue("on", out var on))
        {
            task.PlacementLocation = on.Key.Location;
            ReadOn(task, on.Value, owner);
        }
        if (keys.TryGetValue("slots", out var slots))
        {
            task.PlacementLocation ??= slots.Key.Location;
            if (ReadInt(slots.Value, $"'slots' in {owner}", 1) is { } n)
            {
                if (n <= 1024) task.Slots = n;
                else Error(DiagnosticCodes.BadValue, slots.Value.Location, $"'slots' in {owner} must be at most 1024, got {n}", "slots are how many of an agent's task slots one attempt takes");
            }
        }

        if (uses is not null && run is not null)
        {
            var later = uses.Key.Location.Line > run.Key.Location.Line ? uses.Key : run.Key;
            Error(DiagnosticCodes.RunAndUses, later.Location, $"task '{task.Id}' has both 'run' and 'uses'",
                "a task either calls an action (uses:) or runs a shell script (run:), not both; split it into two tasks");
        }
        else if (uses is null && run is null)
        {
            Error(DiagnosticCodes.NeitherRunNorUses, task.Location, $"task '{task.Id}' has neither 'run' nor 'uses'",
                "add 'uses: <action>' to call an action or 'run: <script>' to run a shell script");
        }
    }

    /// <summary>The items of a key that takes one value or a list of them; null (after reporting) for null or a mapping.</summary>
    private IEnumerable<YNode>? ScalarOrList(YNode node, string mappingMessage, string hint)
    {
        if (IsNull(node)) return null;
        switch (node)
        {
            case YScalar: return [node];
            case YSequence seq: return seq.Items;
            case YMapping:
                Error(DiagnosticCodes.WrongType, node.Location, mappingMessage, hint);
                return null;
            default: return [];
        }
    }

    /// <summary><c>on: { labels: [gpu, linux] }</c>: the agents a task may run on.</summary>
    private void ReadOn(TaskDraft task, YNode node, string owner)
    {
        if (AsMapping(node, $"'on' in {owner}", "write 'on: { labels: [gpu] }'") is not { } map) return;
        var keys = ReadKeys(map, OnKeys, $" in 'on' of {owner}");
        if (!keys.TryGetValue("labels", out var labels)) return;
        if (ScalarOrList(labels.Value, $"'labels' in {owner} must be a label or a list of labels, not a mapping", "write 'labels: [gpu, linux]'") is not { } items) return;
        foreach (var item in items)
        {
            if (item is not YScalar { TypedValue: string label } || !LabelPattern().IsMatch(label))
            {
                Error(DiagnosticCodes.InvalidName, item.Location, $"invalid agent label {(item is YScalar sc ? $"'{sc.Value}'" : item.KindName)} in {owner}",
                    "labels use letters, digits, '_', '-', '.', '=' and ':' (e.g. gpu, zone=eu-1)");
                continue;
            }
            if (!task.Labels.Contains(label, StringComparer.Ordinal)) task.Labels.Add(label);
        }
    }

    private void ReadNeeds(TaskDraft task, YNode node, string owner)
    {
        if (ScalarOrList(node, $"'needs' in {owner} must be a task id or a list of task ids, not a mapping", "write 'needs: [a, b]' or 'needs: a'") is not { } items) return;
        foreach (var item in items)
        {
            if (item is not YScalar s || s.IsNull)
            {
                Error(DiagnosticCodes.WrongType, item.Location, $"entries of 'needs' in {owner} must be task ids, not {item.KindName}",
                    "write 'needs: [a, b]' or 'needs: a'");
                continue;
            }
            if (task.Needs.All(n => n.Id != s.Value)) task.Needs.Add(new NeedRef(s.Value, s.Location));
        }
    }

    private void ReadForEach(TaskDraft task, YNode node, string owner)
    {
        const string hint = "use a list, e.g. 'for_each: [a, b]', or a quoted template, e.g. 'for_each: \"{{ tasks.split.outputs.items }}\"'";
        switch (node)
        {
            case YSequence:
                task.ForEach = ToValueNode(node, "for_each", task.Templates);
                break;
            case YScalar s when s.TypedValue is string text && text.Contains("{{", StringComparison.Ordinal):
                task.ForEach = ToValueNode(node, "for_each", task.Templates);
                break;
            default:
                Error(DiagnosticCodes.WrongType, node.Location, $"'for_each' in {owner} must be a list or a template, not {node.KindName}", hint);
                break;
        }
    }

    private void ReadWith(TaskDraft task, YNode node, string owner, string? action)
    {
        IReadOnlyCollection<string>? inputs = null;
        if (action is not null) _options.ActionInputs.TryGetValue(action, out inputs);
        if (IsNull(node)) return;
        if (AsMapping(node, $"'with' in {owner}", "write with as 'name: value' pairs") is not { } map) return;
        var seen = new Dictionary<string, SourceLocation>(StringComparer.Ordinal);
        foreach (var (key, value) in Entries(map))
        {
            if (KeyName(key) is not { } name) continue;
            if (!CheckDuplicate(seen, name, key.Location, $"duplicate key '{name}' in 'with' of {owner}")) continue;
            if (inputs is not null && !inputs.Contains(name))
            {
                Error(DiagnosticCodes.UnknownKey, key.Location, $"unknown input '{name}' for action '{action}' in {owner}",
                    Suggestions.DidYouMean(name, inputs, inputs.Count == 0 ? $"'{action}' takes no inputs" : "its inputs are: " + string.Join(", ", inputs)));
                continue;
            }
            task.With.Add(new(name, ToValueNode(value, "with", task.Templates)));
        }
    }

    private void ReadLocks(TaskDraft task, YNode node, string owner)
    {
        if (ScalarOrList(node, $"'locks' in {owner} must be a resource name or a list of them, not a mapping", "write 'locks: [name, \"family:{{ item }}\"]'") is not { } items) return;
        foreach (var item in items)
        {
            if (ReadTemplate(item, $"entries of 'locks' in {owner}", "locks", task.Templates) is not { } text) continue;
            task.Locks.Add(text);
            var colon = text.Text.IndexOf(':', StringComparison.Ordinal);
            var resource = colon >= 0 ? text.Text[..colon] : text.Text;
            if (resource.Contains("{{", StringComparison.Ordinal)) continue; // decided at run time
            if (Resources.Any(r => r.Name == resource)) continue;
            var names = Resources.Select(r => r.Name).ToList();
            Error(DiagnosticCodes.UndeclaredResource, item.Location, $"{owner} locks undeclared resource '{resource}'",
                Suggestions.DidYouMean(resource, names, $"declare it under 'resources:', e.g. 'resources: {{ {resource}: 1 }}'"));
        }
    }

    // ---- values ----

    private ValueNode ToValueNode(YNode node, string field, List<TemplateSite> sites)
    {
        switch (node)
        {
            case YScalar s:
            {
                var value = s.TypedValue;
                if (value is string text && text.Contains("{{", StringComparison.Ordinal))
                    sites.Add(new TemplateSite(new TemplateText(text, s.ContentLocation) { BlockIndent = s.BlockIndent }, s.BlockIndent, field));
                return new ScalarNode(s.Value, value, s.ContentLocation);
            }
            case YSequence seq:
                return new SequenceNode(seq.Items.Select(i => ToValueNode(i, field, sites)).ToList(), seq.Location);
            case YMapping map:
            {
                var entries = new List<KeyValuePair<string, ValueNode>>();
                var seen = new Dictionary<string, SourceLocation>(StringComparer.Ordinal);
                foreach (var (key, value) in Entries(map))
                {
                    if (KeyName(key) is not { } name) continue;
                    if (!CheckDuplicate(seen, name, key.Location, $"duplicate key '{name}'")) continue;
                    entries.Add(new(name, ToValueNode(value, field, sites)));
                }
                return new MappingNode(entries, map.Location);
            }
            default:
                throw new InvalidOperationException("unknown node");
        }
    }

    private TemplateText? ReadTemplate(YNode node, string what, string field, List<TemplateSite> sites, bool allowNull = false)
    {
        if (node is YScalar s && (allowNull || !s.IsNull))
        {
            var text = new TemplateText(s.IsNull ? "" : s.Value, s.ContentLocation) { BlockIndent = s.BlockIndent };
            if (text.HasTemplate) sites.Add(new TemplateSite(text, s.BlockIndent, field));
            return text;
        }
        Error(DiagnosticCodes.WrongType, node.Location, $"{what} must be a string, not {node.KindName}", QuoteHint(node));
        return null;
    }

    private string? ReadString(YNode node, string what)
    {
        if (node is YScalar s && !s.IsNull) return s.Value;
        Error(DiagnosticCodes.WrongType, node.Location, $"{what} must be a string, not {node.KindName}", QuoteHint(node));
        return null;
    }

    private static string? QuoteHint(YNode node) =>
        node is YMapping or YSequence ? "quote the value if it contains '{', '[', ': ' or '- '" : null;

    private bool? ReadBool(YNode node, string what)
    {
        if (node is YScalar { TypedValue: bool b }) return b;
        Error(DiagnosticCodes.WrongType, node.Location, $"{what} must be true or false, not {node.KindName}", null);
        return null;
    }

    private int? ReadInt(YNode node, string what, int min)
    {
        if (node is not YScalar { TypedValue: long value })
        {
            Error(DiagnosticCodes.WrongType, node.Location, $"{what} must be a whole number, not {node.KindName}", null);
            return null;
        }
        if (value < min || value > int.MaxValue)
        {
            Error(DiagnosticCodes.BadValue, node.Location, $"{what} must be at least {min}, got {value}", null);
            return null;
        }
        return (int)value;
    }

    private TimeSpan? ReadDuration(YNode node, string what, bool allowZero = false)
    {
        if (node is not YScalar s || s.IsNull)
        {
            Error(DiagnosticCodes.BadDuration, node.Location, $"{what} must be a duration, not {node.KindName}", DurationHint);
            return null;
        }
        if (s.TypedValue is long or double)
        {
            Error(DiagnosticCodes.BadDuration, s.Location, $"duration '{s.Value}' in {what} has no unit",
                $"add a unit, e.g. '{s.Value}s'; accepted forms: {Duration.AcceptedForms}");
            return null;
        }
        if (!Duration.TryParse(s.Value, out var value))
        {
            Error(DiagnosticCodes.BadDuration, s.Location, $"invalid duration '{s.Value}' in {what}", DurationHint);
            return null;
        }
        if (value == TimeSpan.Zero && !allowZero)
        {
            Error(DiagnosticCodes.BadValue, s.Location, $"{what} must be greater than zero", null);
            return null;
        }
        return value;
    }

    // ---- mapping helpers ----

    private static bool IsNull(YNode node) => node is YScalar { IsNull: true };

    private YMapping? AsMapping(YNode node, string what, string hint)
    {
        if (node is YMapping map) return map;
        if (node is YScalar { MisquotedTemplate: true }) return null; // already reported
        Error(DiagnosticCodes.WrongType, node.Location, $"{what} must be a mapping, not {node.KindName}", hint);
        return null;
    }

    private static IEnumerable<(YNode Key, YNode Value)> Entries(YMapping map) => map.Entries.Select(e => (e.Key, e.Value));

    /// <summary>The key's text, or null (reported) when the key is not a plain string.</summary>
    private string? KeyName(YNode key)
    {
        if (key is YScalar { MisquotedTemplate: false } s && !s.IsNull) return s.Value;
        if (key is YScalar { MisquotedTemplate: true }) return null;
        Error(DiagnosticCodes.WrongType, key.Location, $"keys must be strings, not {key.KindName}", null);
        return null;
    }

    private bool CheckDuplicate(Dictionary<string, SourceLocation> seen, string name, SourceLocation location, string message)
    {
        if (seen.TryGetValue(name, out var first))
        {
            Error(DiagnosticCodes.DuplicateKey, location, message, $"'{name}' is first set on line {first.Line}; remove one of them");
            return false;
        }
        seen[name] = location;
        return true;
    }

    /// <summary>Checks keys against <paramref name="allowed"/> and returns the first entry for each known key.</summary>
    private Dictionary<string, YEntry> ReadKeys(YMapping map, IReadOnlyList<string> allowed, string where)
    {
        var result = new Dictionary<string, YEntry>(StringComparer.Ordinal);
        foreach (var entry in map.Entries)
        {
            if (KeyName(entry.Key) is not { } name) continue;
            if (!allowed.Contains(name))
            {
                Error(DiagnosticCodes.UnknownKey, entry.Key.Location, $"unknown key '{name}'{where}",
                    Suggestions.DidYouMean(name, allowed, "valid keys: " + string.Join(", ", allowed)));
                continue;
            }
            if (result.TryGetValue(name, out var first))
            {
                Error(DiagnosticCodes.DuplicateKey, entry.Key.Location, $"duplicate key '{name}'{where}",
                    $"'{name}' is first set on line {first.Key.Location.Line}; remove one of them");
                continue;
            }
            result[name] = entry;
        }
        return result;
    }

    private void Error(string code, SourceLocation location, string message, string? hint) =>
        _diagnostics.Add(new Diagnostic(code, DiagnosticSeverity.Error, location, message, hint));

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_-]*$")]
    internal static partial Regex IdPattern();

    /// <summary>Agent labels, as agents declare them (<c>--Agent:Labels:0=gpu</c>).</summary>
    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_.=:-]*$")]
    internal static partial Regex LabelPattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex IdentifierPattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvNamePattern();
}
