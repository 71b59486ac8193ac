using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;

namespace Orch.Agents.Shell;

/// <summary>
/// Runs commands with glibc <c>posix_spawn</c>, each as the leader of its own process group, with stdin from
/// <c>/dev/null</c> and stdout/stderr through a pipe into a log file, which is only created once the command
/// writes something. Termination (timeout or cancellation) sends SIGTERM to the
/// whole group and SIGKILL after the grace period; once the leader exits, the group always gets a final SIGKILL
/// so that stray background children die too.
/// </summary>
public static class ProcessGroupRunner
{
    private const string DefaultPath = "/bin:/usr/bin";

    /// <summary>Children not yet reaped, so that an emergency exit can take their process groups down too.</summary>
    private static readonly ConcurrentDictionary<int, ChildProcess> Live = new();

    /// <summary>
    /// SIGKILLs the process group of every command still running. For a process that must exit
    /// at once (a second Ctrl-C): the groups are not in the terminal's foreground group, so
    /// nothing else would stop them.
    /// </summary>
    public static void KillAll()
    {
        foreach (var child in Live.Values) child.KillGroup();
    }

    /// <summary>Largest timer period accepted by <see cref="System.Threading.Timer"/>.</summary>
    private static readonly TimeSpan MaxTimer = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    /// <summary>Starts the command and completes when its process has exited and been reaped.</summary>
    /// <exception cref="ShellStartException">The process could not be started.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before the process was started.</exception>
    public static Task<ShellResult> RunAsync(ShellCommand command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        Validate(command);
        cancellationToken.ThrowIfCancellationRequested();

        var (pid, output) = Spawn(command);
        var child = new ChildProcess(pid, output, command.KillGrace);
        Live[pid] = child;
        command.Ledger?.Started(pid);

        // Arm the triggers before the child can be reaped, so completion always sees and releases them.
        if (command.Timeout is { } timeout && timeout <= MaxTimer)
        {
            child.ArmTimeout(timeout);
        }

        if (cancellationToken.CanBeCanceled)
        {
            child.ArmCancellation(cancellationToken);
        }

        ChildReaper.Instance.Watch(child);
        return ForgetWhenDoneAsync(child, pid, command.Ledger);
    }

    /// <summary>The child's result, once it is no longer counted as live or recorded in the ledger.</summary>
    private static async Task<ShellResult> ForgetWhenDoneAsync(ChildProcess child, int pid, ProcessGroupLedger? ledger)
    {
        try
        {
            return await child.Task.ConfigureAwait(false);
        }
        finally
        {
            Live.TryRemove(pid, out _);
            ledger?.Ended(pid);
        }
    }

    private static void Validate(ShellCommand command)
    {
        if (command.Argv is null || command.Argv.Count == 0)
        {
            throw new ArgumentException("Argv must contain at least the program.", nameof(command));
        }

        ArgumentException.ThrowIfNullOrEmpty(command.WorkingDirectory, nameof(command));
        ArgumentException.ThrowIfNullOrEmpty(command.LogPath, nameof(command));
        ArgumentNullException.ThrowIfNull(command.Environment, nameof(command));
        if (command.Timeout is { } timeout && timeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(command), timeout, "Timeout must be positive.");
        }

