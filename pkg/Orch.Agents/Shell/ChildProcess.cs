using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Orch.Agents.Shell;

/// <summary>
/// A spawned process-group leader: termination triggers, and the reaping that completes its task.
/// Signals to the group are only sent while the leader is unreaped; a zombie leader keeps its pid and
/// group id from being reused, so the group id cannot refer to someone else's processes.
/// </summary>
internal sealed class ChildProcess
{
    private const int NotTerminating = 0;
    private const int TerminatingTimedOut = 1;
    private const int TerminatingCancelled = 2;

    private readonly TaskCompletionSource<ShellResult> _completion =
        new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly Lock _gate = new();
    private readonly long _startTimestamp = Stopwatch.GetTimestamp();
    private readonly TimeSpan _killGrace;
    private int _terminating;
    private bool _reaped;
    private Timer? _timeoutTimer;
    private Timer? _graceTimer;
    private CancellationTokenRegistration _cancellation;

    public ChildProcess(int pid, OutputPipe output, TimeSpan killGrace)
    {
        Pid = pid;
        Output = output;
        _killGrace = killGrace;
    }

    public int Pid { get; }

    /// <summary>The child's stdout and stderr.</summary>
    public OutputPipe Output { get; }

    public Task<ShellResult> Task => _completion.Task;

    public void ArmTimeout(TimeSpan timeout) =>
        _timeoutTimer = new Timer(static s => ((ChildProcess)s!).Terminate(TerminatingTimedOut), this, timeout, System.Threading.Timeout.InfiniteTimeSpan);

    public void ArmCancellation(CancellationToken token) =>
        _cancellation = token.UnsafeRegister(static s => ((ChildProcess)s!).Terminate(TerminatingCancelled), this);

    private void Terminate(int reason)
    {
        lock (_gate)
        {
            if (_reaped || _terminating != NotTerminating)
            {
                return;
            }

            _terminating = reason;
            LibC.Kill(-Pid, LibC.SIGTERM);
            if (_killGrace <= TimeSpan.Zero)
            {
                LibC.Kill(-Pid, LibC.SIGKILL);
            }
            else
            {
                _graceTimer = new Timer(static s => ((ChildProcess)s!).KillGroup(), this, _killGrace, System.Threading.Timeout.InfiniteTimeSpan);
            }
        }
    }

    public void KillGroup()
    {
        lock (_gate)
        {
            if (!_reaped)
            {
                LibC.Kill(-Pid, LibC.SIGKILL);
            }
        }
    }

    /// <summary>
    /// Called once the leader has exited (it is a zombie, not yet reaped). Completes only after the output
    /// written so far is in the log.
    /// </summary>
    public unsafe void OnExited()
    {
        int status = 0;
        int result;
        int errno = 0;
        lock (_gate)
        {
            // Whatever is left of the group dies with the leader.
            LibC.Kill(-Pid, LibC.SIGKILL);
            do
            {
                result = LibC.WaitPid(Pid, &status, 0);
                if (result < 0)
                {
                    errno = Marshal.GetLastPInvokeError();
                }
            }
            while (result < 0 && errno == LibC.EINTR);

            _reaped = true;
        }

        var duration = Stopwatch.GetElapsedTime(_startTimestamp);
        Output.Finish();
        _timeoutTimer?.Dispose();
        _graceTimer?.Dispose();
        _cancellation.Unregister();

        if (result != Pid)
        {
            _completion.TrySetException(new InvalidOperationException(
                $"Could not reap process {Pid}: {LibC.ErrorText(errno)}."));
            return;
        }

        var termSignal = status & 0x7f;
        var (exitCode, signal) = termSignal == 0 ? ((status >> 8) & 0xff, (int?)null) : (128 + termSignal, termSignal);
        _completion.TrySetResult(new ShellResult(exitCode, signal,
            TimedOut: _terminating == TerminatingTimedOut,
            Cancelled: _terminating == TerminatingCancelled,
            duration));
    }
}
