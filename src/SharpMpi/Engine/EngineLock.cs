using System.Runtime.CompilerServices;

namespace SharpMpi.Engine;

/// <summary>
/// The progress engine's lock: a re-entrant test-and-set lock that is released with a plain store.
/// </summary>
/// <remarks>
/// Why not <see cref="Lock"/>: its release is an interlocked instruction, and an interlocked instruction
/// waits until every earlier store of this core is visible to the others. Right after a send that earlier
/// store is the frame just written into the shared-memory ring, whose cache line the peer is polling, so the
/// release stalled for a whole cache-line transfer; in an exchange (sendrecv, barrier, small allreduce) both
/// ranks paid it before they even looked for the peer's message. A plain store is a release on x86 and,
/// through <see cref="Volatile.Write(ref int, int)"/>, on Arm. Re-entrant like <see cref="Lock"/>: handlers
/// that run under the lock (one-sided active messages) send through the engine again.
/// </remarks>
internal sealed class EngineLock
{
    private int _held;
    // Written only by the holder (set after taking, cleared before releasing), so a thread that reads its own
    // id here holds the lock.
    private int _owner;
    private int _recursion;

    /// <summary>Takes the lock, spinning (and then yielding) while another thread holds it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Enter()
    {
        int me = Environment.CurrentManagedThreadId;
        if (Interlocked.CompareExchange(ref _held, 1, 0) == 0)
            _owner = me;
        else
            EnterContended(me);
    }

    /// <summary>Takes the lock if it is free or already ours; never waits (and never writes when another thread holds it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnter()
    {
        int me = Environment.CurrentManagedThreadId;
        if (Volatile.Read(ref _held) == 0 && Interlocked.CompareExchange(ref _held, 1, 0) == 0)
        {
            _owner = me;
            return true;
        }
        if (_owner != me)
            return false;
        _recursion++;
        return true;
    }

    /// <summary>Releases the lock (the outermost release is a plain store with release semantics).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit()
    {
        if (_recursion > 0)
        {
            _recursion--;
            return;
        }
        _owner = 0;
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
    private void EnterContended(int me)
    {
        if (_owner == me)
        {
            _recursion++;
            return;
        }
        // SpinWait spins a little, then yields and eventually sleeps: the holder may be a preempted thread.
        var spinner = new SpinWait();
        do
            spinner.SpinOnce();
        while (Volatile.Read(ref _held) != 0 || Interlocked.CompareExchange(ref _held, 1, 0) != 0);
        _owner = me;
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
