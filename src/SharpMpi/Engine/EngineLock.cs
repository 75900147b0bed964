using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace SharpMpi.Engine;

/// <summary>
/// The progress engine's lock: a test-and-set lock that is released with a plain store.
/// </summary>
/// <remarks>
/// Why not <see cref="Lock"/>: its release is an interlocked instruction, and an interlocked instruction
/// waits until every earlier store of this core is visible to the others. Right after a send that earlier
/// store is the frame just written into the shared-memory ring, whose cache line the peer is polling, so the
/// release stalled for a whole cache-line transfer; in an exchange (sendrecv, barrier, small allreduce) both
/// ranks paid it before they even looked for the peer's message, which made the exchange take two line
/// transfers instead of one. A plain store is a release on x86 and, through <see cref="Volatile.Write(ref int, int)"/>,
/// on Arm. The lock is also cheaper to take (no owner thread id to look up). It is not re-entrant: the engine
/// never takes it twice (Debug builds check that and throw rather than deadlock).
/// </remarks>
internal sealed class EngineLock
{
    private int _held;
#if DEBUG
    private int _owner;
#endif

    /// <summary>Takes the lock, spinning (and then yielding) while another thread holds it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Enter()
    {
        if (Interlocked.CompareExchange(ref _held, 1, 0) != 0)
            EnterContended();
        TakeOwnership();
    }

    /// <summary>Takes the lock if it is free; never waits (and never writes when it is held).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnter()
    {
        if (Volatile.Read(ref _held) != 0 || Interlocked.CompareExchange(ref _held, 1, 0) != 0)
            return false;
        TakeOwnership();
        return true;
    }

    /// <summary>Releases the lock (a plain store with release semantics).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit()
    {
#if DEBUG
        Debug.Assert(_owner == Environment.CurrentManagedThreadId, "the engine lock is released by a thread that does not hold it");
        _owner = 0;
#endif
        Volatile.Write(ref _held, 0);
    }

    /// <summary>Takes the lock for a <c>using</c> block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Scope EnterScope()
    {
        Enter();
        return new Scope(this);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EnterContended()
    {
#if DEBUG
        if (Volatile.Read(ref _owner) == Environment.CurrentManagedThreadId)
            throw new InvalidOperationException("The engine lock was taken again by the thread that holds it (it is not re-entrant).");
#endif
        // SpinWait spins a little, then yields and eventually sleeps: the holder may be a preempted thread.
        var spinner = new SpinWait();
        do
            spinner.SpinOnce();
        while (Volatile.Read(ref _held) != 0 || Interlocked.CompareExchange(ref _held, 1, 0) != 0);
    }

    [Conditional("DEBUG")]
    private void TakeOwnership()
    {
#if DEBUG
        _owner = Environment.CurrentManagedThreadId;
#endif
    }

    /// <summary>Holds the lock until disposed.</summary>
    public readonly ref struct Scope
    {
        private readonly EngineLock _lock;

        internal Scope(EngineLock engineLock) => _lock = engineLock;

        /// <summary>Releases the lock.</summary>
        public void Dispose() => _lock.Exit();
    }
}
