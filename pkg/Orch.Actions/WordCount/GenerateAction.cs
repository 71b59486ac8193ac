using System.Globalization;

namespace Orch.Actions.WordCount;

/// <summary>
/// <c>wordcount/generate</c>: writes a deterministic pseudo-random corpus of <c>size</c> bytes (an integer or e.g.
/// <c>256MB</c>, <c>10MiB</c>) as <c>files</c> files (default 8) into the <c>output</c> directory, from <c>seed</c>
/// (default 1). Outputs <c>files</c> and <c>bytes</c>.
/// </summary>
public sealed class GenerateAction : IBuiltinAction
{
    public string Name => "wordcount/generate";
    public IReadOnlyCollection<string> Inputs => ["output", "size", "files", "seed"];

    public async ValueTask<ActionResult> ExecuteAsync(ActionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var output = context.ResolvePath(context.GetString("output"));
        if (!context.With.TryGetValue("size", out var sizeValue) || sizeValue is null || sizeValue is string { Length: 0 })
            throw new ActionInputException("input 'size' is required");
        var size = CorpusGenerator.ParseSize(sizeValue);
        if (size < 0) throw new ActionInputException($"input 'size' must be 0 or more, got {size.ToString(CultureInfo.InvariantCulture)}");
        var files = context.GetInt64("files", 8);
        if (files is < 1 or > 100_000) throw new ActionInputException($"input 'files' must be between 1 and 100000, got {files.ToString(CultureInfo.InvariantCulture)}");
        var seed = context.GetInt64("seed", 1);
        if (File.Exists(output)) throw new ActionInputException($"input 'output' must be a directory, but '{output}' is a file");

        var written = await Task.Run(() => CorpusGenerator.Generate(output, size, (int)files, seed, cancellationToken), cancellationToken).ConfigureAwait(false);
        context.Log.WriteLine($"wordcount/generate: {files} file(s), {written} bytes -> {output}");
        return new ActionResult(new Dictionary<string, object?>
        {
            ["files"] = files,
            ["bytes"] = written,
        });
    }
}
