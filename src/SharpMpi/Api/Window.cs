using System.Runtime.InteropServices;
using SharpMpi.Rma;

namespace SharpMpi;

/// <summary>Kind of a passive-target lock (MPI_LOCK_EXCLUSIVE / MPI_LOCK_SHARED).</summary>
public enum LockType
{
    /// <summary>No other rank holds any lock on the target at the same time.</summary>
    Exclusive,
    /// <summary>Other shared locks may be held at the same time.</summary>
    Shared,
}

/// <summary>A passive-target epoch as a <c>using</c> scope: disposing it unlocks (MPI_Win_unlock / MPI_Win_unlock_all).</summary>
public readonly struct WindowLock : IDisposable
{
    private readonly WindowCore? _core;
    private readonly int _target;

    internal WindowLock(WindowCore core, int target)
    {
        _core = core;
        _target = target;
    }

    /// <summary>The locked rank, or -1 for <see cref="Window{T}.LockAll"/>.</summary>
    public int Target => _target;

    /// <summary>Ends the epoch: every operation of the epoch is complete at the target when this returns.</summary>
    public void Dispose()
    {
        if (_core is null)
            return;
        long start = _core.Engine.Recorder is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
        if (_target < 0)
            _core.UnlockAll();
        else
            _core.Unlock(_target);
        _core.Engine.Recorder?.RecordCall(_target < 0 ? "UnlockAll" : "Unlock", _core.Comm, start, _target < 0 ? -2 : _target);
    }
}

/// <summary>
/// A window of <typeparamref name="T"/> elements that every rank of a communicator exposes for one-sided
/// communication (MPI_Win): <c>Put</c>, <c>Get</c>, <c>Accumulate</c> and the atomics address another rank's
/// window by (target rank, element offset). Operations happen inside epochs: between two <see cref="Fence"/>
/// calls, inside a <see cref="Lock"/> scope, or between <see cref="Start"/> and <see cref="Complete"/>.
/// Outside an epoch they throw <see cref="MpiException"/> with <see cref="ErrorClass.RmaSync"/>; an offset
/// outside the target's window throws with <see cref="ErrorClass.RmaRange"/>.
/// </summary>
/// <remarks>
/// Operations travel as active messages and are applied by the target's progress engine, which serves them
/// inside any MPI call of the target and on its progress thread (running while a window exists), so a target
/// that computes still serves lock and get requests. Accumulate, GetAccumulate, FetchAndOp and
/// CompareAndSwap are atomic per element with respect to each other across all ranks (one lock per target).
/// Put and Accumulate copy the source before returning (the buffer may be reused at once); completion at the
/// target is guaranteed by the next Fence, Unlock, Flush or Complete. Disposing is collective.
/// </remarks>
public unsafe class Window<T> : IDisposable where T : unmanaged
{
    private readonly nint _ownedMemory;

    internal Window(WindowCore core, long length, nint ownedMemory)
    {
        Core = core;
        Length = length;
        _ownedMemory = ownedMemory;
    }

    internal WindowCore Core { get; }

    /// <summary>The communicator whose ranks share this window.</summary>
    public Communicator Communicator => Core.Comm;

    /// <summary>Number of elements of this rank's part (0 for a dynamic window).</summary>
    public long Length { get; }

    /// <summary>True for a window created by <see cref="Communicator.CreateDynamicWindow{T}"/>.</summary>
    public bool IsDynamic => Core.IsDynamic;

    /// <summary>
    /// This rank's part of the window, for direct loads and stores. Other ranks' operations may change it
    /// at any time during an exposure epoch: read it after a Fence, or inside a Lock on this rank.
    /// </summary>
    public Span<T> Local
    {
        get
        {
            ObjectDisposedException.ThrowIf(Core.IsDisposed, this);
            return new Span<T>(Core.Base, checked((int)Length));
        }
    }

    /// <summary>Number of elements in rank <paramref name="rank"/>'s part.</summary>
    public long LengthOf(int rank) => Core.BytesOf(rank) / sizeof(T);

    private static long Bytes(long elements) => checked(elements * sizeof(T));

    // ------------------------------------------------------------------ tracing

