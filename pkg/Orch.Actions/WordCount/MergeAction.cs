namespace Orch.Actions.WordCount;

/// <summary>
/// <c>wordcount/merge</c>: merges the partial count files of <c>partials</c> and writes the JSON summary to
/// <c>output</c> (top <c>top</c> words, default 20) and, when <c>counts</c> is given, a TSV of every word.
/// Outputs <c>total_words</c>, <c>distinct_words</c> and <c>output</c>.
/// </summary>
public sealed class MergeAction : IBuiltinAction
{
    public string Name => "wordcount/merge";
    public IReadOnlyCollection<string> Inputs => ["partials", "output", "top", "counts"];

    public ValueTask<ActionResult> ExecuteAsync(ActionContext context, CancellationToken cancellationToken) =>
        ActionTask.Start(() => Run(context, cancellationToken));

    private static Task<ActionResult> Run(ActionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var partials = ReadPartials(context);
        var output = context.ResolvePath(context.GetString("output"));
        var top = context.GetInt64("top", 20);
        if (top < 0) throw new ActionInputException($"input 'top' must be 0 or more, got {top}");
        var countsInput = context.TryGetString("counts");
        var tsv = countsInput is null ? null : context.ResolvePath(countsInput);
        foreach (var partial in partials)
        {
            if (!File.Exists(partial)) throw new ActionInputException($"partial counts file '{partial}' does not exist");
        }

        return Task.Run(() =>
        {
            using var table = new WordCountTable();
            foreach (var partial in partials)
            {
                cancellationToken.ThrowIfCancellationRequested();
                CountsFile.ReadInto(partial, table, cancellationToken);
            }
            WordCountOutput.WriteJson(output, table, (int)Math.Min(top, int.MaxValue));
            if (tsv is not null) WordCountOutput.WriteTsv(tsv, table, cancellationToken);
            context.Log.WriteLine($"wordcount/merge: {partials.Count} partial(s), {table.TotalWords} words, {table.Count} distinct -> {output}");
            return new ActionResult(new Dictionary<string, object?>
            {
                ["total_words"] = table.TotalWords,
                ["distinct_words"] = (long)table.Count,
                ["output"] = output,
            });
        }, cancellationToken);
    }

    private static List<string> ReadPartials(ActionContext context)
    {
        if (!context.With.TryGetValue("partials", out var value) || value is null)
            throw new ActionInputException("input 'partials' is required");
        var items = PlainValues.AsList(value) ?? (value is string s ? new List<object?> { s } : null)
            ?? throw new ActionInputException("input 'partials' must be a list of count file paths");
        var paths = new List<string>(items.Count);
        foreach (var item in items)
        {
            // Accept the whole output map of wordcount/count as well as the bare path.
            var path = PlainValues.AsMap(item) is { } map
                ? map.TryGetValue("counts", out var counts) ? counts : throw new ActionInputException("an item of 'partials' is a map without 'counts'")
                : item;
            var text = PlainValues.ToText(path, "an item of 'partials'");
            if (text.Length == 0) throw new ActionInputException("an item of 'partials' is empty");
            paths.Add(context.ResolvePath(text));
        }
        return paths;
    }
}
