using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Orch.Pipeline.Model;
using Orch.Pipeline.Templates;
using Orch.Protocol;

namespace Orch.Engine.Planning;

/// <summary>
/// Turns a task definition plus a template scope into what an agent runs. Templates are parsed
/// once per run and rendered per instance. Throws <see cref="TemplateRenderException"/> when a
/// template fails (a missing output, a wrong type): the instance fails with that message.
/// </summary>
internal sealed class TaskRenderer(PipelineDefinition pipeline)
{
    private readonly ConcurrentDictionary<TemplateText, CompiledTemplate> _compiled = new();

    public IReadOnlyList<object?> ExpandForEach(TaskDefinition task, TemplateScope scope)
    {
        var value = Render(task.ForEach!, scope);
        return value switch
        {
            IReadOnlyList<object?> list => list,
            IEnumerable<object?> items => items.ToList(),
            long n when n >= 0 => Enumerable.Range(0, checked((int)n)).Select(i => (object?)(long)i).ToList(),
            string s when s.TrimStart().StartsWith('[') => ParseJsonList(s, task),
            string s => s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(x => (object?)x).ToList(),
            null => [],
            _ => throw new TemplateRenderException($"for_each must give a list, got {TemplateEngine.ToDisplayString(value)}", task.ForEach!.Location),
        };
    }

    private static IReadOnlyList<object?> ParseJsonList(string json, TaskDefinition task)
    {
        try
        {
            return PlainJson.Parse(json) as IReadOnlyList<object?> ?? [];
        }
        catch (System.Text.Json.JsonException ex)
        {
            throw new TemplateRenderException($"for_each got text that starts like a JSON list but is not one: {ex.Message}", task.ForEach!.Location, ex);
        }
    }

    private static readonly IReadOnlyDictionary<string, object?> NoInputs = new Dictionary<string, object?>();

    public bool ShouldRun(TaskDefinition task, TemplateScope scope) =>
        task.When is null || TemplateEngine.IsTrue(TemplateEngine.Evaluate(Compile(task.When), scope));

    public IReadOnlyList<string> RenderLocks(TaskDefinition task, TemplateScope scope) =>
        task.Locks.Select(l => l.HasTemplate ? TemplateEngine.Render(Compile(l), scope).Trim() : l.Text).ToList();

    public TaskBody RenderBody(TaskDefinition task, TemplateScope scope)
    {
        if (task.Uses is { } action)
        {
            if (task.With.Count == 0) return new ActionBody(action, NoInputs);
            var with = new Dictionary<string, object?>(task.With.Count, StringComparer.Ordinal);
            foreach (var (name, node) in task.With) with[name] = Render(node, scope);
            return new ActionBody(action, with);
        }

        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, text) in pipeline.Env) env[name] = RenderText(text, scope);
        foreach (var (name, text) in task.Env) env[name] = RenderText(text, scope);
        var script = RenderText(task.Run!, scope);
        return new ShellBody(task.Shell, script, env);
    }

    public string? RenderWorkingDirectory(TaskDefinition task, TemplateScope scope) =>
        task.WorkingDirectory is null ? null : RenderText(task.WorkingDirectory, scope);

    /// <summary>A stable hash of everything that decides what an attempt does.</summary>
    public static string Fingerprint(TaskBody body, string workingDirectory)
    {
        var canonical = body switch
        {
            ActionBody a => PlainJson.Serialize(new object?[] { "uses", a.Action, Sorted(a.With), workingDirectory }),
            ShellBody s => PlainJson.Serialize(new object?[] { "run", s.Shell, s.Script, s.Environment.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => new[] { kv.Key, kv.Value }), workingDirectory }),
            _ => throw new ArgumentOutOfRangeException(nameof(body)),
        };
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)).AsSpan(0, 16));
    }

    private static object? Sorted(object? value) => value switch
    {
        IReadOnlyDictionary<string, object?> map => map.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => new object?[] { kv.Key, Sorted(kv.Value) }).ToList(),
        IReadOnlyList<object?> list => list.Select(Sorted).ToList(),
        _ => value,
    };

    private object? Render(ValueNode node, TemplateScope scope) => node switch
    {
        ScalarNode { HasTemplate: true } s => TemplateEngine.Evaluate(Compile(new TemplateText((string)s.Value!, s.Location)), scope),
        ScalarNode s => s.Value,
        SequenceNode seq => seq.Items.Select(i => Render(i, scope)).ToList(),
        MappingNode map => map.Entries.ToDictionary(e => e.Key, e => Render(e.Value, scope), StringComparer.Ordinal),
        _ => throw new ArgumentOutOfRangeException(nameof(node)),
    };

    private string RenderText(TemplateText text, TemplateScope scope) =>
        text.HasTemplate ? TemplateEngine.Render(Compile(text), scope) : text.Text;

    private CompiledTemplate Compile(TemplateText text) => _compiled.GetOrAdd(text, TemplateEngine.Compile);
}