    /// <summary>Start of a call for --trace/--profile: Stopwatch ticks when recording, else 0 (one branch).</summary>
    private long TraceStart() => Core.Engine.Recorder is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>Records an RMA call that started at <paramref name="start"/> (peer = target rank, -2 for none).</summary>
    private void Traced(long start, string name, int target = -2, long bytes = 0) =>
        Core.Engine.Recorder?.RecordCall(name, Core.Comm, start, target, -1, bytes);

    // ------------------------------------------------------------------ data movement

    /// <summary>Writes <paramref name="source"/> into <paramref name="target"/>'s window at element <paramref name="targetOffset"/> (MPI_Put).</summary>
    public void Put(ReadOnlySpan<T> source, int target, long targetOffset)
    {
        Core.CheckTarget(target, Bytes(targetOffset), Bytes(source.Length), "Put");
        long start = TraceStart();
        Core.Put(MemoryMarshal.AsBytes(source), target, Bytes(targetOffset));
        Traced(start, "Put", target, Bytes(source.Length));
    }

    /// <summary>Writes one value (MPI_Put).</summary>
    public void Put(T value, int target, long targetOffset) => Put(new ReadOnlySpan<T>(in value), target, targetOffset);

    /// <summary>Reads <paramref name="destination"/>.Length elements of <paramref name="target"/>'s window at <paramref name="targetOffset"/> (MPI_Get); returns when they have arrived.</summary>
    public void Get(Span<T> destination, int target, long targetOffset)
    {
        Core.CheckTarget(target, Bytes(targetOffset), Bytes(destination.Length), "Get");
        long start = TraceStart();
        fixed (T* p = destination)
            Core.Wait(Core.StartGet((byte*)p, Bytes(destination.Length), target, Bytes(targetOffset)));
        Traced(start, "Get", target, Bytes(destination.Length));
    }

    /// <summary>Reads one element (MPI_Get).</summary>
    public T Get(int target, long targetOffset)
    {
        T value = default;
        Get(new Span<T>(ref value), target, targetOffset);
        return value;
    }

    /// <summary>Combines <paramref name="source"/> into the target's elements: target = target ∘ source (MPI_Accumulate), atomically per element.</summary>
    public void Accumulate(ReadOnlySpan<T> source, int target, long targetOffset, Op op)
    {
        var reducer = Core.ReducerFor(op, nameof(op));
        _ = reducer;
        Core.CheckTarget(target, Bytes(targetOffset), Bytes(source.Length), "Accumulate");
        long start = TraceStart();
        Core.Put(MemoryMarshal.AsBytes(source), target, Bytes(targetOffset), RmaOp.Accumulate, op.Kind);
        Traced(start, "Accumulate", target, Bytes(source.Length));
    }

    /// <summary>Accumulates one value (MPI_Accumulate).</summary>
    public void Accumulate(T value, int target, long targetOffset, Op op) => Accumulate(new ReadOnlySpan<T>(in value), target, targetOffset, op);

    /// <summary>
    /// Returns the target's old elements in <paramref name="result"/> and combines <paramref name="source"/> into
    /// them, atomically per element (MPI_Get_accumulate). <see cref="Op.NoOp"/> is an atomic read.
    /// </summary>
    public void GetAccumulate(ReadOnlySpan<T> source, Span<T> result, int target, long targetOffset, Op op)
    {
        Core.ReducerFor(op, nameof(op));
        if (result.Length < source.Length)
            throw new ArgumentException($"result holds {result.Length} elements but {source.Length} are needed.", nameof(result));
        Core.CheckTarget(target, Bytes(targetOffset), Bytes(source.Length), "GetAccumulate");
        long start = TraceStart();
        fixed (T* r = result)
            Core.Wait(Core.StartGetAccumulate(MemoryMarshal.AsBytes(source), (byte*)r, target, Bytes(targetOffset), op.Kind));
        Traced(start, "GetAccumulate", target, Bytes(source.Length));
    }

    /// <summary>Atomically combines <paramref name="value"/> into one target element and returns its old value (MPI_Fetch_and_op).</summary>
    public T FetchAndOp(T value, int target, long targetOffset, Op op)
    {
        T old = default;
        GetAccumulate(new ReadOnlySpan<T>(in value), new Span<T>(ref old), target, targetOffset, op);
        return old;
    }

