namespace Orch.Actions.WordCount;

/// <summary>
/// <c>wordcount/count</c>: counts the words of one <c>shard</c> descriptor and writes the partial counts to a binary
/// file in the artifact directory. Outputs <c>counts</c> (that file), <c>words</c> (total) and <c>distinct</c>.
/// </summary>
public sealed class CountAction : IBuiltinAction
{
    public string Name => "wordcount/count";
    public IReadOnlyCollection<string> Inputs => ["shard"];

    public ValueTask<ActionResult> ExecuteAsync(ActionContext context, CancellationToken cancellationToken) =>
        ActionTask.Start(() => Run(context, cancellationToken));

    private static Task<ActionResult> Run(ActionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!context.With.TryGetValue("shard", out var value) || value is null)
            throw new ActionInputException("input 'shard' is required");
        var shard = ShardDescriptor.Parse(value, context.ResolvePath);
        foreach (var segment in shard.Segments)
        {
            if (!File.Exists(segment.Path)) throw new ActionInputException($"shard file '{segment.Path}' does not exist");
        }

        return Task.Run(() =>
        {
            using var table = new WordCountTable();
            WordCounter.CountSegments(shard.Segments, table, cancellationToken);
            Directory.CreateDirectory(context.ArtifactDirectory);
            var countsPath = Path.Combine(Path.GetFullPath(context.ArtifactDirectory), $"counts-{shard.Id:D5}.bin");
            CountsFile.Write(countsPath, table, cancellationToken);
            context.Log.WriteLine($"wordcount/count: shard {shard.Id}, {shard.Bytes} bytes, {table.TotalWords} words, {table.Count} distinct");
            return new ActionResult(new Dictionary<string, object?>
            {
                ["counts"] = countsPath,
                ["words"] = table.TotalWords,
                ["distinct"] = (long)table.Count,
            });
        }, cancellationToken);
    }
}
