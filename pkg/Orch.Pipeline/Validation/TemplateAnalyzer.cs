using Orch.Pipeline.Diagnostics;
using Orch.Pipeline.Loading;
using Orch.Pipeline.Model;
using Orch.Pipeline.Templates;
using Scriban.Parsing;
using Scriban.Syntax;

namespace Orch.Pipeline.Validation;

/// <summary>What a template may refer to where it appears.</summary>
internal sealed record TemplateScopeInfo(
    string? TaskId,
    IReadOnlySet<string> Upstream,
    bool HasItem,
    IReadOnlyDictionary<string, ParamType> Params,
    IReadOnlyCollection<string> TaskIds);

/// <summary>Compiles templates and checks the variables they use by walking the Scriban syntax tree.</summary>
internal sealed class TemplateAnalyzer
{
    private readonly List<Diagnostic> _diagnostics;
    private readonly TemplateSite _site;
    private readonly TemplateScopeInfo _scope;
    private readonly HashSet<string> _loopVariables = new(StringComparer.Ordinal);

    private TemplateAnalyzer(TemplateSite site, TemplateScopeInfo scope, List<Diagnostic> diagnostics)
    {
        _site = site;
        _scope = scope;
        _diagnostics = diagnostics;
    }

    public static void Analyze(TemplateSite site, TemplateScopeInfo scope, List<Diagnostic> diagnostics)
    {
        var compiled = TemplateEngine.TryCompile(site.Text, out var errors);
        if (compiled is null)
        {
            if (errors.Count > 0)
            {
                var (location, message) = errors[0];
                diagnostics.Add(new Diagnostic(DiagnosticCodes.TemplateSyntax, DiagnosticSeverity.Error, location,
                    $"template syntax error in {site.Field}: {message}",
                    "templates look like {{ params.name }} or {{ tasks.id.outputs.key }}"));
            }
            return;
        }
        var analyzer = new TemplateAnalyzer(site, scope, diagnostics);
        analyzer.Walk(compiled.Page);
        if (site.Field == "run") analyzer.CheckShellQuoting(compiled.Page);
    }

    private SourceLocation Map(TextPosition position) => TemplateEngine.MapLocation(_site.Text, position);

    private string Owner => _scope.TaskId is { } id ? $"task '{id}'" : "pipeline env";

    private void Walk(ScriptNode? node)
    {
        if (node is null) return;
        switch (node)
        {
            case ScriptMemberExpression member:
                if (member.Target is ScriptVariableGlobal { Name: "params" } && member.Member is { } paramName)
                    CheckParam(paramName.Name, member.Span.Start);
                else if (member.Target is ScriptVariableGlobal { Name: "tasks" } && member.Member is { } taskName)
                    CheckTask(taskName.Name, member.Span.Start);
                else
                    Walk(member.Target);
                return; // the member name is not a variable
            case ScriptIndexerExpression { Target: ScriptVariableGlobal { Name: "params" }, Index: ScriptLiteral { Value: string name } } indexer:
                CheckParam(name, indexer.Span.Start);
                return;
            case ScriptIndexerExpression { Target: ScriptVariableGlobal { Name: "tasks" }, Index: ScriptLiteral { Value: string id } } indexer:
                CheckTask(id, indexer.Span.Start);
                return;
            case ScriptForStatement loop:
                if (loop.Variable is ScriptVariable variable) _loopVariables.Add(variable.Name);
                Walk(loop.Iterator);
                Walk(loop.Body);
                Walk(loop.Else);
                return;
            case ScriptVariableGlobal { Name: "item" or "index" } global when !_loopVariables.Contains(global.Name):
                CheckItem(global.Name, global.Span.Start);
                return;
        }
        for (var i = 0; i < node.ChildrenCount; i++) Walk(node.GetChildren(i));
    }

    private void CheckParam(string name, TextPosition position)
    {
        if (_scope.Params.ContainsKey(name)) return;
        Report(DiagnosticCodes.UnknownParam, position, $"unknown param '{name}' in {_site.Field} of {Owner}",
            Suggestions.DidYouMean(name, _scope.Params.Keys, $"declare it under 'params:', e.g. 'params: {{ {name}: ... }}'"));
    }

