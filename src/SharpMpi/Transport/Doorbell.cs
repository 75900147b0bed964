using System.Runtime.CompilerServices;
using SharpMpi.Interop;

namespace SharpMpi.Transport;

/// <summary>
/// A futex word plus a "sleeping" flag on which a rank's progress engine sleeps when it has nothing to
/// do. A sender rings it only when the flag says the owner sleeps, so the fast path costs no system
/// call. The words may live in a shared-memory segment (so other processes can ring) or in private
/// native memory (in-process and TCP ranks). The sleep/wake handshake is Dekker-style: the sleeper
/// publishes "sleeping", fences, re-checks for input; the sender publishes input, fences, checks
/// "sleeping". One of them always sees the other.
/// </summary>
internal sealed unsafe class Doorbell : IDisposable
{
    /// <summary>
    /// With membarrier available, the sleeper issues a process-wide barrier before it re-checks for input,
    /// so a sender needs no fence of its own between publishing input and reading "sleeping" (the fence
    /// would otherwise cost every send about 20–40 ns). Decided once per process; every rank of a job runs
    /// the same code on the same kernel, so all take the same branch.
    /// </summary>
    private static readonly bool s_asymmetric = LinuxNative.TryRegisterGlobalBarrier();
    private readonly int* _sequence;
    private readonly int* _sleeping;
    private readonly void* _owned;

    /// <summary>Uses two words (each 4 bytes) at the given addresses, e.g. inside a shared segment.</summary>
    public Doorbell(int* sequence, int* sleeping)
    {
        _sequence = sequence;
        _sleeping = sleeping;
    }

    /// <summary>A private doorbell in native memory.</summary>
    public Doorbell()
    {
        _owned = System.Runtime.InteropServices.NativeMemory.AlignedAlloc(128, 64);
        System.Runtime.InteropServices.NativeMemory.Clear(_owned, 128);
        _sequence = (int*)_owned;
        _sleeping = (int*)((byte*)_owned + 64);
    }

    /// <summary>Wakes the owner if it sleeps. Call after the input is published.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Ring() => Ring(_sequence, _sleeping);

    /// <summary>Rings a doorbell given by its two words (a peer's, in its segment).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Ring(int* sequence, int* sleeping)
    {
        if (!s_asymmetric)
            Interlocked.MemoryBarrier();
        if (Volatile.Read(ref *sleeping) != 0)
            RingSlow(sequence);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RingSlow(int* sequence)
    {
        Interlocked.Increment(ref *sequence);
        if (LinuxNative.IsSupported)
            LinuxNative.FutexWakeAll(sequence);
    }

    /// <summary>
    /// Sleeps until rung or <paramref name="timeoutMicroseconds"/> passes, unless <paramref name="hasInput"/>
    /// reports input after "sleeping" is published.
    /// </summary>
    public void Sleep<TState>(Func<TState, bool> hasInput, TState state, long timeoutMicroseconds)
    {
        int seq = Volatile.Read(ref *_sequence);
        Interlocked.Increment(ref *_sleeping);
        if (s_asymmetric)
            LinuxNative.ProcessWideBarrier();
        else
            Interlocked.MemoryBarrier();
        try
        {
            if (hasInput(state))
                return;
            if (LinuxNative.IsSupported)
                LinuxNative.FutexWaitFor(_sequence, seq, timeoutMicroseconds);
            else
                Thread.Sleep((int)Math.Max(1, timeoutMicroseconds / 1000));
        }
        finally
        {
            Interlocked.Decrement(ref *_sleeping);
        }
    }

    public void Dispose()
    {
        if (_owned != null)
            System.Runtime.InteropServices.NativeMemory.AlignedFree(_owned);
    }
}
