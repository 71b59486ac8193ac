using System.Runtime.InteropServices;

namespace Orch.Agents.Shell;

/// <summary>
/// The read end of the pipe a child writes its stdout and stderr to, copied into the log file. The log file
/// is created (or truncated) on the first byte, so a command that prints nothing leaves no file behind.
/// All methods may be called from any thread; the descriptors are only used and closed under one lock.
/// </summary>
internal sealed unsafe class OutputPipe
{
    private const int ChunkSize = 64 * 1024;

    /// <summary>Reads per readiness event, so one noisy child cannot starve the others for long.</summary>
    private const int MaxChunksPerPump = 16;

    [ThreadStatic]
    private static byte[]? t_buffer;

    private readonly Lock _gate = new();
    private readonly string _logPath;
    private int _readFd;
    private int _logFd;
    private bool _logFailed;
    private Action? _unregister;

    /// <param name="readFd">Non-blocking read end; owned from now on.</param>
    /// <param name="logPath">Log file to create on the first byte of output.</param>
    /// <param name="logFd">An already opened (and truncated) log file, or -1; owned from now on.</param>
    public OutputPipe(int readFd, string logPath, int logFd)
    {
        _readFd = readFd;
        _logPath = logPath;
        _logFd = logFd;
    }

    /// <summary>
    /// Registers the pipe with a poller while holding the lock, so no pump can close it half-registered.
    /// <paramref name="register"/> returns the action that removes the registration (called before closing),
    /// or null when registering failed, which this returns as false.
    /// </summary>
    public bool Register(Func<int, Action?> register)
    {
        lock (_gate)
        {
            if (_readFd < 0)
            {
                return false;
            }

            _unregister = register(_readFd);
            return _unregister != null;
        }
    }

    /// <summary>The pipe is readable (or hung up): copies what is there to the log, closing the pipe at EOF.</summary>
    public void Pump()
    {
        lock (_gate)
        {
            if (_readFd >= 0)
            {
                Copy(long.MaxValue, MaxChunksPerPump);
            }
        }
    }

    /// <summary>The read end, or -1 once closed. Only for a caller that is the pipe's sole user.</summary>
    public int Descriptor
    {
        get
        {
            lock (_gate)
            {
                return _readFd;
            }
        }
    }

    /// <summary>
    /// The leader has exited and its group has been killed: copies what is already in the pipe without waiting
    /// for EOF (a process outside the group may hold the write end forever), then closes everything.
    /// </summary>
    public void Finish()
    {
        lock (_gate)
        {
            if (_readFd >= 0)
            {
                // Everything written before now is in the pipe; bound the drain by it so that a writer that
                // escaped the group cannot keep this loop going.
                int pending;
                if (LibC.Ioctl(_readFd, LibC.FIONREAD, &pending) != 0)
                {
                    pending = 1024 * 1024;
                }

                if (pending > 0)
                {
                    Copy(pending, int.MaxValue);
                }

                CloseRead();
            }

            if (_logFd >= 0)
            {
                LibC.Close(_logFd);
                _logFd = -1;
            }
        }
    }

    /// <summary>Reads up to <paramref name="limit"/> bytes until the pipe is empty; closes it at EOF or on error.</summary>
    private void Copy(long limit, int maxChunks)
    {
        var buffer = t_buffer ??= GC.AllocateUninitializedArray<byte>(ChunkSize, pinned: true);
        fixed (byte* data = buffer)
        {
            for (var chunk = 0; chunk < maxChunks && limit > 0; chunk++)
            {
                var count = LibC.Read(_readFd, data, (nuint)Math.Min(limit, ChunkSize));
                if (count > 0)
                {
                    limit -= count;
                    Append(data, (int)count);
                    continue;
                }

                if (count < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == LibC.EINTR)
                    {
                        continue;
                    }

                    if (errno == LibC.EAGAIN)
                    {
                        return;
                    }
                }

                // EOF, or an error that will not go away.
                CloseRead();
                return;
            }
        }
    }

    private void Append(byte* data, int count)
    {
        if (_logFailed)
        {
            return;
        }

        if (_logFd < 0)
        {
            _logFd = LibC.Open(_logPath, LibC.O_WRONLY | LibC.O_CREAT | LibC.O_TRUNC | LibC.O_CLOEXEC, 0b110_100_100);
            if (_logFd < 0)
            {
                // The directory was checked when spawning; if it has gone since, the output is dropped, as the
                // child's own writes to an unwritable file would have been.
                _logFailed = true;
                return;
            }
        }

        while (count > 0)
        {
            var written = LibC.Write(_logFd, data, (nuint)count);
            if (written < 0)
            {
                if (Marshal.GetLastPInvokeError() == LibC.EINTR)
                {
                    continue;
                }

                _logFailed = true;
                return;
            }

            data += written;
            count -= (int)written;
        }
    }

    private void CloseRead()
    {
        // Leave the poller first: a closed descriptor stays registered while a child being spawned still
        // holds a copy of it, and its number may be reused at once.
        _unregister?.Invoke();
        _unregister = null;
        LibC.Close(_readFd);
        _readFd = -1;
    }
}