    /// <summary>
    /// Atomically replaces one target element with <paramref name="desired"/> if it equals <paramref name="expected"/>
    /// bit for bit; returns the old value either way (MPI_Compare_and_swap).
    /// </summary>
    public T CompareAndSwap(T expected, T desired, int target, long targetOffset)
    {
        Core.CheckTarget(target, Bytes(targetOffset), sizeof(T), "CompareAndSwap");
        Span<T> both = [expected, desired];
        T old = default;
        long start = TraceStart();
        Core.Wait(Core.StartCompareAndSwap(MemoryMarshal.AsBytes(both), (byte*)&old, target, Bytes(targetOffset)));
        Traced(start, "CompareAndSwap", target, sizeof(T));
        return old;
    }

    /// <summary>
    /// Request-based Put (MPI_Rput): the request completes when the source may be reused — at once for small
    /// data (it is copied), or once the target has read a large one (on shared memory the target copies it
    /// straight from <paramref name="source"/>, which stays pinned until then).
    /// </summary>
    public Request PutAsync(ReadOnlyMemory<T> source, int target, long targetOffset)
    {
        Core.CheckTarget(target, Bytes(targetOffset), Bytes(source.Length), "Put");
        if (Core.CanPutByPull(Bytes(source.Length), target))
        {
            var pin = source.Pin();
            var request = Core.Engine.StartGeneralized();
            Core.StartPutPull((byte*)pin.Pointer, Bytes(source.Length), target, Bytes(targetOffset), request, pin);
            return new Request(request);
        }
        Put(source.Span, target, targetOffset);
        return new Request(Core.Engine.CompletedRequest(new Status(Core.Rank, 0, Bytes(source.Length))));
    }

    /// <summary>Request-based Accumulate (MPI_Raccumulate): completes when the source may be reused (at once).</summary>
    public Request AccumulateAsync(ReadOnlyMemory<T> source, int target, long targetOffset, Op op)
    {
        Accumulate(source.Span, target, targetOffset, op);
        return new Request(Core.Engine.CompletedRequest(new Status(Core.Rank, 0, Bytes(source.Length))));
    }

    /// <summary>Request-based Get (MPI_Rget): the request completes when the data has arrived in <paramref name="destination"/>.</summary>
    public Request GetAsync(Memory<T> destination, int target, long targetOffset)
    {
        Core.CheckTarget(target, Bytes(targetOffset), Bytes(destination.Length), "Get");
        long start = TraceStart();
        var pin = destination.Pin();
        var request = Core.Engine.StartGeneralized();
        Core.StartGet((byte*)pin.Pointer, Bytes(destination.Length), target, Bytes(targetOffset), request, pin);
        Traced(start, "IGet", target, Bytes(destination.Length));
        return new Request(request);
    }

    // ------------------------------------------------------------------ synchronization

    /// <summary>
    /// Collective (MPI_Win_fence): completes every operation issued before it by any rank, and opens an
    /// access and exposure epoch for the operations that follow.
    /// </summary>
    public void Fence()
    {
        long start = TraceStart();
        Core.Fence();
        Traced(start, "Fence");
    }

    /// <summary>
    /// Starts a passive-target epoch on <paramref name="target"/> (MPI_Win_lock) and returns it as a scope:
    /// <c>using (win.Lock(1)) { ... }</c>. Waits until the lock is granted.
    /// </summary>
    public WindowLock Lock(int target, LockType type = LockType.Exclusive)
    {
        long start = TraceStart();
        Core.Lock(target, type == LockType.Exclusive);
        Traced(start, "Lock", target);
        return new WindowLock(Core, target);
    }

    /// <summary>Ends the epoch on <paramref name="target"/> (MPI_Win_unlock): its operations are complete there.</summary>
    public void Unlock(int target)
    {
        long start = TraceStart();
        Core.Unlock(target);
        Traced(start, "Unlock", target);
    }

    /// <summary>Shared locks on every rank (MPI_Win_lock_all), as a scope.</summary>
    public WindowLock LockAll()
    {
        long start = TraceStart();
        Core.LockAll();
        Traced(start, "LockAll");
        return new WindowLock(Core, -1);
    }

    /// <summary>Ends <see cref="LockAll"/> (MPI_Win_unlock_all).</summary>
    public void UnlockAll()
    {
        long start = TraceStart();
        Core.UnlockAll();
        Traced(start, "UnlockAll");
    }

