namespace Orch.Actions.WordCount;

/// <summary>
/// <c>wordcount/split</c>: splits <c>input</c> (a file, or every file under a directory) into about <c>shards</c>
/// byte ranges cut at word boundaries. Outputs <c>shards</c> (descriptors for <c>wordcount/count</c>), <c>files</c>, <c>bytes</c>.
/// </summary>
public sealed class SplitAction : IBuiltinAction
{
    public string Name => "wordcount/split";
    public IReadOnlyCollection<string> Inputs => ["input", "shards"];

    public ValueTask<ActionResult> ExecuteAsync(ActionContext context, CancellationToken cancellationToken) =>
        ActionTask.Start(() => Run(context, cancellationToken));

    private static Task<ActionResult> Run(ActionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var input = context.GetString("input");
        var shards = context.GetInt64("shards");
        if (shards < 1) throw new ActionInputException($"input 'shards' must be 1 or more, got {shards}");
        var path = context.ResolvePath(input);

        return Task.Run(() =>
        {
            var files = ShardPlanner.ListFiles(path) ?? throw new ActionInputException($"input '{input}' does not exist");
            if (files.Count == 0) throw new ActionInputException($"input '{input}' has no files");
            var plan = ShardPlanner.Plan(files, (int)Math.Min(shards, int.MaxValue), cancellationToken);
            if (plan.Count == 0) throw new ActionInputException($"input '{input}' has no data (its {files.Count} file(s) are empty)");
            var descriptors = new List<object?>(plan.Count);
            foreach (var shard in plan) descriptors.Add(ShardDescriptor.ToPlain(shard));
            context.Log.WriteLine($"wordcount/split: {files.Count} file(s), {files.Sum(f => f.Length)} bytes -> {plan.Count} shard(s)");
            return new ActionResult(new Dictionary<string, object?>
            {
                ["shards"] = descriptors,
                ["files"] = (long)files.Count,
                ["bytes"] = files.Sum(f => f.Length),
            });
        }, cancellationToken);
    }
}
