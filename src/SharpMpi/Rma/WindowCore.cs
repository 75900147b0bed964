using System.Buffers;
using System.Runtime.InteropServices;
using SharpMpi.Collectives;
using SharpMpi.Engine;

namespace SharpMpi.Rma;

/// <summary>
/// The engine side of a window, for any element type: the target's memory (or a dynamic window's attached
/// regions), the active-message handler that applies remote operations, the lock manager, the origin's
/// pending operations, and the counters of fence, post and complete notices.
/// </summary>
/// <remarks>
/// Every remote operation on this rank's memory — including this rank's own operations on itself, which
/// travel the loopback route like any other — is applied by <see cref="OnActiveMessage"/> under the
/// engine lock. So accumulates, fetch-and-op and compare-and-swap from all ranks are serialized per
/// target and atomic. Targets serve operations whenever they make progress: inside any MPI call, and on the
/// progress thread, which runs for as long as a window exists (so a passive target needs no MPI calls).
/// Frames from one origin arrive in order, so an acknowledgement of Unlock/Flush, or a fence mark, proves
/// that every earlier operation of that origin has been applied.
/// </remarks>
internal sealed unsafe class WindowCore : IActiveMessageHandler
{
    private readonly object _pendingLock = new();
    private readonly Dictionary<long, Pending> _pending = [];
    private readonly object _regionsLock = new();
    private readonly List<Region> _regions = [];
    private readonly Queue<(int Origin, long Cookie, bool Exclusive)> _lockWaiters = new();
    private readonly Reducer?[] _reducers;
    private readonly long[] _lengths;
    private readonly int[] _fenceMarks;
    private readonly int[] _posts;
    private readonly int[] _postsUsed;
    private readonly int[] _completes;
    private readonly int[] _completesUsed;
    private readonly string?[] _deferredErrors;
    private readonly byte[] _lockHeld; // per target: 0 none, 1 shared, 2 exclusive
    private long _nextCookie;
    private int _pendingCount;
    private int _fenceGeneration;
    private int _sharedHolders;
    private int _exclusiveHolder = -1;
    private long _nextDynamicBase;
    private bool _fenceEpoch;
    private bool _lockAll;
    private int[]? _startGroup;
    private int[]? _postGroup;
    private bool _disposed;
    private byte*[]? _direct;
    private DirectAtomicKind _directAtomics;
    private int* _lockWords; // direct: rank r's line at _lockWords + 16 r: [0] its lock (-1 exclusive, n > 0 shared holders), [8] its accumulate lock
    private int* _barrier; // direct: [0] ranks arrived at the fence, [1] the sense of the last completed fence
    private int _barrierSense; // the sense this rank's next fence completes with, flipped by each fence
    private bool _barrierWakes; // direct: waiters of the fence barrier can be woken (else Fence is Comm.Barrier)
    private bool _servesInBackground; // the progress thread serves this window's messages (see ServeInBackground)

    /// <summary>An operation that completed where it was issued (direct access), for callers that wait on it.</summary>
    private static readonly Pending s_completed = new() { Done = 1 };

    public WindowCore(Communicator comm, int context, int elementSize, Reducer?[] reducers, byte* memory, long bytes, long[] lengths, bool dynamic)
    {
        Comm = comm;
        Engine = comm.Engine;
        Context = context;
        ElementSize = elementSize;
        _reducers = reducers;
        Base = memory;
        LocalBytes = bytes;
        _lengths = lengths;
        IsDynamic = dynamic;
        int n = comm.Size;
        _fenceMarks = new int[n];
        _posts = new int[n];
        _postsUsed = new int[n];
        _completes = new int[n];
        _completesUsed = new int[n];
        _deferredErrors = new string?[n];
        _lockHeld = new byte[n];
    }

    public Communicator Comm { get; }

    public ProgressEngine Engine { get; }

    public int Context { get; }

    public int ElementSize { get; }

    public byte* Base { get; }

    public long LocalBytes { get; }

    public bool IsDynamic { get; }

    public int Rank => Comm.Rank;

    /// <summary>
    /// Switches to direct access for a window whose every part this process maps (a shared window):
    /// <paramref name="bases"/>[r] is rank r's part. Put and Get become copies by the origin, and accumulates
    /// updates in place (<see cref="DirectAtomics"/>, of kind <paramref name="atomics"/>). Epochs, locks and
    /// their checks stay as they are: only the data stops travelling as messages.
    /// </summary>
    /// <remarks>
    /// Nothing is ever in flight, so Flush is a memory barrier and Fence a barrier: one in the shared memory
    /// (<paramref name="barrier"/>, two zeroed words) when <paramref name="barrierWakes"/> (every rank can wake
    /// a peer that sleeps on its doorbell; the same on every rank), else the communicator's. Passive-target
    /// locks and accumulate locks are words in the shared memory too (<paramref name="lockWords"/>, a zeroed
    /// 64-byte line per rank). So no message ever comes for this window but the fence marks of Free and the
    /// notices of post/start, which their receivers wait for, and the window needs no background progress.
    /// </remarks>
    public void EnableDirectAccess(byte*[] bases, DirectAtomicKind atomics, int* lockWords, int* barrier, bool barrierWakes)
    {
        if (atomics == DirectAtomicKind.None)
            throw new ArgumentOutOfRangeException(nameof(atomics), atomics, "A direct window needs in-place accumulates.");
        _direct = bases;
        _directAtomics = atomics;
        _lockWords = lockWords;
        _barrier = barrier;
        _barrierWakes = barrierWakes;
    }

