namespace Orch.Pipeline.Diagnostics;

/// <summary>A position in a pipeline file. Line and column are 1-based.</summary>
public readonly record struct SourceLocation(string File, int Line, int Column)
{
    public static SourceLocation None(string file) => new(file, 0, 0);

    public override string ToString() => Line > 0 ? $"{File}:{Line}:{Column}" : File;
}
