namespace Orch.Cli;

/// <summary>
/// Process exit codes, in families so CI scripts can branch on them. Documented in the README;
/// never reuse a number for something else.
/// </summary>
public static class ExitCodes
{
    public const int Success = 0;
    /// <summary>The command line is wrong (unknown option, missing argument, a shared backend without a usable cluster key).</summary>
    public const int Usage = 2;

    // 10-19: the pipeline file
    public const int PipelineNotFound = 10;
    public const int PipelineInvalid = 11;
    public const int PipelineCycle = 12;
    /// <summary>A <c>-p</c> value does not fit the pipeline's params, or the run to resume does not exist.</summary>
    public const int ParamsInvalid = 13;

    // 20-29: the run
    public const int TaskFailed = 20;
    public const int Cancelled = 21;

    // 30-39: infrastructure
    /// <summary>The machine or backend failed us (disk, permissions, state store).</summary>
    public const int Infrastructure = 30;
    /// <summary>The backend became unreachable during the run and stayed so past <c>--backend-wait</c>; <c>--resume</c> continues.</summary>
    public const int BackendLost = 31;
    /// <summary>A bug in orch: please report it with the message printed.</summary>
    public const int InternalError = 39;

    /// <summary>The run hit its time limit (as coreutils' timeout does).</summary>
    public const int TimedOut = 124;
}