        if (command.KillGrace < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(command), command.KillGrace, "KillGrace must not be negative.");
        }
    }

    private static unsafe (int Pid, OutputPipe Output) Spawn(ShellCommand command)
    {
        var argv = command.Argv;
        var environment = command.Environment;
        var program = ResolveProgram(argv[0], environment, command.WorkingDirectory);

        // One native block: file actions, argv and envp pointer arrays, then all the C strings.
        var argc = argv.Count;
        var envc = environment.Count;
        var pointerBytes = (argc + 1 + envc + 1) * sizeof(byte*);
        var stringBytes = CStringSize(program) + CStringSize(command.WorkingDirectory) + CStringSize("/dev/null");
        CStringSize(command.LogPath); // rejects NUL characters
        var logPath = Path.IsPathRooted(command.LogPath) ? command.LogPath : Path.GetFullPath(command.LogPath);
        for (var i = 0; i < argc; i++)
        {
            stringBytes += CStringSize(argv[i] ?? throw new ArgumentException($"Argv[{i}] is null.", nameof(command)));
        }

        foreach (var (key, value) in environment)
        {
            if (key.Length == 0 || key.Contains('=', StringComparison.Ordinal))
            {
                throw new ArgumentException($"Invalid environment variable name '{key}'.", nameof(command));
            }

            stringBytes += Encoding.UTF8.GetByteCount(key) + 1 + CStringSize(value ?? string.Empty);
        }

        var total = LibC.FileActionsSize + pointerBytes + stringBytes;
        var block = (byte*)NativeMemory.Alloc((nuint)total);
        try
        {
            var fileActions = block;
            var argvPtr = (byte**)(block + LibC.FileActionsSize);
            var envpPtr = argvPtr + argc + 1;
            var cursor = (byte*)(envpPtr + envc + 1);
            var end = block + total;

            var programC = WriteCString(ref cursor, end, program);
            var cwdC = WriteCString(ref cursor, end, command.WorkingDirectory);
            var devNullC = WriteCString(ref cursor, end, "/dev/null");
            for (var i = 0; i < argc; i++)
            {
                argvPtr[i] = WriteCString(ref cursor, end, argv[i]);
            }

            argvPtr[argc] = null;
            var e = 0;
            foreach (var (key, value) in environment)
            {
                var start = cursor;
                cursor += Encoding.UTF8.GetBytes(key, new Span<byte>(cursor, (int)(end - cursor)));
                *cursor++ = (byte)'=';
                WriteCString(ref cursor, end, value ?? string.Empty);
                envpPtr[e++] = start;
            }

            envpPtr[e] = null;

            var logFd = OpenExistingLog(command, program, logPath);
            var pipe = stackalloc int[2];
            pipe[0] = pipe[1] = -1;
            try
            {
                // Both ends close-on-exec here; dup2 in the child clears the flag on 1 and 2 only. Only the read
                // end is non-blocking (the two ends are separate open file descriptions).
                if (LibC.Pipe2(pipe, LibC.O_CLOEXEC) != 0
                    || LibC.Fcntl(pipe[0], LibC.F_SETFL, LibC.O_NONBLOCK) != 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    throw new ShellStartException($"Cannot create the output pipe for '{program}': {LibC.ErrorText(errno)}.", errno);
                }

                Check(LibC.FileActionsInit(fileActions), "posix_spawn_file_actions_init");
                int pid;
                try
                {
                    Check(LibC.FileActionsAddOpen(fileActions, 0, devNullC, LibC.O_RDONLY, 0), "posix_spawn_file_actions_addopen");
                    Check(LibC.FileActionsAddDup2(fileActions, pipe[1], 1), "posix_spawn_file_actions_adddup2");
                    Check(LibC.FileActionsAddDup2(fileActions, pipe[1], 2), "posix_spawn_file_actions_adddup2");
                    Check(LibC.FileActionsAddChdir(fileActions, cwdC), "posix_spawn_file_actions_addchdir_np");
                    if (LibC.FileActionsAddCloseFrom != null)
                    {
                        Check(LibC.FileActionsAddCloseFrom(fileActions, 3), "posix_spawn_file_actions_addclosefrom_np");
                    }

                    var error = LibC.PosixSpawn(&pid, programC, fileActions, SpawnAttributes.Pointer, argvPtr, envpPtr);
                    if (error != 0)
                    {
                        throw StartFailure(command, program, error);
                    }
                }
                finally
                {
                    LibC.FileActionsDestroy(fileActions);
                }

                // Only the child may hold the write end, so that the pipe reaches EOF when it is done.
                LibC.Close(pipe[1]);
                pipe[1] = -1;
                var output = new OutputPipe(pipe[0], logPath, logFd);
                return (pid, output);
            }
            catch
            {
                if (pipe[0] >= 0)
                {
                    LibC.Close(pipe[0]);
                }

                if (pipe[1] >= 0)
                {
                    LibC.Close(pipe[1]);
                }

                if (logFd >= 0)
                {
                    LibC.Close(logFd);
                }

                throw;
            }
        }
        finally
        {
            NativeMemory.Free(block);
        }
    }

    /// <summary>
    /// Truncates an existing log and returns it open, or returns -1 when there is none yet; the file is then
    /// created on the first byte of output. Fails when the log could not be written, as a start failure.
    /// </summary>
    private static int OpenExistingLog(ShellCommand command, string program, string logPath)
    {
        var fd = LibC.Open(logPath, LibC.O_WRONLY | LibC.O_TRUNC | LibC.O_CLOEXEC, 0);
        if (fd >= 0)
        {
            return fd;
        }

        var errno = Marshal.GetLastPInvokeError();
        if (errno == LibC.ENOENT)
        {
            var directory = Path.GetDirectoryName(logPath);
            if (LibC.Access(string.IsNullOrEmpty(directory) ? "/" : directory, LibC.W_OK | LibC.X_OK) == 0)
            {
                return -1;
            }

            errno = Marshal.GetLastPInvokeError();
        }

        throw new ShellStartException(
            $"Cannot start '{program}': log file '{command.LogPath}': {LibC.ErrorText(errno)}.", errno);
    }

    private static int CStringSize(string value)
    {
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("Arguments, environment and paths must not contain NUL characters.");
        }

        return Encoding.UTF8.GetByteCount(value) + 1;
    }

    private static unsafe byte* WriteCString(ref byte* cursor, byte* end, string value)
    {
        var start = cursor;
        cursor += Encoding.UTF8.GetBytes(value, new Span<byte>(cursor, (int)(end - cursor)));
        *cursor++ = 0;
        return start;
    }

    private static void Check(int error, string function)
    {
        if (error != 0)
        {
            throw new ShellStartException($"{function} failed: {LibC.ErrorText(error)}", error);
        }
    }

    /// <summary>posix_spawnp-style lookup, but in the PATH of the child's environment.</summary>
    private static string ResolveProgram(string name, IReadOnlyDictionary<string, string> environment, string workingDirectory)
    {
        if (name.Contains('/', StringComparison.Ordinal))
        {
            return name;
        }

        if (name.Length == 0)
        {
            throw new ShellStartException("Cannot start a program with an empty name.", LibC.ENOENT);
        }

        var path = environment.TryGetValue("PATH", out var p) ? p : DefaultPath;
        var sawNotExecutable = false;
        foreach (var range in path.AsSpan().Split(':'))
        {
            var directory = path[range];
            if (directory.Length == 0)
            {
                directory = ".";
            }

            var candidate = Path.Combine(workingDirectory, directory, name);
            if (LibC.Access(candidate, LibC.X_OK) == 0)
            {
                if (!Directory.Exists(candidate))
                {
                    return candidate;
                }
            }
            else if (Marshal.GetLastPInvokeError() == LibC.EACCES)
            {
                sawNotExecutable = true;
            }
        }

        var errno = sawNotExecutable ? LibC.EACCES : LibC.ENOENT;
        throw new ShellStartException(
            $"Cannot start '{name}': {LibC.ErrorText(errno)} (searched PATH '{path}').", errno);
    }

    private static ShellStartException StartFailure(ShellCommand command, string program, int error)
    {
        var text = LibC.ErrorText(error);
        string message;
        if (!Directory.Exists(command.WorkingDirectory))
        {
            message = $"Cannot start '{program}': working directory '{command.WorkingDirectory}': {text}.";
        }
        else
        {
            message = $"Cannot start '{program}' in '{command.WorkingDirectory}': {text}.";
        }

        return new ShellStartException(message, error);
    }

    /// <summary>The spawn attributes are the same for every child: built once, never freed.</summary>
    private static unsafe class SpawnAttributes
    {
        public static readonly void* Pointer = Create();

        private static void* Create()
        {
            var attr = NativeMemory.AllocZeroed(LibC.SpawnAttrSize + 2 * LibC.SigSetSize);
            var emptyMask = (ulong*)((byte*)attr + LibC.SpawnAttrSize);
            var defaults = (ulong*)((byte*)attr + LibC.SpawnAttrSize + LibC.SigSetSize);

            // Reset every signal to its default action: the runtime ignores SIGPIPE and others, glibc
            // ignores its internal real-time signals in the child, and ignored dispositions survive exec.
            for (var signal = 1; signal <= 64; signal++)
            {
                if (signal is not (LibC.SIGKILL or LibC.SIGSTOP))
                {
                    defaults[(signal - 1) / 64] |= 1UL << ((signal - 1) % 64);
                }
            }

            Check(LibC.PosixSpawnAttrInit(attr), "posix_spawnattr_init");
            Check(LibC.PosixSpawnAttrSetFlags(attr,
                LibC.POSIX_SPAWN_SETPGROUP | LibC.POSIX_SPAWN_SETSIGMASK | LibC.POSIX_SPAWN_SETSIGDEF), "posix_spawnattr_setflags");
            Check(LibC.PosixSpawnAttrSetPGroup(attr, 0), "posix_spawnattr_setpgroup");
            Check(LibC.PosixSpawnAttrSetSigMask(attr, emptyMask), "posix_spawnattr_setsigmask");
            Check(LibC.PosixSpawnAttrSetSigDefault(attr, defaults), "posix_spawnattr_setsigdefault");
            return attr;
        }
    }
}
