using System.Runtime.CompilerServices;
using SharpMpi.Collectives;

namespace SharpMpi;

// Blocking collectives on buffers of unmanaged elements (MPI standard chapter 6). Every rank of the
// communicator must call the same collectives in the same order. Buffers are spans (arrays convert
// implicitly); "InPlace" forms are MPI_IN_PLACE. Arguments are checked on each rank before anything is sent;
// count agreement between ranks cannot be checked locally (a longer message than expected fails with
// ErrorClass.Truncate). Algorithms are chosen by size and rank count, see MpiEnvironment.CollectiveTuning.
public partial class Communicator
{
    private int _collectiveSequence;

    /// <summary>Sequence number of the next collective call (every rank counts the same calls).</summary>
    internal int NextCollectiveSequence() => Interlocked.Increment(ref _collectiveSequence);

    /// <param name="isAsync">Nonblocking (MPI_I...) rather than blocking.</param>
    /// <param name="bytes">This rank's message size for traces and profiles: its send buffer (Broadcast and Scatter: the buffer it receives into).</param>
    /// <param name="op">The reduction, if any (its name comes from <see cref="ReducerOf{T}(Op, string?)"/>).</param>
    /// <param name="name">The API method (cleaned to the MPI call's name by the trace).</param>
    private CollectiveCall BeginCollective(bool isAsync = false, long bytes = 0, Reducer? op = null, [CallerMemberName] string name = "")
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (IsIntercommunicator)
            ThrowNotOnInter(name);
        var call = new CollectiveCall(this, isAsync);
        if (Diagnostics.CollectiveTrace.IsOn(Engine))
            Diagnostics.CollectiveTrace.Enter(this, name, Volatile.Read(ref _collectiveSequence), isAsync, bytes, Diagnostics.CollectiveTrace.OpName(op));
        return call;
    }

    /// <summary>Bytes of <paramref name="count"/> elements of <typeparamref name="T"/>.</summary>
    private static long Bytes<T>(long count) where T : unmanaged => count * Unsafe.SizeOf<T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckRoot(int root, [CallerArgumentExpression(nameof(root))] string? name = null)
    {
        if ((uint)root >= (uint)Size)
            ThrowRank(root, name!);
        if (Engine.Recorder is not null || Engine.BlockedReporter is not null)
            Diagnostics.CollectiveTrace.PendingRoot = root + 1;
    }

    private static void CheckLength(long length, long needed, string name)
    {
        if (length < needed)
            throw new ArgumentException($"{name} holds {length} elements but {needed} are needed.", name);
    }

    private void CheckBlocks(long length, string name)
    {
        if (length % Size != 0)
            throw new ArgumentException($"{name} holds {length} elements, not a multiple of the communicator size {Size}.", name);
    }

    private void CheckPerRank(int length, string name)
    {
        if (length != Size)
            throw new ArgumentException($"{name} has {length} entries; one per rank ({Size}) is needed.", name);
    }

    private static unsafe Buf B<T>(T* p, long count) where T : unmanaged => new(p, count * sizeof(T));

    private static Reducer ReducerOf<T>(Op op, [CallerArgumentExpression(nameof(op))] string? name = null) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(op, name);
        return Diagnostics.CollectiveTrace.NoteOp(op.ReducerFor<T>(name!), op.Name);
    }

    private static Reducer ReducerOf<T>(Func<T, T, T> op, bool commutative, [CallerArgumentExpression(nameof(op))] string? name = null)
        where T : unmanaged => Diagnostics.CollectiveTrace.NoteOp(Reducers.From(op, commutative, name), "lambda");

    // ================================================================== Barrier, Broadcast

    /// <summary>Blocks until every rank has called it (MPI_Barrier).</summary>
    public void Barrier()
    {
        if (IsIntercommunicator)
        {
            InterBarrier();
            return;
        }
        var c = BeginCollective();
        try
        {
            BlockingCollectives.Barrier(c);
        }
        finally
        {
            Diagnostics.CollectiveTrace.Exit();
        }
    }

    /// <summary>Copies <paramref name="buffer"/> of <paramref name="root"/> into <paramref name="buffer"/> of every rank (MPI_Bcast).</summary>
    public unsafe void Broadcast<T>(Span<T> buffer, int root) where T : unmanaged
    {
        if (IsIntercommunicator)
        {
            InterBroadcast(buffer, root);
            return;
        }
        CheckRoot(root);
        fixed (T* p = buffer)
        {
            var c = BeginCollective(bytes: Bytes<T>(buffer.Length));
            try
            {
                BroadcastAlgorithms.RunBlocking(c, B(p, buffer.Length), root);
            }
            finally
            {
                Diagnostics.CollectiveTrace.Exit();
            }
        }
    }

    /// <summary>Returns <paramref name="value"/> of <paramref name="root"/> on every rank (MPI_Bcast).</summary>
    public T Broadcast<T>(T value, int root) where T : unmanaged
    {
        Broadcast(new Span<T>(ref value), root);
        return value;
    }

    // ================================================================== Gather, Scatter

    /// <summary>
    /// Gathers <paramref name="send"/> of every rank, in rank order, into <paramref name="receive"/> of
    /// <paramref name="root"/> (MPI_Gather); <paramref name="receive"/> (Size × send.Length elements) is used at the root only.
    /// </summary>
    public unsafe void Gather<T>(ReadOnlySpan<T> send, Span<T> receive, int root) where T : unmanaged
    {
        if (IsIntercommunicator)
        {
            InterGather(send, receive, root);
            return;
        }
        CheckRoot(root);
        if (Rank == root)
            CheckLength(receive.Length, (long)send.Length * Size, nameof(receive));
        fixed (T* s = send)
        fixed (T* r = receive)
            CollectiveCall.Complete(GatherScatterAlgorithms.Gather(BeginCollective(bytes: Bytes<T>(send.Length)), B(s, send.Length), B(r, receive.Length), send.Length * (long)sizeof(T), root));
    }

    /// <summary>
    /// Gather in place: at the root <paramref name="buffer"/> is the whole receive buffer (Size blocks) with the
    /// root's own block already at position Rank; elsewhere it is the block to send.
    /// </summary>
    public unsafe void GatherInPlace<T>(Span<T> buffer, int root) where T : unmanaged
    {
        CheckRoot(root);
        int count = buffer.Length;
        if (Rank == root)
        {
            CheckBlocks(buffer.Length, nameof(buffer));
            count = buffer.Length / Size;
        }
        fixed (T* p = buffer)
        {
            var all = B(p, buffer.Length);
            long block = count * (long)sizeof(T);
            var mine = Rank == root ? all.Slice(Rank * block, block) : all;
            CollectiveCall.Complete(GatherScatterAlgorithms.Gather(BeginCollective(bytes: block), mine, all, block, root));
        }
    }

    /// <summary>Gathers one value per rank; returns them in rank order at <paramref name="root"/>, null elsewhere (MPI_Gather).</summary>
    public T[]? Gather<T>(T value, int root) where T : unmanaged
    {
        if (IsIntercommunicator)
        {
            CheckInterRoot(root, nameof(root));
            var all = root == Root ? new T[RemoteCount] : null;
            InterGather(new ReadOnlySpan<T>(in value), all, root);
            return all;
        }
        CheckRoot(root);
        var result = Rank == root ? new T[Size] : null;
        Gather(new ReadOnlySpan<T>(in value), result, root);
        return result;
    }

    /// <summary>
    /// Gathers blocks of different lengths (MPI_Gatherv): rank i's <paramref name="send"/> lands at
    /// <paramref name="displacements"/>[i] in <paramref name="receive"/> of the root, which expects
    /// <paramref name="counts"/>[i] elements. Counts, displacements and receive are used at the root only.
    /// </summary>
    public void Gatherv<T>(ReadOnlySpan<T> send, Span<T> receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, int root)
        where T : unmanaged => GathervCore(send, receive, counts, displacements, true, root, false);

    /// <summary>Gatherv with the blocks packed back to back in rank order (MPI_Gatherv).</summary>
    public void Gatherv<T>(ReadOnlySpan<T> send, Span<T> receive, ReadOnlySpan<int> counts, int root) where T : unmanaged =>
        GathervCore(send, receive, counts, default, false, root, false);

    /// <summary>Gatherv in place: at the root the own block is already at its displacement in <paramref name="buffer"/>; elsewhere <paramref name="buffer"/> is sent (MPI_Gatherv with MPI_IN_PLACE).</summary>
    public void GathervInPlace<T>(Span<T> buffer, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, int root) where T : unmanaged =>
        GathervCore(buffer, buffer, counts, displacements, true, root, true);

    private unsafe void GathervCore<T>(ReadOnlySpan<T> send, Span<T> receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements,
        bool hasDisplacements, int root, bool inPlace) where T : unmanaged
    {
        if (IsIntercommunicator)
        {
            if (inPlace)
                ThrowNotOnInter(nameof(GathervInPlace));
            InterGatherv(send, receive, counts, displacements, hasDisplacements, root);
            return;
        }
        CheckRoot(root);
        var layout = default(Blocks);
        if (Rank == root)
        {
            CheckPerRank(counts.Length, nameof(counts));
            if (hasDisplacements)
                CheckPerRank(displacements.Length, nameof(displacements));
            layout = Blocks.Explicit(counts, displacements, hasDisplacements, sizeof(T), receive.Length, nameof(counts), nameof(displacements), nameof(receive));
        }
        try
        {
            fixed (T* s = send)
            fixed (T* r = receive)
            {
                var rb = B(r, receive.Length);
                var sb = inPlace && Rank == root ? layout.Of(rb, root) : B(s, send.Length);
                var c = BeginCollective(bytes: sb.Length);
                CollectiveCall.Complete(Size == 1 ? CopyOwn(sb, layout.Of(rb, 0)) : GatherScatterAlgorithms.LinearGather(c, sb, rb, layout, root, inPlace));
            }
        }
        finally
        {
            layout.Return();
        }
    }

    private static ValueTask CopyOwn(Buf from, Buf to)
    {
        from.CopyTo(to);
        return default;
    }

    /// <summary>
    /// Sends block i of <paramref name="send"/> at <paramref name="root"/> (Size × receive.Length elements, used at
    /// the root only) to rank i's <paramref name="receive"/> (MPI_Scatter).
    /// </summary>
    public unsafe void Scatter<T>(ReadOnlySpan<T> send, Span<T> receive, int root) where T : unmanaged
    {
        if (IsIntercommunicator)
        {
            InterScatter(send, receive, root);
            return;
        }
        CheckRoot(root);
        if (Rank == root)
            CheckLength(send.Length, (long)receive.Length * Size, nameof(send));
        fixed (T* s = send)
        fixed (T* r = receive)
            CollectiveCall.Complete(GatherScatterAlgorithms.Scatter(BeginCollective(bytes: Bytes<T>(receive.Length)), B(s, send.Length), B(r, receive.Length), receive.Length * (long)sizeof(T), root));
    }

    /// <summary>Scatter in place: at the root <paramref name="buffer"/> holds all Size blocks and keeps its own; elsewhere it receives the block (MPI_Scatter with MPI_IN_PLACE).</summary>
    public unsafe void ScatterInPlace<T>(Span<T> buffer, int root) where T : unmanaged
    {
        CheckRoot(root);
        int count = buffer.Length;
        if (Rank == root)
        {
            CheckBlocks(buffer.Length, nameof(buffer));
            count = buffer.Length / Size;
        }
        fixed (T* p = buffer)
        {
            var all = B(p, buffer.Length);
            long block = count * (long)sizeof(T);
            var mine = Rank == root ? all.Slice(Rank * block, block) : all;
            CollectiveCall.Complete(GatherScatterAlgorithms.Scatter(BeginCollective(bytes: block), all, mine, block, root));
        }
    }

    /// <summary>Sends <paramref name="values"/>[i] of <paramref name="root"/> (one per rank, used at the root only) to rank i (MPI_Scatter).</summary>
    public T Scatter<T>(ReadOnlySpan<T> values, int root) where T : unmanaged
    {
        T value = default;
        Scatter(values, new Span<T>(ref value), root);
        return value;
    }

    /// <summary>
    /// Scatters blocks of different lengths (MPI_Scatterv): <paramref name="counts"/>[i] elements at
    /// <paramref name="displacements"/>[i] of <paramref name="send"/> go to rank i, which receives them into
    /// <paramref name="receive"/>. Send, counts and displacements are used at the root only.
    /// </summary>
    public void Scatterv<T>(ReadOnlySpan<T> send, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, Span<T> receive, int root)
        where T : unmanaged => ScattervCore(send, counts, displacements, true, receive, root, false);

    /// <summary>Scatterv of blocks packed back to back in rank order (MPI_Scatterv).</summary>
    public void Scatterv<T>(ReadOnlySpan<T> send, ReadOnlySpan<int> counts, Span<T> receive, int root) where T : unmanaged =>
        ScattervCore(send, counts, default, false, receive, root, false);

    /// <summary>Scatterv in place: the root keeps its own block in <paramref name="buffer"/>; elsewhere <paramref name="buffer"/> receives (MPI_Scatterv with MPI_IN_PLACE).</summary>
    public void ScattervInPlace<T>(Span<T> buffer, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, int root) where T : unmanaged =>
        ScattervCore(buffer, counts, displacements, true, buffer, root, true);

    private unsafe void ScattervCore<T>(ReadOnlySpan<T> send, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, bool hasDisplacements,
        Span<T> receive, int root, bool inPlace) where T : unmanaged
    {
        if (IsIntercommunicator)
        {
            if (inPlace)
                ThrowNotOnInter(nameof(ScattervInPlace));
            InterScatterv(send, counts, displacements, hasDisplacements, receive, root);
            return;
        }
        CheckRoot(root);
        var layout = default(Blocks);
        if (Rank == root)
        {
            CheckPerRank(counts.Length, nameof(counts));
            if (hasDisplacements)
                CheckPerRank(displacements.Length, nameof(displacements));
            layout = Blocks.Explicit(counts, displacements, hasDisplacements, sizeof(T), send.Length, nameof(counts), nameof(displacements), nameof(send));
            if (!inPlace)
                CheckLength(receive.Length, counts[root], nameof(receive));
        }
        try
        {
            fixed (T* s = send)
            fixed (T* r = receive)
            {
                var sb = B(s, send.Length);
                var rb = inPlace && Rank == root ? layout.Of(sb, root) : B(r, receive.Length);
                if (Rank == root)
                    rb = rb.Slice(0, layout.Length(root));
                var c = BeginCollective(bytes: rb.Length);
                CollectiveCall.Complete(Size == 1 ? CopyOwn(layout.Of(sb, 0), rb) : GatherScatterAlgorithms.LinearScatter(c, sb, layout, rb, root, inPlace));
            }
        }
        finally
        {
            layout.Return();
        }
    }

    // ================================================================== Allgather

    /// <summary>Gathers <paramref name="send"/> of every rank, in rank order, into <paramref name="receive"/> of every rank (MPI_Allgather).</summary>
    public unsafe void Allgather<T>(ReadOnlySpan<T> send, Span<T> receive) where T : unmanaged
    {
        if (IsIntercommunicator)
        {
            InterAllgather(send, receive);
            return;
        }
        CheckLength(receive.Length, (long)send.Length * Size, nameof(receive));
        fixed (T* s = send)
        fixed (T* r = receive)
        {
            long block = send.Length * (long)sizeof(T);
            var rb = B(r, receive.Length);
            B(s, send.Length).CopyTo(rb.Slice(Rank * block, block));
            CollectiveCall.Complete(AllgatherAlgorithms.Run(BeginCollective(bytes: block), rb, Blocks.Regular(Size, block)));
        }
    }

    /// <summary>Allgather in place: <paramref name="buffer"/> holds Size blocks, this rank's already at position Rank (MPI_Allgather with MPI_IN_PLACE).</summary>
    public unsafe void AllgatherInPlace<T>(Span<T> buffer) where T : unmanaged
    {
        CheckBlocks(buffer.Length, nameof(buffer));
        fixed (T* p = buffer)
            CollectiveCall.Complete(AllgatherAlgorithms.Run(BeginCollective(bytes: Bytes<T>(buffer.Length / Size)), B(p, buffer.Length), Blocks.Regular(Size, buffer.Length / Size * (long)sizeof(T))));
    }

    /// <summary>Returns every rank's <paramref name="value"/>, in rank order (MPI_Allgather).</summary>
    public T[] Allgather<T>(T value) where T : unmanaged
    {
        var result = new T[IsIntercommunicator ? RemoteCount : Size];
        Allgather(new ReadOnlySpan<T>(in value), result);
        return result;
    }

    /// <summary>
    /// Allgather of blocks of different lengths (MPI_Allgatherv): rank i's <paramref name="send"/>
    /// (<paramref name="counts"/>[i] elements) lands at <paramref name="displacements"/>[i] of every rank's <paramref name="receive"/>.
    /// </summary>
    public void Allgatherv<T>(ReadOnlySpan<T> send, Span<T> receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements) where T : unmanaged =>
        AllgathervCore(send, receive, counts, displacements, true, false);

    /// <summary>Allgatherv with the blocks packed back to back in rank order (MPI_Allgatherv).</summary>
    public void Allgatherv<T>(ReadOnlySpan<T> send, Span<T> receive, ReadOnlySpan<int> counts) where T : unmanaged =>
        AllgathervCore(send, receive, counts, default, false, false);

    /// <summary>Allgatherv in place: this rank's block is already at its displacement in <paramref name="buffer"/> (MPI_Allgatherv with MPI_IN_PLACE).</summary>
    public void AllgathervInPlace<T>(Span<T> buffer, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements) where T : unmanaged =>
        AllgathervCore(buffer, buffer, counts, displacements, true, true);

    private unsafe void AllgathervCore<T>(ReadOnlySpan<T> send, Span<T> receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements,
        bool hasDisplacements, bool inPlace) where T : unmanaged
    {
        if (IsIntercommunicator)
        {
            if (inPlace)
                ThrowNotOnInter(nameof(AllgathervInPlace));
            InterAllgatherv(send, receive, counts, displacements, hasDisplacements);
            return;
        }
        CheckPerRank(counts.Length, nameof(counts));
        if (hasDisplacements)
            CheckPerRank(displacements.Length, nameof(displacements));
        if (!inPlace)
            CheckLength(send.Length, counts[Rank], nameof(send));
        var layout = Blocks.Explicit(counts, displacements, hasDisplacements, sizeof(T), receive.Length, nameof(counts), nameof(displacements), nameof(receive));
        try
        {
            fixed (T* s = send)
            fixed (T* r = receive)
            {
                var rb = B(r, receive.Length);
                if (!inPlace)
                    B(s, send.Length).CopyTo(layout.Of(rb, Rank));
                CollectiveCall.Complete(AllgatherAlgorithms.Run(BeginCollective(bytes: layout.Length(Rank)), rb, layout));
            }
        }
        finally
        {
            layout.Return();
        }
    }

    // ================================================================== Alltoall

    /// <summary>
    /// Sends block j of <paramref name="send"/> to rank j and stores the block from rank i at block i of
    /// <paramref name="receive"/> (MPI_Alltoall); the block length is send.Length / Size.
    /// </summary>
    public unsafe void Alltoall<T>(ReadOnlySpan<T> send, Span<T> receive) where T : unmanaged
    {
        if (IsIntercommunicator)
        {
            InterAlltoall(send, receive);
            return;
        }
        CheckBlocks(send.Length, nameof(send));
        CheckLength(receive.Length, send.Length, nameof(receive));
        fixed (T* s = send)
        fixed (T* r = receive)
            CollectiveCall.Complete(AlltoallAlgorithms.Alltoall(BeginCollective(bytes: Bytes<T>(send.Length)), B(s, send.Length), B(r, receive.Length), send.Length / Size * (long)sizeof(T)));
    }

    /// <summary>Alltoall in place: block j of <paramref name="buffer"/> goes to rank j and is replaced by rank j's block for this rank (MPI_Alltoall with MPI_IN_PLACE).</summary>
    public unsafe void AlltoallInPlace<T>(Span<T> buffer) where T : unmanaged
    {
        CheckBlocks(buffer.Length, nameof(buffer));
        using var copy = TempBuffer.Rent(buffer.Length * (long)sizeof(T));
        fixed (T* p = buffer)
        {
            var b = B(p, buffer.Length);
            b.CopyTo(copy.Buf);
            CollectiveCall.Complete(AlltoallAlgorithms.Alltoall(BeginCollective(bytes: b.Length), copy.Buf, b, buffer.Length / Size * (long)sizeof(T)));
        }
    }

    /// <summary>
    /// Alltoall with per-peer counts and displacements (MPI_Alltoallv), in elements: <paramref name="sendCounts"/>[j]
    /// elements at <paramref name="sendDisplacements"/>[j] go to rank j; rank i's block lands at <paramref name="receiveDisplacements"/>[i].
    /// </summary>
    public void Alltoallv<T>(ReadOnlySpan<T> send, ReadOnlySpan<int> sendCounts, ReadOnlySpan<int> sendDisplacements,
        Span<T> receive, ReadOnlySpan<int> receiveCounts, ReadOnlySpan<int> receiveDisplacements) where T : unmanaged =>
        AlltoallvCore(send, sendCounts, sendDisplacements, receive, receiveCounts, receiveDisplacements, Unsafe.SizeOf<T>(), false);

    /// <summary>Alltoallv in place: <paramref name="buffer"/> is sent and received with the same counts and displacements (MPI_Alltoallv with MPI_IN_PLACE).</summary>
    public void AlltoallvInPlace<T>(Span<T> buffer, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements) where T : unmanaged =>
        AlltoallvCore<T>(buffer, counts, displacements, buffer, counts, displacements, Unsafe.SizeOf<T>(), true);

    /// <summary>
    /// Alltoall with per-peer byte counts and byte displacements (MPI_Alltoallw over raw bytes): the most general
    /// exchange, where each peer's block may hold different element types.
    /// </summary>
    public void Alltoallw(ReadOnlySpan<byte> send, ReadOnlySpan<int> sendCounts, ReadOnlySpan<int> sendDisplacements,
        Span<byte> receive, ReadOnlySpan<int> receiveCounts, ReadOnlySpan<int> receiveDisplacements) =>
        AlltoallvCore(send, sendCounts, sendDisplacements, receive, receiveCounts, receiveDisplacements, 1, false);

    private unsafe void AlltoallvCore<T>(ReadOnlySpan<T> send, ReadOnlySpan<int> sendCounts, ReadOnlySpan<int> sendDisplacements,
        Span<T> receive, ReadOnlySpan<int> receiveCounts, ReadOnlySpan<int> receiveDisplacements, int elementSize, bool inPlace) where T : unmanaged
    {
        if (IsIntercommunicator)
        {
            if (inPlace)
                ThrowNotOnInter(nameof(AlltoallvInPlace));
            InterAlltoallv(send, sendCounts, sendDisplacements, receive, receiveCounts, receiveDisplacements, elementSize);
            return;
        }
        CheckPerRank(sendCounts.Length, nameof(sendCounts));
        CheckPerRank(sendDisplacements.Length, nameof(sendDisplacements));
        CheckPerRank(receiveCounts.Length, nameof(receiveCounts));
        CheckPerRank(receiveDisplacements.Length, nameof(receiveDisplacements));
        var sl = Blocks.Explicit(sendCounts, sendDisplacements, true, elementSize, send.Length, nameof(sendCounts), nameof(sendDisplacements), nameof(send));
        Blocks rl;
        try
        {
            rl = Blocks.Explicit(receiveCounts, receiveDisplacements, true, elementSize, receive.Length, nameof(receiveCounts), nameof(receiveDisplacements), nameof(receive));
        }
        catch
        {
            sl.Return();
            throw;
        }
        using var copy = inPlace ? TempBuffer.Rent(send.Length * (long)sizeof(T)) : default;
        try
        {
            fixed (T* s = send)
            fixed (T* r = receive)
            {
                var sb = B(s, send.Length);
                if (inPlace)
                {
                    sb.CopyTo(copy.Buf);
                    sb = copy.Buf;
                }
                CollectiveCall.Complete(AlltoallAlgorithms.Alltoallv(BeginCollective(bytes: sl.Total), sb, sl, B(r, receive.Length), rl));
            }
        }
        finally
        {
            sl.Return();
            rl.Return();
        }
    }

    // ================================================================== Reduce

    /// <summary>Combines <paramref name="send"/> of every rank element-wise with <paramref name="op"/> into <paramref name="receive"/> at <paramref name="root"/> (MPI_Reduce).</summary>
    public void Reduce<T>(ReadOnlySpan<T> send, Span<T> receive, Op op, int root) where T : unmanaged =>
        ReduceCore(send, receive, ReducerOf<T>(op), root);

    /// <summary>Reduce with a user operator type (see <see cref="IReduceOp{T}"/>) (MPI_Reduce).</summary>
    public void Reduce<T, TOp>(ReadOnlySpan<T> send, Span<T> receive, int root) where T : unmanaged where TOp : IReduceOp<T> =>
        ReduceCore(send, receive, UserReducer<T, TOp>.Instance, root);

    /// <summary>Reduce with a lambda; pass <paramref name="commutative"/> false to get the rank-ordered fold (MPI_Reduce).</summary>
    public void Reduce<T>(ReadOnlySpan<T> send, Span<T> receive, Func<T, T, T> op, int root, bool commutative = true) where T : unmanaged =>
        ReduceCore(send, receive, ReducerOf(op, commutative), root);

    /// <summary>Reduce in place: at the root <paramref name="buffer"/> is input and output; elsewhere input only (MPI_Reduce with MPI_IN_PLACE).</summary>
    public void ReduceInPlace<T>(Span<T> buffer, Op op, int root) where T : unmanaged =>
        ReduceCore(buffer, buffer, ReducerOf<T>(op), root);

    /// <summary>Reduce in place with a user operator type (MPI_Reduce with MPI_IN_PLACE).</summary>
    public void ReduceInPlace<T, TOp>(Span<T> buffer, int root) where T : unmanaged where TOp : IReduceOp<T> =>
        ReduceCore(buffer, buffer, UserReducer<T, TOp>.Instance, root);

    /// <summary>Reduces one value per rank; the result at <paramref name="root"/>, default elsewhere (MPI_Reduce).</summary>
    public T Reduce<T>(T value, Op op, int root) where T : unmanaged
    {
        T result = default;
        ReduceCore(new ReadOnlySpan<T>(in value), new Span<T>(ref result), ReducerOf<T>(op), root);
        return result;
    }

    private unsafe void ReduceCore<T>(ReadOnlySpan<T> send, Span<T> receive, Reducer op, int root) where T : unmanaged
    {
        if (IsIntercommunicator)
        {
            InterReduce(send, receive, op, root);
            return;
        }
        CheckRoot(root);
        if (Rank == root)
            CheckLength(receive.Length, send.Length, nameof(receive));
        fixed (T* s = send)
        fixed (T* r = receive)
        {
            var c = BeginCollective(bytes: Bytes<T>(send.Length), op: op);
            try
            {
                ReduceAlgorithms.RunBlocking(c, B(s, send.Length), B(r, receive.Length), op, root);
            }
            finally
            {
                Diagnostics.CollectiveTrace.Exit();
            }
        }
    }

    // ================================================================== Allreduce

    /// <summary>Combines <paramref name="send"/> of every rank element-wise with <paramref name="op"/> into <paramref name="receive"/> of every rank (MPI_Allreduce).</summary>
    public void Allreduce<T>(ReadOnlySpan<T> send, Span<T> receive, Op op) where T : unmanaged =>
        AllreduceCore(send, receive, ReducerOf<T>(op));

    /// <summary>Allreduce in place: <paramref name="buffer"/> is input and output (MPI_Allreduce).</summary>
    public void Allreduce<T>(Span<T> buffer, Op op) where T : unmanaged =>
        AllreduceCore(buffer, buffer, ReducerOf<T>(op));

    /// <summary>Allreduce of one value, e.g. <c>double max = world.Allreduce(localMax, Op.Max)</c> (MPI_Allreduce).</summary>
    public T Allreduce<T>(T value, Op op) where T : unmanaged
    {
        AllreduceCore(new ReadOnlySpan<T>(in value), new Span<T>(ref value), ReducerOf<T>(op));
        return value;
    }

    /// <summary>Allreduce with a user operator type, e.g. <c>world.Allreduce&lt;double, MaxAbs&gt;(local, result)</c> (MPI_Allreduce).</summary>
    public void Allreduce<T, TOp>(ReadOnlySpan<T> send, Span<T> receive) where T : unmanaged where TOp : IReduceOp<T> =>
        AllreduceCore(send, receive, UserReducer<T, TOp>.Instance);

    /// <summary>Allreduce in place with a user operator type (MPI_Allreduce).</summary>
    public void Allreduce<T, TOp>(Span<T> buffer) where T : unmanaged where TOp : IReduceOp<T> =>
        AllreduceCore(buffer, buffer, UserReducer<T, TOp>.Instance);

    /// <summary>Allreduce of one value with a user operator type (MPI_Allreduce).</summary>
    public T Allreduce<T, TOp>(T value) where T : unmanaged where TOp : IReduceOp<T>
    {
        AllreduceCore(new ReadOnlySpan<T>(in value), new Span<T>(ref value), UserReducer<T, TOp>.Instance);
        return value;
    }

    /// <summary>Allreduce with a lambda; pass <paramref name="commutative"/> false to get the rank-ordered fold (MPI_Allreduce).</summary>
    public void Allreduce<T>(ReadOnlySpan<T> send, Span<T> receive, Func<T, T, T> op, bool commutative = true) where T : unmanaged =>
        AllreduceCore(send, receive, ReducerOf(op, commutative));

    /// <summary>Allreduce in place with a lambda (MPI_Allreduce).</summary>
    public void Allreduce<T>(Span<T> buffer, Func<T, T, T> op, bool commutative = true) where T : unmanaged =>
        AllreduceCore(buffer, buffer, ReducerOf(op, commutative));

    /// <summary>Allreduce of one value with a lambda (MPI_Allreduce).</summary>
    public T Allreduce<T>(T value, Func<T, T, T> op, bool commutative = true) where T : unmanaged
    {
        AllreduceCore(new ReadOnlySpan<T>(in value), new Span<T>(ref value), ReducerOf(op, commutative));
        return value;
    }

    private unsafe void AllreduceCore<T>(ReadOnlySpan<T> send, Span<T> receive, Reducer op) where T : unmanaged
    {
        if (IsIntercommunicator)
        {
            InterAllreduce(send, receive, op);
            return;
        }
        CheckLength(receive.Length, send.Length, nameof(receive));
        fixed (T* s = send)
        fixed (T* r = receive)
        {
            var c = BeginCollective(bytes: Bytes<T>(send.Length), op: op);
            try
            {
                AllreduceAlgorithms.RunBlocking(c, B(s, send.Length), B(r, receive.Length), op);
            }
            finally
            {
                Diagnostics.CollectiveTrace.Exit();
            }
        }
    }

    // ================================================================== Reduce-scatter

    /// <summary>
    /// Reduces <paramref name="send"/> (the sum of <paramref name="counts"/> elements) element-wise and leaves
    /// block i (<paramref name="counts"/>[i] elements, blocks back to back) in <paramref name="receive"/> of rank i (MPI_Reduce_scatter).
    /// </summary>
    public void ReduceScatter<T>(ReadOnlySpan<T> send, Span<T> receive, ReadOnlySpan<int> counts, Op op) where T : unmanaged =>
        ReduceScatterCore(send, receive, counts, ReducerOf<T>(op));

    /// <summary>Reduce-scatter with a user operator type (MPI_Reduce_scatter).</summary>
    public void ReduceScatter<T, TOp>(ReadOnlySpan<T> send, Span<T> receive, ReadOnlySpan<int> counts) where T : unmanaged where TOp : IReduceOp<T> =>
        ReduceScatterCore(send, receive, counts, UserReducer<T, TOp>.Instance);

    /// <summary>Reduce-scatter with a lambda (MPI_Reduce_scatter).</summary>
    public void ReduceScatter<T>(ReadOnlySpan<T> send, Span<T> receive, ReadOnlySpan<int> counts, Func<T, T, T> op, bool commutative = true) where T : unmanaged =>
        ReduceScatterCore(send, receive, counts, ReducerOf(op, commutative));

    /// <summary>Reduce-scatter in place: <paramref name="buffer"/> holds the whole input; this rank's block is left at its start (MPI_Reduce_scatter with MPI_IN_PLACE).</summary>
    public void ReduceScatterInPlace<T>(Span<T> buffer, ReadOnlySpan<int> counts, Op op) where T : unmanaged =>
        ReduceScatterCore(buffer, buffer, counts, ReducerOf<T>(op));

    /// <summary>Reduce-scatter with equal blocks (MPI_Reduce_scatter_block): <paramref name="send"/> holds Size × receive.Length elements.</summary>
    public void ReduceScatterBlock<T>(ReadOnlySpan<T> send, Span<T> receive, Op op) where T : unmanaged =>
        ReduceScatterBlockCore(send, receive, receive.Length, ReducerOf<T>(op));

    /// <summary>Reduce-scatter-block with a user operator type (MPI_Reduce_scatter_block).</summary>
    public void ReduceScatterBlock<T, TOp>(ReadOnlySpan<T> send, Span<T> receive) where T : unmanaged where TOp : IReduceOp<T> =>
        ReduceScatterBlockCore(send, receive, receive.Length, UserReducer<T, TOp>.Instance);

    /// <summary>Reduce-scatter-block with a lambda (MPI_Reduce_scatter_block).</summary>
    public void ReduceScatterBlock<T>(ReadOnlySpan<T> send, Span<T> receive, Func<T, T, T> op, bool commutative = true) where T : unmanaged =>
        ReduceScatterBlockCore(send, receive, receive.Length, ReducerOf(op, commutative));

    /// <summary>Reduce-scatter-block in place: <paramref name="buffer"/> holds Size blocks; the result block is left at its start (MPI_Reduce_scatter_block with MPI_IN_PLACE).</summary>
    public void ReduceScatterBlockInPlace<T>(Span<T> buffer, Op op) where T : unmanaged
    {
        CheckBlocks(buffer.Length, nameof(buffer));
        ReduceScatterBlockCore(buffer, buffer, buffer.Length / Size, ReducerOf<T>(op));
    }

    private unsafe void ReduceScatterCore<T>(ReadOnlySpan<T> send, Span<T> receive, ReadOnlySpan<int> counts, Reducer op) where T : unmanaged
    {
        if (IsIntercommunicator)
        {
            InterReduceScatter(send, receive, counts, op);
            return;
        }
        CheckPerRank(counts.Length, nameof(counts));
        var layout = Blocks.Explicit(counts, default, false, sizeof(T), send.Length, nameof(counts), nameof(counts), nameof(send));
        try
        {
            CheckLength(receive.Length, counts[Rank], nameof(receive));
            fixed (T* s = send)
            fixed (T* r = receive)
            {
                var sb = B(s, send.Length).Slice(0, layout.Total);
                CollectiveCall.Complete(ReduceScatterAlgorithms.Run(BeginCollective(bytes: sb.Length, op: op), sb, B(r, receive.Length).Slice(0, layout.Length(Rank)), layout, op));
            }
        }
        finally
        {
            layout.Return();
        }
    }

    private unsafe void ReduceScatterBlockCore<T>(ReadOnlySpan<T> send, Span<T> receive, int count, Reducer op) where T : unmanaged
    {
        if (IsIntercommunicator)
        {
            InterReduceScatterBlock(send, receive[..count], op);
            return;
        }
        CheckLength(send.Length, (long)count * Size, nameof(send));
        var layout = Blocks.Regular(Size, count * (long)sizeof(T));
        fixed (T* s = send)
        fixed (T* r = receive)
        {
            var sb = B(s, send.Length).Slice(0, layout.Total);
            CollectiveCall.Complete(ReduceScatterAlgorithms.Run(BeginCollective(bytes: sb.Length, op: op), sb, B(r, receive.Length).Slice(0, layout.Length(Rank)), layout, op));
        }
    }

    // ================================================================== Scan

    /// <summary>Inclusive prefix reduction (MPI_Scan): rank i receives send(0) ∘ … ∘ send(i).</summary>
    public void Scan<T>(ReadOnlySpan<T> send, Span<T> receive, Op op) where T : unmanaged =>
        ScanCore(send, receive, ReducerOf<T>(op), false);

    /// <summary>Inclusive scan with a user operator type (MPI_Scan).</summary>
    public void Scan<T, TOp>(ReadOnlySpan<T> send, Span<T> receive) where T : unmanaged where TOp : IReduceOp<T> =>
        ScanCore(send, receive, UserReducer<T, TOp>.Instance, false);

    /// <summary>Inclusive scan with a lambda (MPI_Scan).</summary>
    public void Scan<T>(ReadOnlySpan<T> send, Span<T> receive, Func<T, T, T> op, bool commutative = true) where T : unmanaged =>
        ScanCore(send, receive, ReducerOf(op, commutative), false);

    /// <summary>Inclusive scan in place (MPI_Scan).</summary>
    public void Scan<T>(Span<T> buffer, Op op) where T : unmanaged => ScanCore(buffer, buffer, ReducerOf<T>(op), false);

    /// <summary>Inclusive scan of one value per rank (MPI_Scan).</summary>
    public T Scan<T>(T value, Op op) where T : unmanaged
    {
        ScanCore(new ReadOnlySpan<T>(in value), new Span<T>(ref value), ReducerOf<T>(op), false);
        return value;
    }

    /// <summary>Exclusive prefix reduction (MPI_Exscan): rank i receives send(0) ∘ … ∘ send(i−1); rank 0's receive is left unchanged.</summary>
    public void ExclusiveScan<T>(ReadOnlySpan<T> send, Span<T> receive, Op op) where T : unmanaged =>
        ScanCore(send, receive, ReducerOf<T>(op), true);

    /// <summary>Exclusive scan with a user operator type (MPI_Exscan).</summary>
    public void ExclusiveScan<T, TOp>(ReadOnlySpan<T> send, Span<T> receive) where T : unmanaged where TOp : IReduceOp<T> =>
        ScanCore(send, receive, UserReducer<T, TOp>.Instance, true);

    /// <summary>Exclusive scan with a lambda (MPI_Exscan).</summary>
    public void ExclusiveScan<T>(ReadOnlySpan<T> send, Span<T> receive, Func<T, T, T> op, bool commutative = true) where T : unmanaged =>
        ScanCore(send, receive, ReducerOf(op, commutative), true);

    /// <summary>Exclusive scan in place (rank 0's buffer is left unchanged) (MPI_Exscan).</summary>
    public void ExclusiveScan<T>(Span<T> buffer, Op op) where T : unmanaged => ScanCore(buffer, buffer, ReducerOf<T>(op), true);

    /// <summary>Exclusive scan of one value per rank; rank 0 gets default (MPI_Exscan).</summary>
    public T ExclusiveScan<T>(T value, Op op) where T : unmanaged
    {
        T result = default;
        ScanCore(new ReadOnlySpan<T>(in value), new Span<T>(ref result), ReducerOf<T>(op), true);
        return result;
    }

    private unsafe void ScanCore<T>(ReadOnlySpan<T> send, Span<T> receive, Reducer op, bool exclusive) where T : unmanaged
    {
        CheckLength(receive.Length, send.Length, nameof(receive));
        fixed (T* s = send)
        fixed (T* r = receive)
            CollectiveCall.Complete(ScanAlgorithms.Run(BeginCollective(bytes: Bytes<T>(send.Length), op: op), B(s, send.Length), B(r, receive.Length), op, exclusive));
    }
}