    /// <summary>
    /// Keeps the progress thread running while this window exists, so a passive target serves the operations
    /// that arrive as messages without making MPI calls. Direct windows do not need it, and are better without:
    /// a progress thread that sleeps on the doorbell is woken by every frame to this rank (a system call for the
    /// sender, a thread competing for the core), which made a direct fence cost 10–20 times a barrier.
    /// </summary>
    public void ServeInBackground()
    {
        _servesInBackground = true;
        Engine.AsyncWaiterAdded();
    }

    /// <summary>True when locks are shared-memory words and every operation is direct (see <see cref="EnableDirectAccess"/>).</summary>
    private bool SharedLocks => _lockWords != null;

    private int* LockWord(int rank) => _lockWords + 16 * rank;

    private int* AccumulateLock(int rank) => _lockWords + 16 * rank + 8;

    /// <summary>
    /// Takes rank <paramref name="target"/>'s lock word: exclusive = 0 → -1, shared = n ≥ 0 → n + 1. Waits (with
    /// progress, so this rank still serves others) while it is held the other way. Readers may starve a writer
    /// under constant shared use, as with any reader-preferring lock.
    /// </summary>
    private void AcquireLockWord(int target, bool exclusive)
    {
        if (LockAttempt.TryTake(LockWord(target), exclusive))
            return;
        var attempt = new LockAttempt(LockWord(target), exclusive);
        Engine.WaitUntil(static a => a.TryAcquire(), attempt);
    }

    private void ReleaseLockWord(int target, bool exclusive)
    {
        // Interlocked: a full barrier, so this epoch's stores are visible before the lock is seen free.
        if (exclusive)
            Interlocked.Exchange(ref *LockWord(target), 0);
        else
            Interlocked.Decrement(ref *LockWord(target));
    }

    /// <summary>One attempt state; idempotent once acquired (a wait may evaluate its predicate again).</summary>
    private sealed class LockAttempt(int* word, bool exclusive)
    {
        private bool _acquired;

        public bool TryAcquire()
        {
            if (!_acquired)
                _acquired = TryTake(word, exclusive);
            return _acquired;
        }

        /// <summary>One attempt without waiting (the uncontended path allocates nothing).</summary>
        public static bool TryTake(int* word, bool exclusive)
        {
            if (exclusive)
                return Interlocked.CompareExchange(ref *word, -1, 0) == 0;
            int holders = Volatile.Read(ref *word);
            return holders >= 0 && Interlocked.CompareExchange(ref *word, holders + 1, holders) == holders;
        }
    }

    /// <summary>True when Put and Get are copies by the origin (see <see cref="EnableDirectAccess"/>).</summary>
    public bool IsDirect => _direct is not null;

    /// <summary>Window bytes of <paramref name="rank"/> (not known for dynamic windows: -1).</summary>
    public long BytesOf(int rank) => IsDynamic ? -1 : _lengths[rank];

    // ================================================================== origin: checks

