using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Orch.Agents.Shell;

/// <summary>
/// Waits for spawned children on one thread: a pidfd per child, all in one epoll set. Only the pids handed
/// to <see cref="Watch"/> are ever reaped. Where pidfds are unavailable, a child gets its own waiting thread.
/// </summary>
internal sealed unsafe class ChildReaper
{
    private const int MaxEvents = 256;

    private readonly ConcurrentDictionary<long, Watched> _children = new();
    private readonly int _epoll;
    private long _nextKey;

    private ChildReaper()
    {
        _epoll = LibC.EpollCreate1(LibC.O_CLOEXEC);
        if (_epoll >= 0)
        {
            new Thread(Loop) { IsBackground = true, Name = "Shell child reaper" }.Start();
        }
    }

    public static ChildReaper Instance { get; } = new();

    public void Watch(ChildProcess child)
    {
        // The pipe first: once the pidfd is registered, the exit may be handled (and the pipe closed) at once.
        if (!child.Output.Register(fd => Add(child, fd, isOutput: true)))
        {
            WatchWithPoll(child);
            return;
        }

        if (_epoll >= 0)
        {
            var pidfd = (int)LibC.Syscall(LibC.SYS_pidfd_open, child.Pid, 0);
            if (pidfd >= 0)
            {
                if (Add(child, pidfd, isOutput: false) != null)
                {
                    return;
                }

                LibC.Close(pidfd);
            }
        }

        WatchOnThread(child);
    }

    /// <summary>Adds a descriptor to the epoll set; returns the action that removes it, or null on failure.</summary>
    private Action? Add(ChildProcess child, int fd, bool isOutput)
    {
        if (_epoll < 0)
        {
            return null;
        }

        // The epoll data is a unique key, not the descriptor number: a closed descriptor can linger in the
        // epoll set while a concurrently spawning child still holds a copy of the descriptor table, and its
        // number may already belong to a newer child.
        var key = Interlocked.Increment(ref _nextKey);
        _children[key] = new Watched(child, fd, isOutput);
        var ev = stackalloc byte[16];
        *(uint*)ev = LibC.EPOLLIN;
        *(long*)(ev + LibC.EpollEventDataOffset) = key;
        if (LibC.EpollCtl(_epoll, LibC.EPOLL_CTL_ADD, fd, ev) == 0)
        {
            return () => Remove(key, fd);
        }

        _children.TryRemove(key, out _);
        return null;
    }

    private void Remove(long key, int fd)
    {
        _children.TryRemove(key, out _);
        LibC.EpollCtl(_epoll, LibC.EPOLL_CTL_DEL, fd, null);
    }

    private void Loop()
    {
        var events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * LibC.EpollEventSize));
        while (true)
        {
            var count = LibC.EpollWait(_epoll, events, MaxEvents, -1);
            for (var i = 0; i < count; i++)
            {
                var key = *(long*)(events + (i * LibC.EpollEventSize) + LibC.EpollEventDataOffset);
                if (!_children.TryGetValue(key, out var watched))
                {
                    continue;
                }

                if (watched.IsOutput)
                {
                    // Closes (and unregisters) the pipe itself at EOF.
                    watched.Child.Output.Pump();
                }
                else if (_children.TryRemove(key, out _))
                {
                    // Remove the registration explicitly: closing alone does not, while copies of the
                    // descriptor exist in children being spawned.
                    LibC.EpollCtl(_epoll, LibC.EPOLL_CTL_DEL, watched.Fd, null);
                    try
                    {
                        watched.Child.OnExited();
                    }
                    finally
                    {
                        LibC.Close(watched.Fd);
                    }
                }
            }
        }
    }

    private static void WatchOnThread(ChildProcess child)
    {
        var thread = new Thread(static state =>
        {
            var child = (ChildProcess)state!;
            var info = stackalloc byte[128]; // siginfo_t
            // Wait for the exit without reaping, so the group can still be killed safely.
            while (LibC.WaitId(LibC.P_PID, child.Pid, info, LibC.WEXITED | LibC.WNOWAIT) < 0
                   && Marshal.GetLastPInvokeError() == LibC.EINTR)
            {
            }

            child.OnExited();
        })
        { IsBackground = true, Name = "Shell child waiter" };
        thread.Start(child);
    }

    /// <summary>
    /// Without epoll: one thread per child polls its pipe and checks for the exit, then waits as
    /// <see cref="WatchOnThread"/> does once the pipe is closed.
    /// </summary>
    private static void WatchWithPoll(ChildProcess child)
    {
        var thread = new Thread(static state =>
        {
            var child = (ChildProcess)state!;
            var info = stackalloc byte[128]; // siginfo_t
            var poll = stackalloc byte[8]; // struct pollfd { int fd; short events, revents; }
            while (true)
            {
                var fd = child.Output.Descriptor;
                if (fd < 0)
                {
                    break;
                }

                *(int*)poll = fd;
                *(short*)(poll + 4) = LibC.POLLIN;
                *(short*)(poll + 6) = 0;
                if (LibC.Poll(poll, 1, 50) > 0)
                {
                    child.Output.Pump();
                }

                new Span<byte>(info, 128).Clear();
                if (LibC.WaitId(LibC.P_PID, child.Pid, info, LibC.WEXITED | LibC.WNOWAIT | LibC.WNOHANG) == 0
                    && *(int*)info != 0)
                {
                    child.OnExited();
                    return;
                }
            }

            while (LibC.WaitId(LibC.P_PID, child.Pid, info, LibC.WEXITED | LibC.WNOWAIT) < 0
                   && Marshal.GetLastPInvokeError() == LibC.EINTR)
            {
            }

            child.OnExited();
        })
        { IsBackground = true, Name = "Shell child waiter" };
        thread.Start(child);
    }

    private readonly record struct Watched(ChildProcess Child, int Fd, bool IsOutput);
}