    /// <summary>Completes every operation to <paramref name="target"/> issued so far, at the target (MPI_Win_flush).</summary>
    public void Flush(int target)
    {
        long start = TraceStart();
        Core.Flush(target);
        Traced(start, "Flush", target);
    }

    /// <summary>Flush to every rank (MPI_Win_flush_all).</summary>
    public void FlushAll()
    {
        long start = TraceStart();
        Core.FlushAll();
        Traced(start, "FlushAll");
    }

    /// <summary>Completes operations to <paramref name="target"/> locally (MPI_Win_flush_local); implemented as <see cref="Flush"/>.</summary>
    public void FlushLocal(int target) => Flush(target);

    /// <summary>Local completion of every operation (MPI_Win_flush_local_all); implemented as <see cref="FlushAll"/>.</summary>
    public void FlushLocalAll() => FlushAll();

    /// <summary>Opens an exposure epoch for the ranks of <paramref name="origins"/> (MPI_Win_post).</summary>
    public void Post(Group origins)
    {
        long start = TraceStart();
        Core.Post(Ranks(origins, nameof(origins)));
        Traced(start, "Post");
    }

    /// <summary>Opens an access epoch to the ranks of <paramref name="targets"/>, waiting until each has posted (MPI_Win_start).</summary>
    public void Start(Group targets)
    {
        long start = TraceStart();
        Core.Start(Ranks(targets, nameof(targets)));
        Traced(start, "StartEpoch");
    }

    /// <summary>Ends the access epoch opened by <see cref="Start"/> (MPI_Win_complete).</summary>
    public void Complete()
    {
        long start = TraceStart();
        Core.Complete();
        Traced(start, "Complete");
    }

    /// <summary>Ends the exposure epoch opened by <see cref="Post"/>, waiting for every origin's Complete (MPI_Win_wait).</summary>
    public void WaitForCompletion()
    {
        long start = TraceStart();
        Core.WaitForCompletion();
        Traced(start, "WaitForCompletion");
    }

    /// <summary>Like <see cref="WaitForCompletion"/> without blocking: true when the exposure epoch has ended (MPI_Win_test).</summary>
    public bool TestForCompletion() => Core.TestForCompletion();

    private int[] Ranks(Group group, string name)
    {
        ArgumentNullException.ThrowIfNull(group, name);
        var mine = new int[group.Size];
        for (int i = 0; i < mine.Length; i++)
            mine[i] = i;
        var ranks = group.TranslateRanks(mine, Communicator.Group);
        foreach (int r in ranks)
        {
            if (r < 0)
                throw new ArgumentException($"{name} holds a rank that is not in the window's communicator.", name);
        }
        return ranks;
    }

    // ------------------------------------------------------------------ dynamic windows

    /// <summary>
    /// Exposes <paramref name="region"/> in a dynamic window (MPI_Win_attach) and returns the element offset
    /// other ranks use to reach it. The region stays pinned until <see cref="Detach"/>.
    /// </summary>
    public long Attach(Memory<T> region)
    {
        if (!Core.IsDynamic)
            throw new MpiException(ErrorClass.RmaFlavor, "Attach needs a window created by CreateDynamicWindow.");
        var pin = region.Pin();
        return Core.Attach((byte*)pin.Pointer, Bytes(region.Length), pin) / sizeof(T);
    }

    /// <summary>Stops exposing the region attached at <paramref name="offset"/> (MPI_Win_detach).</summary>
    public void Detach(long offset)
    {
        if (!Core.IsDynamic)
            throw new MpiException(ErrorClass.RmaFlavor, "Detach needs a window created by CreateDynamicWindow.");
        if (!Core.Detach(Bytes(offset)))
            throw new MpiException(ErrorClass.RmaAttach, $"No region is attached at offset {offset}.");
    }

    /// <summary>Frees the window (MPI_Win_free). Collective: completes every operation in flight first.</summary>
    public void Dispose()
    {
        if (Core.IsDisposed)
            return;
        Core.Free();
        ReleaseMemory();
        if (_ownedMemory != 0)
            NativeMemory.AlignedFree((void*)_ownedMemory);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases memory owned by a derived window type after the window is freed.</summary>
    private protected virtual void ReleaseMemory()
    {
    }
}