    public void CheckTarget(int target, long byteOffset, long bytes, string operation)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if ((uint)target >= (uint)Comm.Size)
            throw new ArgumentOutOfRangeException(nameof(target), target, $"Rank {target} is not in the window's communicator of size {Comm.Size}.");
        if (!_fenceEpoch && !_lockAll && _lockHeld[target] == 0 && !(_startGroup?.AsSpan().Contains(target) ?? false))
        {
            throw new MpiException(ErrorClass.RmaSync,
                $"{operation} to rank {target} outside an access epoch: call Fence, Lock/LockAll or Start first.");
        }
        if (byteOffset < 0 || bytes < 0 || (!IsDynamic && byteOffset + bytes > _lengths[target]))
        {
            throw new MpiException(ErrorClass.RmaRange,
                $"{operation} of {bytes / ElementSize} elements at offset {byteOffset / ElementSize} is outside rank {target}'s window of {_lengths[target] / ElementSize} elements.");
        }
    }

    public Reducer ReducerFor(Op op, string paramName)
    {
        ArgumentNullException.ThrowIfNull(op, paramName);
        return _reducers[(int)op.Kind] ?? throw new ArgumentException($"Op.{op.Name} is not defined for this window's element type.", paramName);
    }

    // ================================================================== origin: operations

    private void Send(int target, RmaOp op, RmaFlags flags, OpKind kind, ulong address, long aux, long cookie, ReadOnlySpan<byte> payload)
    {
        var h = new FrameHeader
        {
            Context = Context,
            Source = Rank,
            Tag = (int)op | ((int)kind << 8) | ((int)flags << 16),
            Address = address,
            MessageLength = aux,
            Cookie = cookie,
        };
        Engine.SendActiveMessage(Comm.WorldRankOf(target), h, payload);
    }

    private int ChunkFor(int target) => Math.Max(ElementSize, Engine.ActiveMessageLimit(Comm.WorldRankOf(target)) / ElementSize * ElementSize);

    /// <summary>Put (or Accumulate with <paramref name="kind"/>): the source may be reused on return.</summary>
    /// <remarks>
    /// A Put larger than one active message goes by the pull path when the target can read this rank's memory
    /// (shared memory): one copy, straight from <paramref name="data"/> into the window, and this call waits
    /// until the target has read it. Otherwise, and for accumulates, it is sent in chunks of the eager limit.
    /// </remarks>
    public void Put(ReadOnlySpan<byte> data, int target, long byteOffset, RmaOp op = RmaOp.Put, OpKind kind = OpKind.Replace)
    {
        if (_direct is not null)
        {
            byte* at = _direct[target] + byteOffset;
            fixed (byte* source = data)
            {
                if (op == RmaOp.Put)
                    Buffer.MemoryCopy(source, at, data.Length, data.Length);
                else
                    DirectAtomics.Accumulate(_directAtomics, kind, _reducers[(int)kind]!, at, source, null, data.Length / ElementSize, ElementSize, AccumulateLock(target));
            }
            return;
        }
        if (op == RmaOp.Put && CanPutByPull(data.Length, target))
        {
            fixed (byte* source = data)
                Wait(StartPutPull(source, data.Length, target, byteOffset, null, default));
            return;
        }
        SendChunks(op, kind, data, target, byteOffset);
    }

    private void SendChunks(RmaOp op, OpKind kind, ReadOnlySpan<byte> data, int target, long byteOffset)
    {
        int chunk = ChunkFor(target);
        for (int done = 0; done < data.Length; done += chunk)
        {
            int n = Math.Min(chunk, data.Length - done);
            Send(target, op, RmaFlags.None, kind, (ulong)(byteOffset + done), 0, 0, data.Slice(done, n));
        }
    }

    /// <summary>True when a Put of <paramref name="bytes"/> to <paramref name="target"/> should take the pull path.</summary>
    public bool CanPutByPull(long bytes, int target) => _direct is null && bytes > ChunkFor(target) && Engine.CanPullFrom(Comm.WorldRankOf(target));

    /// <summary>
    /// Starts a Put by the pull path: <paramref name="source"/> must stay valid (pinned by the caller, or by
    /// <paramref name="pin"/>) until the returned operation completes, when the data is in the target's window.
    /// </summary>
    public Pending StartPutPull(byte* source, long bytes, int target, long byteOffset, RequestCore? request, MemoryHandle pin)
    {
        var p = NewPending(null, 1, request, pin);
        p.PutSource = source;
        p.PutBytes = bytes;
        p.PutTarget = target;
        p.PutOffset = byteOffset;
        ulong address = (ulong)source;
        Send(target, RmaOp.PutPull, RmaFlags.None, OpKind.NoOp, (ulong)byteOffset, bytes, p.Cookie,
            MemoryMarshal.AsBytes(new ReadOnlySpan<ulong>(in address)));
        return p;
    }

    /// <summary>Starts a Get into <paramref name="destination"/> (pinned by the caller until completion).</summary>
    public Pending StartGet(byte* destination, long bytes, int target, long byteOffset, RequestCore? request = null, MemoryHandle pin = default)
    {
        if (_direct is not null)
        {
            Buffer.MemoryCopy(_direct[target] + byteOffset, destination, bytes, bytes);
            return Completed(request, pin);
        }
        var p = NewPending(destination, bytes, request, pin);
        if (bytes == 0)
        {
            Finish(p, null);
            return p;
        }
        Send(target, RmaOp.Get, RmaFlags.None, OpKind.NoOp, (ulong)byteOffset, bytes, p.Cookie, default);
        return p;
    }

    /// <summary>Starts a GetAccumulate: <paramref name="result"/> receives the old values.</summary>
    public Pending StartGetAccumulate(ReadOnlySpan<byte> data, byte* result, int target, long byteOffset, OpKind kind)
    {
        if (_direct is not null)
        {
            fixed (byte* source = data)
            {
                DirectAtomics.Accumulate(_directAtomics, kind, _reducers[(int)kind]!, _direct[target] + byteOffset, source, result,
                    data.Length / ElementSize, ElementSize, AccumulateLock(target));
            }
            return s_completed;
        }
        var p = NewPending(result, data.Length, null, default);
        if (data.Length == 0)
        {
            Finish(p, null);
            return p;
        }
        int chunk = ChunkFor(target);
        for (int done = 0; done < data.Length; done += chunk)
        {
            int n = Math.Min(chunk, data.Length - done);
            Send(target, RmaOp.GetAccumulate, RmaFlags.None, kind, (ulong)(byteOffset + done), done, p.Cookie, data.Slice(done, n));
        }
        return p;
    }

    /// <summary>Starts a compare-and-swap of one element; <paramref name="result"/> receives the old value.</summary>
    public Pending StartCompareAndSwap(ReadOnlySpan<byte> compareThenDesired, byte* result, int target, long byteOffset)
    {
        if (_direct is not null)
        {
            fixed (byte* both = compareThenDesired)
                DirectAtomics.CompareAndSwap(_directAtomics, _direct[target] + byteOffset, both, both + ElementSize, result, ElementSize, AccumulateLock(target));
            return s_completed;
        }
        var p = NewPending(result, ElementSize, null, default);
        Send(target, RmaOp.CompareAndSwap, RmaFlags.None, OpKind.NoOp, (ulong)byteOffset, 0, p.Cookie, compareThenDesired);
        return p;
    }

    public void Wait(Pending p)
    {
        if (Volatile.Read(ref p.Done) == 0)
            Engine.WaitUntil(static x => Volatile.Read(ref x.Done) != 0, p);
        if (p.Error is not null)
            throw new MpiException(p.ErrorClass, p.Error);
    }

    /// <summary>An operation done in place: completes its request (if any) and releases its pin.</summary>
    private Pending Completed(RequestCore? request, MemoryHandle pin)
    {
        if (request is null)
        {
            pin.Dispose();
            return s_completed;
        }
        var p = NewPending(null, 0, request, pin);
        Finish(p, null);
        return p;
    }

    private Pending NewPending(byte* destination, long bytes, RequestCore? request, MemoryHandle pin)
    {
        var p = new Pending { Destination = destination, Remaining = bytes, Request = request, Pin = pin };
        lock (_pendingLock)
        {
            p.Cookie = ++_nextCookie;
            _pending[p.Cookie] = p;
            _pendingCount++;
        }
        return p;
    }

    private void Finish(Pending p, string? error, ErrorClass errorClass = ErrorClass.RmaRange)
    {
        lock (_pendingLock)
        {
            if (!_pending.Remove(p.Cookie))
                return;
            _pendingCount--;
        }
        p.Error = error;
        p.ErrorClass = errorClass;
        p.Pin.Dispose();
        Volatile.Write(ref p.Done, 1);
        if (p.Request is { } r)
            Engine.CompleteGeneralized(r, new Status(Rank, 0, 0), error is null ? null : new MpiException(errorClass, error));
        Engine.WakeLocalSleepers();
    }

    private bool NoPending => Volatile.Read(ref _pendingCount) == 0;

    // ================================================================== origin: synchronization

    /// <summary>MPI_Win_fence: every operation issued before, by any rank, is complete everywhere after it.</summary>
    public void Fence()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_lockAll || _lockHeld.AsSpan().ContainsAnyExcept((byte)0) || _startGroup is not null || _postGroup is not null)
            throw new MpiException(ErrorClass.RmaSync, "Fence while a lock or a post/start epoch is open on this window.");
        if (!SharedLocks)
        {
            FenceCore();
        }
        else if (_barrierWakes)
        {
            // Nothing is in flight: every operation was a store by its origin, which the barrier publishes.
            SharedBarrier();
        }
        else
        {
            Interlocked.MemoryBarrier();
            Comm.Barrier();
        }
        _fenceEpoch = true;
    }

    /// <summary>
    /// A sense-reversing barrier in the window's shared memory (as Open MPI's osc/sm fence): each rank counts
    /// itself in; the last one resets the count, publishes the new sense and wakes any rank that went to sleep
    /// waiting. No frame is sent, so it costs a few cache-line transfers instead of a message round.
    /// </summary>
    private void SharedBarrier()
    {
        int sense = _barrierSense ^= 1;
        // Interlocked: a full barrier, so this rank's stores to the window are visible to whoever sees it arrive.
        if (Interlocked.Increment(ref _barrier[0]) == Comm.Size)
        {
            Volatile.Write(ref _barrier[0], 0); // before the sense: a rank may arrive at the next fence at once
            Volatile.Write(ref _barrier[1], sense);
            for (int r = 0; r < Comm.Size; r++)
            {
                if (r != Rank)
                    Engine.Wake(Comm.WorldRankOf(r));
            }
        }
        else if (Volatile.Read(ref _barrier[1]) != sense)
        {
            Engine.WaitUntil(static s => Volatile.Read(ref s.Core._barrier[1]) == s.Sense, (Core: this, Sense: sense));
        }
    }

    private void FenceCore()
    {
        int generation = ++_fenceGeneration;
        for (int r = 0; r < Comm.Size; r++)
            Send(r, RmaOp.FenceMark, RmaFlags.None, OpKind.NoOp, 0, 0, 0, default);
        Engine.WaitUntil(static s => s.Core.NoPending && s.Core.AllAtLeast(s.Core._fenceMarks, s.Generation), (Core: this, Generation: generation));
        // Every operation aimed at this rank is applied; the barrier extends that to every rank, so this
        // rank's own operations are complete at their targets too (shared windows read them directly).
        Comm.Barrier();
    }

    private bool AllAtLeast(int[] counters, int value)
    {
        for (int i = 0; i < counters.Length; i++)
        {
            if (Volatile.Read(ref counters[i]) < value)
                return false;
        }
        return true;
    }

    public void Lock(int target, bool exclusive)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if ((uint)target >= (uint)Comm.Size)
            throw new ArgumentOutOfRangeException(nameof(target), target, $"Rank {target} is not in the window's communicator of size {Comm.Size}.");
        if (_lockHeld[target] != 0 || _lockAll)
            throw new MpiException(ErrorClass.RmaSync, $"This rank already holds a lock on rank {target}'s window.");
        if (_fenceEpoch)
            _fenceEpoch = false; // a lock epoch may follow a fence that closed the fence epoch
        if (SharedLocks)
        {
            AcquireLockWord(target, exclusive);
            _lockHeld[target] = exclusive ? (byte)2 : (byte)1;
            return;
        }
        var p = NewPending(null, 1, null, default);
        Send(target, RmaOp.Lock, exclusive ? RmaFlags.Exclusive : RmaFlags.None, OpKind.NoOp, 0, 0, p.Cookie, default);
        Wait(p);
        _lockHeld[target] = exclusive ? (byte)2 : (byte)1;
    }

    public void Unlock(int target)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if ((uint)target >= (uint)Comm.Size || _lockHeld[target] == 0)
            throw new MpiException(ErrorClass.RmaSync, $"Unlock of rank {target} without a matching Lock.");
        bool exclusive = _lockHeld[target] == 2;
        _lockHeld[target] = 0;
        if (SharedLocks)
            ReleaseLockWord(target, exclusive); // direct operations were done by this rank's own stores
        else
            SyncWith(target, RmaOp.Unlock, exclusive);
    }

    public void LockAll()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_lockAll || _lockHeld.AsSpan().ContainsAnyExcept((byte)0))
            throw new MpiException(ErrorClass.RmaSync, "LockAll while this rank already holds a lock on the window.");
        _fenceEpoch = false;
        if (SharedLocks)
        {
            for (int r = 0; r < Comm.Size; r++)
                AcquireLockWord(r, exclusive: false);
            _lockAll = true;
            return;
        }
        var all = new Pending[Comm.Size];
        for (int r = 0; r < all.Length; r++)
        {
            all[r] = NewPending(null, 1, null, default);
            Send(r, RmaOp.Lock, RmaFlags.None, OpKind.NoOp, 0, 0, all[r].Cookie, default);
        }
        foreach (var p in all)
            Wait(p);
        _lockAll = true;
    }

    public void UnlockAll()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_lockAll)
            throw new MpiException(ErrorClass.RmaSync, "UnlockAll without LockAll.");
        _lockAll = false;
        if (SharedLocks)
        {
            for (int r = 0; r < Comm.Size; r++)
                ReleaseLockWord(r, exclusive: false);
            return;
        }
        SyncWithAll(RmaOp.Unlock, exclusive: false);
    }

    /// <summary>MPI_Win_flush: operations to <paramref name="target"/> issued so far are complete there.</summary>
    public void Flush(int target)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if ((uint)target >= (uint)Comm.Size)
            throw new ArgumentOutOfRangeException(nameof(target), target, $"Rank {target} is not in the window's communicator of size {Comm.Size}.");
        if (SharedLocks)
            Interlocked.MemoryBarrier(); // direct operations were already done by this rank's own stores
        else
            SyncWith(target, RmaOp.Flush, false);
    }

    public void FlushAll()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (SharedLocks)
            Interlocked.MemoryBarrier();
        else
            SyncWithAll(RmaOp.Flush, false);
    }

    private void SyncWith(int target, RmaOp op, bool exclusive)
    {
        var p = NewPending(null, 1, null, default);
        Send(target, op, exclusive ? RmaFlags.Exclusive : RmaFlags.None, OpKind.NoOp, 0, 0, p.Cookie, default);
        Wait(p);
    }

    private void SyncWithAll(RmaOp op, bool exclusive)
    {
        var all = new Pending[Comm.Size];
        for (int r = 0; r < all.Length; r++)
        {
            all[r] = NewPending(null, 1, null, default);
            Send(r, op, exclusive ? RmaFlags.Exclusive : RmaFlags.None, OpKind.NoOp, 0, 0, all[r].Cookie, default);
        }
        MpiException? first = null;
        foreach (var p in all)
        {
            try
            {
                Wait(p);
            }
            catch (MpiException e)
            {
                first ??= e;
            }
        }
        if (first is not null)
            throw first;
    }

    public void Post(int[] group)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_postGroup is not null)
            throw new MpiException(ErrorClass.RmaSync, "Post while an exposure epoch is already open (call WaitForCompletion first).");
        _fenceEpoch = false;
        _postGroup = group;
        foreach (int r in group)
            Send(r, RmaOp.PostNotice, RmaFlags.None, OpKind.NoOp, 0, 0, 0, default);
    }

    public void Start(int[] group)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_startGroup is not null)
            throw new MpiException(ErrorClass.RmaSync, "Start while an access epoch is already open (call Complete first).");
        _fenceEpoch = false;
        Engine.WaitUntil(static s => AllAhead(s.Core._posts, s.Core._postsUsed, s.Group), (Core: this, Group: group));
        foreach (int r in group)
            _postsUsed[r]++;
        _startGroup = group;
    }

    public void Complete()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var group = _startGroup ?? throw new MpiException(ErrorClass.RmaSync, "Complete without Start.");
        Engine.WaitUntil(static c => c.NoPending, this);
        foreach (int r in group)
            Send(r, RmaOp.CompleteNotice, RmaFlags.None, OpKind.NoOp, 0, 0, 0, default);
        _startGroup = null;
    }

    public void WaitForCompletion()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var group = _postGroup ?? throw new MpiException(ErrorClass.RmaSync, "WaitForCompletion without Post.");
        Engine.WaitUntil(static s => AllAhead(s.Core._completes, s.Core._completesUsed, s.Group), (Core: this, Group: group));
        foreach (int r in group)
            _completesUsed[r]++;
        _postGroup = null;
    }

    public bool TestForCompletion()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var group = _postGroup ?? throw new MpiException(ErrorClass.RmaSync, "TestForCompletion without Post.");
        Engine.TryProgress();
        if (!AllAhead(_completes, _completesUsed, group))
            return false;
        foreach (int r in group)
            _completesUsed[r]++;
        _postGroup = null;
        return true;
    }

    private static bool AllAhead(int[] counters, int[] used, int[] group)
    {
        foreach (int r in group)
        {
            if (Volatile.Read(ref counters[r]) <= used[r])
                return false;
        }
        return true;
    }

    // ================================================================== dynamic windows

    public long Attach(byte* memory, long bytes, MemoryHandle pin)
    {
        lock (_regionsLock)
        {
            long b = _nextDynamicBase;
            _nextDynamicBase += Math.Max(bytes, ElementSize);
            _regions.Add(new Region(b, bytes, memory, pin));
            return b;
        }
    }

    public bool Detach(long byteBase)
    {
        lock (_regionsLock)
        {
            int i = _regions.FindIndex(r => r.Base == byteBase);
            if (i < 0)
                return false;
            _regions[i].Pin.Dispose();
            _regions.RemoveAt(i);
            return true;
        }
    }

    private bool Resolve(ulong address, long bytes, out byte* p)
    {
        long offset = (long)address;
        if (!IsDynamic)
        {
            p = Base + offset;
            return offset >= 0 && bytes >= 0 && offset + bytes <= LocalBytes;
        }
        lock (_regionsLock)
        {
            foreach (var r in _regions)
            {
                if (offset >= r.Base && offset + bytes <= r.Base + r.Length)
                {
                    p = r.Memory + (offset - r.Base);
                    return true;
                }
            }
        }
        p = null;
        return false;
    }

    // ================================================================== target: the handler

    public void OnActiveMessage(int peerWorld, in FrameHeader h, ReadOnlySpan<byte> payload)
    {
        var op = (RmaOp)(h.Tag & 0xFF);
        var kind = (OpKind)((h.Tag >> 8) & 0xFF);
        var flags = (RmaFlags)((h.Tag >> 16) & 0xFF);
        int origin = h.Source;
        switch (op)
        {
            case RmaOp.Put:
                if (Resolve(h.Address, payload.Length, out byte* dst))
                    payload.CopyTo(new Span<byte>(dst, payload.Length));
                else
                    Defer(origin, "Put", h.Address, payload.Length);
                break;
            case RmaOp.Accumulate:
                if (Resolve(h.Address, payload.Length, out byte* acc))
                {
                    fixed (byte* src = payload)
                        _reducers[(int)kind]!.Apply((nint)acc, (nint)src, (nint)acc, payload.Length / ElementSize);
                }
                else
                {
                    Defer(origin, "Accumulate", h.Address, payload.Length);
                }
                break;
            case RmaOp.Get:
                OnGet(origin, h);
                break;
            case RmaOp.GetAccumulate:
                OnGetAccumulate(origin, h, kind, payload);
                break;
            case RmaOp.CompareAndSwap:
                OnCompareAndSwap(origin, h, payload);
                break;
            case RmaOp.Reply:
                OnReply(h, payload);
                break;
            case RmaOp.ErrorReply:
                if (Find(h.Cookie) is { } failed)
                    Finish(failed, $"The operation touched memory outside rank {origin}'s window (offset {(long)h.Address / ElementSize}).");
                break;
            case RmaOp.Lock:
                OnLock(origin, h.Cookie, (flags & RmaFlags.Exclusive) != 0);
                break;
            case RmaOp.LockGranted:
                if (Find(h.Cookie) is { } granted)
                    Finish(granted, null);
                break;
            case RmaOp.Unlock:
                OnUnlock(origin, (flags & RmaFlags.Exclusive) != 0);
                Ack(origin, h.Cookie);
                break;
            case RmaOp.Flush:
                Ack(origin, h.Cookie);
                break;
            case RmaOp.SyncAck:
                if ((flags & RmaFlags.Refused) != 0 && Find(h.Cookie) is { PutSource: not null } refused)
                {
                    // The target cannot read this rank's memory: send the data after all (still pinned).
                    SendChunks(RmaOp.Put, OpKind.Replace, new ReadOnlySpan<byte>(refused.PutSource, (int)refused.PutBytes),
                        refused.PutTarget, refused.PutOffset);
                    Finish(refused, null);
                }
                else if (Find(h.Cookie) is { } acked)
                {
                    Finish(acked, (flags & RmaFlags.Error) != 0
                        ? $"An earlier Put or Accumulate to rank {origin} touched memory that is not in its window (see the target's attached regions)."
                        : null);
                }
                break;
            case RmaOp.FenceMark:
                Interlocked.Increment(ref _fenceMarks[origin]);
                break;
            case RmaOp.PostNotice:
                Interlocked.Increment(ref _posts[origin]);
                break;
            case RmaOp.CompleteNotice:
                Interlocked.Increment(ref _completes[origin]);
                break;
            case RmaOp.PutPull:
                OnPutPull(origin, peerWorld, h, payload);
                break;
            default:
                break;
        }
    }

    private void Defer(int origin, string what, ulong address, int bytes) =>
        _deferredErrors[origin] ??= $"{what} of {bytes} bytes at byte offset {(long)address}";

    private void Ack(int origin, long cookie)
    {
        var flags = RmaFlags.None;
        if (_deferredErrors[origin] is not null)
        {
            flags = RmaFlags.Error;
            _deferredErrors[origin] = null;
        }
        Send(origin, RmaOp.SyncAck, flags, OpKind.NoOp, 0, 0, cookie, default);
    }

    private void OnGet(int origin, in FrameHeader h)
    {
        long bytes = h.MessageLength;
        if (!Resolve(h.Address, bytes, out byte* src))
        {
            Send(origin, RmaOp.ErrorReply, RmaFlags.None, OpKind.NoOp, h.Address, 0, h.Cookie, default);
            return;
        }
        int chunk = ChunkFor(origin);
        for (long done = 0; done < bytes; done += chunk)
        {
            int n = (int)Math.Min(chunk, bytes - done);
            Send(origin, RmaOp.Reply, RmaFlags.None, OpKind.NoOp, (ulong)done, 0, h.Cookie, new ReadOnlySpan<byte>(src + done, n));
        }
    }

    private void OnPutPull(int origin, int peerWorld, in FrameHeader h, ReadOnlySpan<byte> payload)
    {
        long bytes = h.MessageLength;
        if (!Resolve(h.Address, bytes, out byte* destination))
        {
            Send(origin, RmaOp.ErrorReply, RmaFlags.None, OpKind.NoOp, h.Address, 0, h.Cookie, default);
            return;
        }
        var flags = RmaFlags.None;
        if (Engine.CanPullFrom(peerWorld))
        {
            try
            {
                Engine.PullFrom(peerWorld, MemoryMarshal.Read<ulong>(payload), destination, bytes);
            }
            catch (IOException)
            {
                flags = RmaFlags.Refused; // e.g. ptrace rules changed: the origin sends the data instead
            }
        }
        else
        {
            flags = RmaFlags.Refused;
        }
        Send(origin, RmaOp.SyncAck, flags, OpKind.NoOp, 0, 0, h.Cookie, default);
    }

    private void OnGetAccumulate(int origin, in FrameHeader h, OpKind kind, ReadOnlySpan<byte> payload)
    {
        if (!Resolve(h.Address, payload.Length, out byte* target))
        {
            Send(origin, RmaOp.ErrorReply, RmaFlags.None, OpKind.NoOp, h.Address, 0, h.Cookie, default);
            return;
        }
        var old = ArrayPool<byte>.Shared.Rent(Math.Max(1, payload.Length));
        try
        {
            new ReadOnlySpan<byte>(target, payload.Length).CopyTo(old);
            fixed (byte* src = payload)
                _reducers[(int)kind]!.Apply((nint)target, (nint)src, (nint)target, payload.Length / ElementSize);
            Send(origin, RmaOp.Reply, RmaFlags.None, OpKind.NoOp, (ulong)h.MessageLength, 0, h.Cookie, old.AsSpan(0, payload.Length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(old);
        }
    }

    private void OnCompareAndSwap(int origin, in FrameHeader h, ReadOnlySpan<byte> payload)
    {
        int size = ElementSize;
        if (!Resolve(h.Address, size, out byte* target))
        {
            Send(origin, RmaOp.ErrorReply, RmaFlags.None, OpKind.NoOp, h.Address, 0, h.Cookie, default);
            return;
        }
        Span<byte> old = stackalloc byte[size];
        var current = new Span<byte>(target, size);
        current.CopyTo(old);
        if (current.SequenceEqual(payload[..size]))
            payload.Slice(size, size).CopyTo(current);
        Send(origin, RmaOp.Reply, RmaFlags.None, OpKind.NoOp, 0, 0, h.Cookie, old);
    }

    private void OnReply(in FrameHeader h, ReadOnlySpan<byte> payload)
    {
        var p = Find(h.Cookie);
        if (p is null)
            return;
        payload.CopyTo(new Span<byte>(p.Destination + (long)h.Address, payload.Length));
        if ((p.Remaining -= payload.Length) <= 0)
            Finish(p, null);
    }

    private Pending? Find(long cookie)
    {
        lock (_pendingLock)
            return _pending.GetValueOrDefault(cookie);
    }

    private void OnLock(int origin, long cookie, bool exclusive)
    {
        if (_lockWaiters.Count == 0 && CanGrant(exclusive))
            Grant(origin, cookie, exclusive);
        else
            _lockWaiters.Enqueue((origin, cookie, exclusive));
    }

    private bool CanGrant(bool exclusive) => _exclusiveHolder < 0 && (!exclusive || _sharedHolders == 0);

    private void Grant(int origin, long cookie, bool exclusive)
    {
        if (exclusive)
            _exclusiveHolder = origin;
        else
            _sharedHolders++;
        Send(origin, RmaOp.LockGranted, RmaFlags.None, OpKind.NoOp, 0, 0, cookie, default);
    }

    private void OnUnlock(int origin, bool exclusive)
    {
        if (exclusive)
        {
            if (_exclusiveHolder == origin)
                _exclusiveHolder = -1;
        }
        else if (_sharedHolders > 0)
        {
            _sharedHolders--;
        }
        while (_lockWaiters.Count > 0 && CanGrant(_lockWaiters.Peek().Exclusive))
        {
            var (o, c, e) = _lockWaiters.Dequeue();
            Grant(o, c, e);
        }
    }

    // ================================================================== life cycle

    /// <summary>Collective: completes everything in flight, then stops serving this window.</summary>
    public void Free()
    {
        if (_disposed)
            return;
        FenceCore();
        _disposed = true;
        Engine.UnregisterActiveMessages(Context);
        lock (_regionsLock)
        {
            foreach (var r in _regions)
                r.Pin.Dispose();
            _regions.Clear();
        }
        if (_servesInBackground)
            Engine.AsyncWaiterDone();
    }

    public bool IsDisposed => _disposed;

    private readonly struct Region(long @base, long length, byte* memory, MemoryHandle pin)
    {
        public long Base { get; } = @base;

        public long Length { get; } = length;

        public byte* Memory { get; } = memory;

        public MemoryHandle Pin { get; } = pin;
    }

    /// <summary>An operation whose completion the origin waits for (a Get's data, a lock grant, an acknowledgement).</summary>
    internal sealed class Pending
    {
        public long Cookie;
        public byte* Destination;
        public long Remaining;
        public int Done;
        public string? Error;
        public ErrorClass ErrorClass;
        public RequestCore? Request;
        public MemoryHandle Pin;

        /// <summary>A Put by the pull path: its source, kept to send it in chunks if the target refuses to pull.</summary>
        public byte* PutSource;
        public long PutBytes;
        public int PutTarget;
        public long PutOffset;
    }
}