    private void CheckTask(string id, TextPosition position)
    {
        if (_scope.TaskId is null)
        {
            Report(DiagnosticCodes.OutputNotUpstream, position, $"pipeline env can only use params, not tasks.{id}",
                "move this variable into the env of the tasks that need it");
            return;
        }
        if (!_scope.TaskIds.Contains(id))
        {
            Report(DiagnosticCodes.OutputNotUpstream, position, $"unknown task '{id}' in tasks.{id} in {_site.Field} of {Owner}",
                Suggestions.DidYouMean(id, _scope.TaskIds, null));
            return;
        }
        if (id == _scope.TaskId)
        {
            Report(DiagnosticCodes.OutputNotUpstream, position, $"task '{id}' cannot read its own outputs",
                "outputs are only available to tasks that run after it");
            return;
        }
        if (_scope.Upstream.Contains(id)) return;
        Report(DiagnosticCodes.OutputNotUpstream, position,
            $"{Owner} reads tasks.{id}, but '{id}' is not upstream of it",
            $"add '{id}' to needs");
    }

    private void CheckItem(string name, TextPosition position)
    {
        if (_scope.HasItem && _site.Field != "for_each") return;
        var (message, hint) = _scope.TaskId is null
            ? ($"'{name}' is not available in pipeline env", "item and index exist only inside a task with for_each")
            : _site.Field == "for_each"
                ? ($"'{name}' is not available in for_each itself", "for_each computes the items; use item and index in the other fields")
                : ($"'{name}' is only available in a task with for_each", $"add 'for_each:' to {Owner}, or remove the reference");
        Report(DiagnosticCodes.ItemOutsideFanOut, position, message, hint);
    }

    private void Report(string code, TextPosition position, string message, string? hint, DiagnosticSeverity severity = DiagnosticSeverity.Error) =>
        _diagnostics.Add(new Diagnostic(code, severity, Map(position), message, hint));

    // ---- shell quoting ----

    private void CheckShellQuoting(ScriptNode? node)
    {
        if (node is null) return;
        if (node is ScriptExpressionStatement statement)
        {
            var expression = statement.Expression;
            if (expression is not null and not ScriptAssignExpression && !EndsWithSh(expression) && IsUnsafe(expression))
            {
                Report(DiagnosticCodes.UnquotedShellValue, expression.Span.Start,
                    "value is interpolated into shell without quoting",
                    "use {{ ... | sh }} or pass it through env:", DiagnosticSeverity.Warning);
            }
            return;
        }
        for (var i = 0; i < node.ChildrenCount; i++) CheckShellQuoting(node.GetChildren(i));
    }

    private static bool EndsWithSh(ScriptExpression? expression) => expression switch
    {
        ScriptNestedExpression nested => EndsWithSh(nested.Expression),
        ScriptPipeCall pipe => EndsWithSh(pipe.To),
        ScriptFunctionCall call => call.Target is ScriptVariableGlobal { Name: "sh" },
        ScriptVariableGlobal { Name: "sh" } => true,
        _ => false,
    };

    /// <summary>True when the expression reads a value that may hold arbitrary text.</summary>
    private bool IsUnsafe(ScriptNode? node)
    {
        switch (node)
        {
            case null:
                return false;
            case ScriptMemberExpression { Target: ScriptVariableGlobal { Name: "params" } } member:
                // Unknown params are already errors; do not warn about them as well.
                return member.Member is not null && _scope.Params.TryGetValue(member.Member.Name, out var type) && type is ParamType.String or ParamType.List or ParamType.Path;
            case ScriptMemberExpression { Target: ScriptVariableGlobal { Name: "tasks" } }:
                return true;
            case ScriptIndexerExpression { Target: ScriptVariableGlobal { Name: "params" or "tasks" } }:
                return true;
            case ScriptMemberExpression member:
                return IsUnsafe(member.Target);
            case ScriptVariableGlobal { Name: "item" } global:
                return !_loopVariables.Contains(global.Name);
        }
        for (var i = 0; i < node.ChildrenCount; i++)
            if (IsUnsafe(node.GetChildren(i))) return true;
        return false;
    }
}
