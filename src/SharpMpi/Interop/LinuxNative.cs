using System.Runtime.InteropServices;

namespace SharpMpi.Interop;

/// <summary>The few Linux system calls SharpMPI needs: futex, process_vm_readv/writev, prctl, kill, getrandom.</summary>
internal static unsafe partial class LinuxNative
{
    private const int FutexWait = 0;
    private const int FutexWake = 1;
    // Not FUTEX_PRIVATE_FLAG: the words live in MAP_SHARED segments used by several processes.

    /// <summary>iovec for process_vm_readv.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    private static readonly long s_sysFutex = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 202,
        Architecture.Arm64 => 98,
        _ => -1,
    };

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, int* address, int op, int value, TimeSpec* timeout, nint address2, int value3);

    private static readonly long s_sysMembarrier = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 324,
        Architecture.Arm64 => 283,
        _ => -1,
    };

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall3(long number, long a, long b, long c);

    /// <summary>
    /// Registers this process for membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED); true when the kernel supports
    /// it. Then <see cref="ProcessWideBarrier"/> on one side replaces a full fence on every operation of
    /// the other side (an asymmetric Dekker handshake, as liburcu does).
    /// </summary>
    public static bool TryRegisterGlobalBarrier()
    {
        const long RegisterGlobalExpedited = 4;
        if (!IsSupported || s_sysMembarrier < 0)
            return false;
        return syscall3(s_sysMembarrier, RegisterGlobalExpedited, 0, 0) == 0;
    }

    /// <summary>A memory barrier on every running thread of every registered process.</summary>
    public static void ProcessWideBarrier()
    {
        const long GlobalExpedited = 2;
        syscall3(s_sysMembarrier, GlobalExpedited, 0, 0);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint process_vm_readv(int pid, IoVec* localIov, nuint localCount, IoVec* remoteIov, nuint remoteCount, nuint flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint process_vm_writev(int pid, IoVec* localIov, nuint localCount, IoVec* remoteIov, nuint remoteCount, nuint flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "getpid")]
    public static partial int GetPid();

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint getrandom(byte* buffer, nuint length, uint flags);

    /// <summary>
    /// Fills <paramref name="buffer"/> from the kernel's cryptographically secure generator (getrandom(2), which
    /// blocks only until the generator is seeded at boot); false where the call is not available.
    /// </summary>
    public static bool TryGetRandom(Span<byte> buffer)
    {
        const int EINTR = 4;
        if (!OperatingSystem.IsLinux())
            return false;
        try
        {
            fixed (byte* start = buffer)
            {
                int done = 0;
                while (done < buffer.Length)
                {
                    nint n = getrandom(start + done, (nuint)(buffer.Length - done), 0);
                    if (n > 0)
                        done += (int)n;
                    else if (n < 0 && Marshal.GetLastPInvokeError() != EINTR)
                        return false;
                }
            }
            return true;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    }

    /// <summary>True where futex and process_vm_readv can be called (Linux on x64/arm64).</summary>
    public static bool IsSupported => OperatingSystem.IsLinux() && s_sysFutex > 0;

    /// <summary>Sleeps while <c>*address == expected</c>, at most <paramref name="timeoutMicroseconds"/>.</summary>
    public static void FutexWaitFor(int* address, int expected, long timeoutMicroseconds)
    {
        var ts = new TimeSpec { Seconds = timeoutMicroseconds / 1_000_000, Nanoseconds = timeoutMicroseconds % 1_000_000 * 1000 };
        syscall(s_sysFutex, address, FutexWait, expected, &ts, 0, 0);
    }

    /// <summary>Wakes up to <paramref name="count"/> sleepers on <paramref name="address"/>.</summary>
    public static void FutexWakeAll(int* address, int count = int.MaxValue) =>
        syscall(s_sysFutex, address, FutexWake, count, null, 0, 0);

    /// <summary>
    /// Reads <paramref name="length"/> bytes at <paramref name="remoteAddress"/> of process <paramref name="pid"/>
    /// into <paramref name="local"/>. Returns bytes read, or -1 with <see cref="Marshal.GetLastPInvokeError"/> set.
    /// </summary>
    public static long ReadProcessMemory(int pid, ulong remoteAddress, byte* local, long length)
    {
        var l = new IoVec { Base = local, Length = (nuint)length };
        var r = new IoVec { Base = (void*)remoteAddress, Length = (nuint)length };
        return process_vm_readv(pid, &l, 1, &r, 1, 0);
    }

    /// <summary>
    /// Writes <paramref name="length"/> bytes from <paramref name="local"/> to <paramref name="remoteAddress"/> of
    /// process <paramref name="pid"/>. Returns bytes written, or -1 with <see cref="Marshal.GetLastPInvokeError"/> set.
    /// The kernel allows it exactly where it allows process_vm_readv of that process.
    /// </summary>
    public static long WriteProcessMemory(int pid, ulong remoteAddress, byte* local, long length)
    {
        var l = new IoVec { Base = local, Length = (nuint)length };
        var r = new IoVec { Base = (void*)remoteAddress, Length = (nuint)length };
        return process_vm_writev(pid, &l, 1, &r, 1, 0);
    }

    /// <summary>Lets any process of this user read our memory under Yama ptrace_scope 1 (what Open MPI does too).</summary>
    public static void AllowPtraceFromAnyProcess()
    {
        const int PrSetPtracer = 0x59616d61;
        if (OperatingSystem.IsLinux())
            prctl(PrSetPtracer, unchecked((nuint)(-1L)), 0, 0, 0);
    }
}
