namespace Orch.Pipeline.Diagnostics;

public enum DiagnosticSeverity { Error, Warning }

/// <summary>
/// One problem found in a pipeline file. <see cref="Code"/> is stable across releases
/// (scripts may match on it); the message and hint are for people.
/// </summary>
public sealed record Diagnostic(
    string Code,
    DiagnosticSeverity Severity,
    SourceLocation Location,
    string Message,
    string? Hint = null)
{
    public bool IsError => Severity == DiagnosticSeverity.Error;
}

/// <summary>Diagnostic codes. Never renumber: users and CI scripts match on them.</summary>
public static class DiagnosticCodes
{
    public const string YamlSyntax = "ORCH001";
    public const string UnquotedTemplate = "ORCH002";
    public const string UnknownKey = "ORCH003";
    public const string MissingKey = "ORCH004";
    public const string WrongType = "ORCH005";
    public const string DuplicateKey = "ORCH006";
    /// <summary>A task id, param, resource or environment variable name with characters that are not allowed.</summary>
    public const string InvalidName = "ORCH007";
    public const string UnknownNeed = "ORCH010";
    public const string Cycle = "ORCH011";
    public const string RunAndUses = "ORCH012";
    public const string NeitherRunNorUses = "ORCH013";
    public const string UnknownAction = "ORCH014";
    public const string UndeclaredResource = "ORCH015";
    public const string TemplateSyntax = "ORCH020";
    public const string OutputNotUpstream = "ORCH021";
    public const string UnknownParam = "ORCH022";
    public const string ItemOutsideFanOut = "ORCH023";
    /// <summary>Warning: a value interpolated into a <c>run:</c> script without the <c>sh</c> filter.</summary>
    public const string UnquotedShellValue = "ORCH024";
    public const string BadDuration = "ORCH030";
    public const string BadValue = "ORCH031";
    public const string BadParamOverride = "ORCH040";
    /// <summary>The run named by <c>--resume</c> does not exist or belongs to another pipeline.</summary>
    public const string ResumeNotPossible = "ORCH041";
    /// <summary>A task asks for labels or slots that no live agent offers (checked when the run starts).</summary>
    public const string NoMatchingAgent = "ORCH042";
    /// <summary>A <c>type: path</c> param names nothing that exists, or more than can be sent to agents.</summary>
    public const string PathParamUnusable = "ORCH043";
    public const string FileNotFound = "ORCH050";
}
