using SharpMpi.Rma;

namespace SharpMpi;

/// <summary>
/// A window whose parts all live in memory shared by the ranks of one node (MPI_Win_allocate_shared):
/// besides the RMA calls of <see cref="Window{T}"/>, every rank can load and store any rank's part directly
/// through <see cref="GetSpan"/>. Direct accesses are plain memory accesses: separate them with
/// <see cref="Window{T}.Fence"/> or <see cref="Sync"/> plus a barrier, or use <see cref="Interlocked"/> on the span.
/// </summary>
/// <remarks>
/// The RMA calls need no messages to move data here: Put and Get are copies by the calling rank, and for
/// 4- and 8-byte element types (int, long, double, float, ...) Accumulate, GetAccumulate, FetchAndOp and
/// CompareAndSwap are <see cref="Interlocked"/> operations on the target's memory, atomic per element across
/// all ranks of the window. Epoch rules are unchanged: operations still need a Fence, Lock or Start first, and
/// are visible to the target once its epoch ends.
/// </remarks>
public sealed unsafe class SharedWindow<T> : Window<T> where T : unmanaged
{
    private readonly SharedWindowMemory _memory;
    private readonly long[] _offsets;
    private readonly long[] _lengths;

    internal SharedWindow(WindowCore core, long length, SharedWindowMemory memory, long[] offsets, long[] lengths)
        : base(core, length, 0)
    {
        _memory = memory;
        _offsets = offsets;
        _lengths = lengths;
    }

    /// <summary>
    /// Rank <paramref name="rank"/>'s part of the window, mapped in this process (MPI_Win_shared_query):
    /// loads and stores go straight to that rank's memory.
    /// </summary>
    public Span<T> GetSpan(int rank)
    {
        ObjectDisposedException.ThrowIf(Core.IsDisposed, this);
        if ((uint)rank >= (uint)_offsets.Length)
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"Rank {rank} is not in the window's communicator of size {_offsets.Length}.");
        return new Span<T>(_memory.Pointer + _offsets[rank], checked((int)_lengths[rank]));
    }

    /// <summary>Synchronizes this rank's view of the shared memory (MPI_Win_sync): a full memory barrier.</summary>
    public void Sync() => Interlocked.MemoryBarrier();

    private protected override void ReleaseMemory()
    {
        // Nobody may touch the block any more once every rank has freed the window.
        Communicator.Barrier();
        _memory.Dispose();
    }
}
