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
        if (_epoll >= 0)
        {
            var pidfd = (int)LibC.Syscall(LibC.SYS_pidfd_open, child.Pid, 0);
            if (pidfd >= 0)
            {
                // The epoll data is a unique key, not the descriptor number: a closed pidfd can linger in the
                // epoll set while a concurrently spawning child still holds a copy of the descriptor table,
                // and its number may already belong to a newer child.
                var key = Interlocked.Increment(ref _nextKey);
                _children[key] = new Watched(child, pidfd);
                var ev = stackalloc byte[16];
                *(uint*)ev = LibC.EPOLLIN;
                *(long*)(ev + LibC.EpollEventDataOffset) = key;
                if (LibC.EpollCtl(_epoll, LibC.EPOLL_CTL_ADD, pidfd, ev) == 0)
                {
                    return;
                }

                _children.TryRemove(key, out _);
                LibC.Close(pidfd);
            }
        }

        WatchOnThread(child);
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
                if (_children.TryRemove(key, out var watched))
                {
                    // Remove the registration explicitly: closing alone does not, while copies of the
                    // descriptor exist in children being spawned.
                    LibC.EpollCtl(_epoll, LibC.EPOLL_CTL_DEL, watched.PidFd, null);
                    try
                    {
                        watched.Child.OnExited();
                    }
                    finally
                    {
                        LibC.Close(watched.PidFd);
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

    private readonly record struct Watched(ChildProcess Child, int PidFd);
}
