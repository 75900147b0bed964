using System.Buffers;
using System.Runtime.CompilerServices;
using SharpMpi.Collectives;
using SharpMpi.Engine;

namespace SharpMpi;

// Nonblocking collectives (MPI-3 MPI_Ibcast, MPI_Iallreduce, …): XxxAsync returns a Task, IXxx a Request
// (a generalized request completed when the schedule finishes). They run the same algorithms as the blocking
// forms; each step waits on awaitable requests that the progress engine completes, so no thread is blocked
// while a collective is in flight. Every call takes its place in the communicator's collective sequence when
// it is made, so several may be outstanding at once (start them in the same order on every rank). Buffers
// stay pinned and must not be touched until completion. Arrays have their own overloads because C# does not
// infer T from an array for Memory<T>. On an intercommunicator each XxxStart hands over to its InterXxxStart
// (Communicator.Collectives.Inter.cs), which runs the intercommunicator algorithms the same way.
public partial class Communicator
{
    // ------------------------------------------------------------------ plumbing

    private Request ToRequest(ValueTask work)
    {
        var core = Engine.StartGeneralized();
        if (work.IsCompletedSuccessfully)
            Engine.CompleteGeneralized(core, default);
        else
            _ = CompleteWhenDone(Engine, core, work);
        return new Request(core);
    }

    private static async Task CompleteWhenDone(ProgressEngine engine, RequestCore core, ValueTask work)
    {
        Exception? error = null;
        try
        {
            await work.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            error = e;
        }
        engine.CompleteGeneralized(core, default, error);
    }

    private static unsafe Buf PinnedBuf<T>(MemoryHandle handle, int count) where T : unmanaged => new(handle.Pointer, count * (long)sizeof(T));

    private static ReadOnlyMemory<T> NotNull<T>(T[] array, string name) => array ?? throw new ArgumentNullException(name);

    private static Memory<T> NotNullMemory<T>(T[] array, string name) => array ?? throw new ArgumentNullException(name);

    // ------------------------------------------------------------------ Barrier, Broadcast

    /// <summary>Completes when every rank has called it (MPI_Ibarrier).</summary>
    public Task BarrierAsync() => BarrierStart().AsTask();

    /// <summary>Starts a barrier (MPI_Ibarrier).</summary>
    public Request IBarrier() => ToRequest(BarrierStart());

    private ValueTask BarrierStart() => IsIntercommunicator ? InterBarrierStart() : BarrierAlgorithms.Run(BeginCollective(true));

    /// <summary>Broadcast without blocking (MPI_Ibcast).</summary>
    public Task BroadcastAsync<T>(Memory<T> buffer, int root) where T : unmanaged => BroadcastStart(buffer, root).AsTask();

    /// <inheritdoc cref="BroadcastAsync{T}(Memory{T}, int)"/>
    public Task BroadcastAsync<T>(T[] buffer, int root) where T : unmanaged => BroadcastAsync(NotNullMemory(buffer, nameof(buffer)), root);

    /// <summary>Starts a broadcast (MPI_Ibcast).</summary>
    public Request IBroadcast<T>(Memory<T> buffer, int root) where T : unmanaged => ToRequest(BroadcastStart(buffer, root));

    /// <inheritdoc cref="IBroadcast{T}(Memory{T}, int)"/>
    public Request IBroadcast<T>(T[] buffer, int root) where T : unmanaged => IBroadcast(NotNullMemory(buffer, nameof(buffer)), root);

    private ValueTask BroadcastStart<T>(Memory<T> buffer, int root) where T : unmanaged
    {
        if (IsIntercommunicator)
            return InterBroadcastStart(buffer, root);
        CheckRoot(root);
        return Run(BeginCollective(true, Bytes<T>(buffer.Length)), buffer.Pin(), buffer.Length, root);

        static async ValueTask Run(CollectiveCall c, MemoryHandle pin, int count, int root)
        {
            using (pin)
                await BroadcastAlgorithms.Run(c, PinnedBuf<T>(pin, count), root).ConfigureAwait(false);
        }
    }

    // ------------------------------------------------------------------ Gather, Scatter

    /// <summary>Gather without blocking (MPI_Igather); <paramref name="receive"/> is used at the root only.</summary>
    public Task GatherAsync<T>(ReadOnlyMemory<T> send, Memory<T> receive, int root) where T : unmanaged => GatherStart(send, receive, root).AsTask();

    /// <inheritdoc cref="GatherAsync{T}(ReadOnlyMemory{T}, Memory{T}, int)"/>
    public Task GatherAsync<T>(T[] send, T[]? receive, int root) where T : unmanaged => GatherStart(NotNull(send, nameof(send)), receive, root).AsTask();

    /// <summary>Starts a gather (MPI_Igather).</summary>
    public Request IGather<T>(ReadOnlyMemory<T> send, Memory<T> receive, int root) where T : unmanaged => ToRequest(GatherStart(send, receive, root));

    /// <inheritdoc cref="IGather{T}(ReadOnlyMemory{T}, Memory{T}, int)"/>
    public Request IGather<T>(T[] send, T[]? receive, int root) where T : unmanaged => ToRequest(GatherStart(NotNull(send, nameof(send)), receive, root));

    private ValueTask GatherStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, int root) where T : unmanaged
    {
        if (IsIntercommunicator)
            return InterGatherStart(send, receive, root);
        CheckRoot(root);
        if (Rank == root)
            CheckLength(receive.Length, (long)send.Length * Size, nameof(receive));
        return Run(BeginCollective(true, Bytes<T>(send.Length)), send.Pin(), send.Length, receive.Pin(), receive.Length, root);

        static async ValueTask Run(CollectiveCall c, MemoryHandle sp, int sn, MemoryHandle rp, int rn, int root)
        {
            using (sp)
            using (rp)
                await GatherScatterAlgorithms.Gather(c, PinnedBuf<T>(sp, sn), PinnedBuf<T>(rp, rn), sn * (long)Unsafe.SizeOf<T>(), root).ConfigureAwait(false);
        }
    }

    /// <summary>Gatherv without blocking (MPI_Igatherv); counts, displacements and receive are used at the root only.</summary>
    public Task GathervAsync<T>(ReadOnlyMemory<T> send, Memory<T> receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, int root)
        where T : unmanaged => GathervStart(send, receive, counts, displacements, root).AsTask();

    /// <summary>Starts a gatherv (MPI_Igatherv).</summary>
    public Request IGatherv<T>(ReadOnlyMemory<T> send, Memory<T> receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, int root)
        where T : unmanaged => ToRequest(GathervStart(send, receive, counts, displacements, root));

    private ValueTask GathervStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, int root)
        where T : unmanaged
    {
        if (IsIntercommunicator)
            return InterGathervStart(send, receive, counts, displacements, root);
        CheckRoot(root);
        var layout = default(Blocks);
        if (Rank == root)
        {
            CheckPerRank(counts.Length, nameof(counts));
            CheckPerRank(displacements.Length, nameof(displacements));
            layout = Blocks.Explicit(counts, displacements, true, Unsafe.SizeOf<T>(), receive.Length, nameof(counts), nameof(displacements), nameof(receive));
        }
        return Run(BeginCollective(true, Bytes<T>(send.Length)), send.Pin(), send.Length, receive.Pin(), receive.Length, layout, root);

        static async ValueTask Run(CollectiveCall c, MemoryHandle sp, int sn, MemoryHandle rp, int rn, Blocks layout, int root)
        {
            try
            {
                var sb = PinnedBuf<T>(sp, sn);
                var rb = PinnedBuf<T>(rp, rn);
                if (c.Size == 1)
                    sb.CopyTo(layout.Of(rb, 0));
                else
                    await GatherScatterAlgorithms.LinearGather(c, sb, rb, layout, root).ConfigureAwait(false);
            }
            finally
            {
                sp.Dispose();
                rp.Dispose();
                layout.Return();
            }
        }
    }

    /// <summary>Scatter without blocking (MPI_Iscatter); <paramref name="send"/> is used at the root only.</summary>
    public Task ScatterAsync<T>(ReadOnlyMemory<T> send, Memory<T> receive, int root) where T : unmanaged => ScatterStart(send, receive, root).AsTask();

    /// <inheritdoc cref="ScatterAsync{T}(ReadOnlyMemory{T}, Memory{T}, int)"/>
    public Task ScatterAsync<T>(T[]? send, T[] receive, int root) where T : unmanaged => ScatterStart(send, NotNullMemory(receive, nameof(receive)), root).AsTask();

    /// <summary>Starts a scatter (MPI_Iscatter).</summary>
    public Request IScatter<T>(ReadOnlyMemory<T> send, Memory<T> receive, int root) where T : unmanaged => ToRequest(ScatterStart(send, receive, root));

    /// <inheritdoc cref="IScatter{T}(ReadOnlyMemory{T}, Memory{T}, int)"/>
    public Request IScatter<T>(T[]? send, T[] receive, int root) where T : unmanaged => ToRequest(ScatterStart(send, NotNullMemory(receive, nameof(receive)), root));

    private ValueTask ScatterStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, int root) where T : unmanaged
    {
        if (IsIntercommunicator)
            return InterScatterStart(send, receive, root);
        CheckRoot(root);
        if (Rank == root)
            CheckLength(send.Length, (long)receive.Length * Size, nameof(send));
        return Run(BeginCollective(true, Bytes<T>(send.Length)), send.Pin(), send.Length, receive.Pin(), receive.Length, root);

        static async ValueTask Run(CollectiveCall c, MemoryHandle sp, int sn, MemoryHandle rp, int rn, int root)
        {
            using (sp)
            using (rp)
                await GatherScatterAlgorithms.Scatter(c, PinnedBuf<T>(sp, sn), PinnedBuf<T>(rp, rn), rn * (long)Unsafe.SizeOf<T>(), root).ConfigureAwait(false);
        }
    }

    /// <summary>Scatterv without blocking (MPI_Iscatterv); send, counts and displacements are used at the root only.</summary>
    public Task ScattervAsync<T>(ReadOnlyMemory<T> send, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, Memory<T> receive, int root)
        where T : unmanaged => ScattervStart(send, counts, displacements, receive, root).AsTask();

    /// <summary>Starts a scatterv (MPI_Iscatterv).</summary>
    public Request IScatterv<T>(ReadOnlyMemory<T> send, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, Memory<T> receive, int root)
        where T : unmanaged => ToRequest(ScattervStart(send, counts, displacements, receive, root));

    private ValueTask ScattervStart<T>(ReadOnlyMemory<T> send, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, Memory<T> receive, int root)
        where T : unmanaged
    {
        if (IsIntercommunicator)
            return InterScattervStart(send, counts, displacements, receive, root);
        CheckRoot(root);
        var layout = default(Blocks);
        if (Rank == root)
        {
            CheckPerRank(counts.Length, nameof(counts));
            CheckPerRank(displacements.Length, nameof(displacements));
            layout = Blocks.Explicit(counts, displacements, true, Unsafe.SizeOf<T>(), send.Length, nameof(counts), nameof(displacements), nameof(send));
            if (receive.Length < counts[root])
            {
                layout.Return();
                CheckLength(receive.Length, counts[root], nameof(receive));
            }
        }
        return Run(BeginCollective(true, Bytes<T>(send.Length)), send.Pin(), send.Length, receive.Pin(), receive.Length, layout, root);

        static async ValueTask Run(CollectiveCall c, MemoryHandle sp, int sn, MemoryHandle rp, int rn, Blocks layout, int root)
        {
            try
            {
                var sb = PinnedBuf<T>(sp, sn);
                var rb = PinnedBuf<T>(rp, rn);
                if (c.Rank == root)
                    rb = rb.Slice(0, layout.Length(root));
                if (c.Size == 1)
                    layout.Of(sb, 0).CopyTo(rb);
                else
                    await GatherScatterAlgorithms.LinearScatter(c, sb, layout, rb, root).ConfigureAwait(false);
            }
            finally
            {
                sp.Dispose();
                rp.Dispose();
                layout.Return();
            }
        }
    }

    // ------------------------------------------------------------------ Allgather, Alltoall

    /// <summary>Allgather without blocking (MPI_Iallgather).</summary>
    public Task AllgatherAsync<T>(ReadOnlyMemory<T> send, Memory<T> receive) where T : unmanaged => AllgatherStart(send, receive).AsTask();

    /// <inheritdoc cref="AllgatherAsync{T}(ReadOnlyMemory{T}, Memory{T})"/>
    public Task AllgatherAsync<T>(T[] send, T[] receive) where T : unmanaged =>
        AllgatherStart(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive))).AsTask();

    /// <summary>Starts an allgather (MPI_Iallgather).</summary>
    public Request IAllgather<T>(ReadOnlyMemory<T> send, Memory<T> receive) where T : unmanaged => ToRequest(AllgatherStart(send, receive));

    /// <inheritdoc cref="IAllgather{T}(ReadOnlyMemory{T}, Memory{T})"/>
    public Request IAllgather<T>(T[] send, T[] receive) where T : unmanaged =>
        ToRequest(AllgatherStart(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive))));

    private ValueTask AllgatherStart<T>(ReadOnlyMemory<T> send, Memory<T> receive) where T : unmanaged
    {
        if (IsIntercommunicator)
            return InterAllgatherStart(send, receive);
        CheckLength(receive.Length, (long)send.Length * Size, nameof(receive));
        long block = send.Length * (long)Unsafe.SizeOf<T>();
        var layout = Blocks.Regular(Size, block);
        var sp = send.Pin();
        var rp = receive.Pin();
        PinnedBuf<T>(sp, send.Length).CopyTo(layout.Of(PinnedBuf<T>(rp, receive.Length), Rank));
        sp.Dispose();
        return Run(BeginCollective(true, layout.Length(Rank)), rp, receive.Length, layout);

        static async ValueTask Run(CollectiveCall c, MemoryHandle rp, int rn, Blocks layout)
        {
            using (rp)
                await AllgatherAlgorithms.Run(c, PinnedBuf<T>(rp, rn), layout).ConfigureAwait(false);
        }
    }

    /// <summary>Allgatherv without blocking (MPI_Iallgatherv).</summary>
    public Task AllgathervAsync<T>(ReadOnlyMemory<T> send, Memory<T> receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements)
        where T : unmanaged => AllgathervStart(send, receive, counts, displacements).AsTask();

    /// <summary>Starts an allgatherv (MPI_Iallgatherv).</summary>
    public Request IAllgatherv<T>(ReadOnlyMemory<T> send, Memory<T> receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements)
        where T : unmanaged => ToRequest(AllgathervStart(send, receive, counts, displacements));

    private ValueTask AllgathervStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements)
        where T : unmanaged
    {
        if (IsIntercommunicator)
            return InterAllgathervStart(send, receive, counts, displacements);
        CheckPerRank(counts.Length, nameof(counts));
        CheckPerRank(displacements.Length, nameof(displacements));
        CheckLength(send.Length, counts[Rank], nameof(send));
        var layout = Blocks.Explicit(counts, displacements, true, Unsafe.SizeOf<T>(), receive.Length, nameof(counts), nameof(displacements), nameof(receive));
        var sp = send.Pin();
        var rp = receive.Pin();
        PinnedBuf<T>(sp, send.Length).CopyTo(layout.Of(PinnedBuf<T>(rp, receive.Length), Rank));
        sp.Dispose();
        return Run(BeginCollective(true, layout.Length(Rank)), rp, receive.Length, layout);

        static async ValueTask Run(CollectiveCall c, MemoryHandle rp, int rn, Blocks layout)
        {
            try
            {
                await AllgatherAlgorithms.Run(c, PinnedBuf<T>(rp, rn), layout).ConfigureAwait(false);
            }
            finally
            {
                rp.Dispose();
                layout.Return();
            }
        }
    }

    /// <summary>Alltoall without blocking (MPI_Ialltoall).</summary>
    public Task AlltoallAsync<T>(ReadOnlyMemory<T> send, Memory<T> receive) where T : unmanaged => AlltoallStart(send, receive).AsTask();

    /// <inheritdoc cref="AlltoallAsync{T}(ReadOnlyMemory{T}, Memory{T})"/>
    public Task AlltoallAsync<T>(T[] send, T[] receive) where T : unmanaged =>
        AlltoallStart(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive))).AsTask();

    /// <summary>Starts an alltoall (MPI_Ialltoall).</summary>
    public Request IAlltoall<T>(ReadOnlyMemory<T> send, Memory<T> receive) where T : unmanaged => ToRequest(AlltoallStart(send, receive));

    /// <inheritdoc cref="IAlltoall{T}(ReadOnlyMemory{T}, Memory{T})"/>
    public Request IAlltoall<T>(T[] send, T[] receive) where T : unmanaged =>
        ToRequest(AlltoallStart(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive))));

    private ValueTask AlltoallStart<T>(ReadOnlyMemory<T> send, Memory<T> receive) where T : unmanaged
    {
        if (IsIntercommunicator)
            return InterAlltoallStart(send, receive);
        CheckBlocks(send.Length, nameof(send));
        CheckLength(receive.Length, send.Length, nameof(receive));
        return Run(BeginCollective(true, Bytes<T>(send.Length)), send.Pin(), send.Length, receive.Pin(), receive.Length, send.Length / Size * (long)Unsafe.SizeOf<T>());

        static async ValueTask Run(CollectiveCall c, MemoryHandle sp, int sn, MemoryHandle rp, int rn, long block)
        {
            using (sp)
            using (rp)
                await AlltoallAlgorithms.Alltoall(c, PinnedBuf<T>(sp, sn), PinnedBuf<T>(rp, rn), block).ConfigureAwait(false);
        }
    }

    /// <summary>Alltoallv without blocking (MPI_Ialltoallv); counts and displacements in elements.</summary>
    public Task AlltoallvAsync<T>(ReadOnlyMemory<T> send, ReadOnlySpan<int> sendCounts, ReadOnlySpan<int> sendDisplacements,
        Memory<T> receive, ReadOnlySpan<int> receiveCounts, ReadOnlySpan<int> receiveDisplacements) where T : unmanaged =>
        AlltoallvStart(send, sendCounts, sendDisplacements, receive, receiveCounts, receiveDisplacements).AsTask();

    /// <summary>Starts an alltoallv (MPI_Ialltoallv).</summary>
    public Request IAlltoallv<T>(ReadOnlyMemory<T> send, ReadOnlySpan<int> sendCounts, ReadOnlySpan<int> sendDisplacements,
        Memory<T> receive, ReadOnlySpan<int> receiveCounts, ReadOnlySpan<int> receiveDisplacements) where T : unmanaged =>
        ToRequest(AlltoallvStart(send, sendCounts, sendDisplacements, receive, receiveCounts, receiveDisplacements));

    /// <summary>Alltoallw over bytes without blocking (MPI_Ialltoallw); counts and displacements in bytes.</summary>
    public Task AlltoallwAsync(ReadOnlyMemory<byte> send, ReadOnlySpan<int> sendCounts, ReadOnlySpan<int> sendDisplacements,
        Memory<byte> receive, ReadOnlySpan<int> receiveCounts, ReadOnlySpan<int> receiveDisplacements) =>
        AlltoallvStart(send, sendCounts, sendDisplacements, receive, receiveCounts, receiveDisplacements).AsTask();

    /// <summary>Starts an alltoallw over bytes (MPI_Ialltoallw).</summary>
    public Request IAlltoallw(ReadOnlyMemory<byte> send, ReadOnlySpan<int> sendCounts, ReadOnlySpan<int> sendDisplacements,
        Memory<byte> receive, ReadOnlySpan<int> receiveCounts, ReadOnlySpan<int> receiveDisplacements) =>
        ToRequest(AlltoallvStart(send, sendCounts, sendDisplacements, receive, receiveCounts, receiveDisplacements));

    private ValueTask AlltoallvStart<T>(ReadOnlyMemory<T> send, ReadOnlySpan<int> sendCounts, ReadOnlySpan<int> sendDisplacements,
        Memory<T> receive, ReadOnlySpan<int> receiveCounts, ReadOnlySpan<int> receiveDisplacements) where T : unmanaged
    {
        if (IsIntercommunicator)
            return InterAlltoallvStart(send, sendCounts, sendDisplacements, receive, receiveCounts, receiveDisplacements);
        CheckPerRank(sendCounts.Length, nameof(sendCounts));
        CheckPerRank(sendDisplacements.Length, nameof(sendDisplacements));
        CheckPerRank(receiveCounts.Length, nameof(receiveCounts));
        CheckPerRank(receiveDisplacements.Length, nameof(receiveDisplacements));
        var sl = Blocks.Explicit(sendCounts, sendDisplacements, true, Unsafe.SizeOf<T>(), send.Length, nameof(sendCounts), nameof(sendDisplacements), nameof(send));
        Blocks rl;
        try
        {
            rl = Blocks.Explicit(receiveCounts, receiveDisplacements, true, Unsafe.SizeOf<T>(), receive.Length, nameof(receiveCounts), nameof(receiveDisplacements), nameof(receive));
        }
        catch
        {
            sl.Return();
            throw;
        }
        return Run(BeginCollective(true, sl.Total), send.Pin(), send.Length, sl, receive.Pin(), receive.Length, rl);

        static async ValueTask Run(CollectiveCall c, MemoryHandle sp, int sn, Blocks sl, MemoryHandle rp, int rn, Blocks rl)
        {
            try
            {
                await AlltoallAlgorithms.Alltoallv(c, PinnedBuf<T>(sp, sn), sl, PinnedBuf<T>(rp, rn), rl).ConfigureAwait(false);
            }
            finally
            {
                sp.Dispose();
                rp.Dispose();
                sl.Return();
                rl.Return();
            }
        }
    }

    // ------------------------------------------------------------------ reductions

    /// <summary>Reduce without blocking (MPI_Ireduce); <paramref name="receive"/> is used at the root only.</summary>
    public Task ReduceAsync<T>(ReadOnlyMemory<T> send, Memory<T> receive, Op op, int root) where T : unmanaged =>
        ReduceStart(send, receive, ReducerOf<T>(op), root).AsTask();

    /// <inheritdoc cref="ReduceAsync{T}(ReadOnlyMemory{T}, Memory{T}, Op, int)"/>
    public Task ReduceAsync<T>(T[] send, T[]? receive, Op op, int root) where T : unmanaged =>
        ReduceStart(NotNull(send, nameof(send)), receive, ReducerOf<T>(op), root).AsTask();

    /// <summary>Starts a reduce (MPI_Ireduce).</summary>
    public Request IReduce<T>(ReadOnlyMemory<T> send, Memory<T> receive, Op op, int root) where T : unmanaged =>
        ToRequest(ReduceStart(send, receive, ReducerOf<T>(op), root));

    /// <inheritdoc cref="IReduce{T}(ReadOnlyMemory{T}, Memory{T}, Op, int)"/>
    public Request IReduce<T>(T[] send, T[]? receive, Op op, int root) where T : unmanaged =>
        ToRequest(ReduceStart(NotNull(send, nameof(send)), receive, ReducerOf<T>(op), root));

    private ValueTask ReduceStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, Reducer op, int root) where T : unmanaged
    {
        if (IsIntercommunicator)
            return InterReduceStart(send, receive, op, root);
        CheckRoot(root);
        if (Rank == root)
            CheckLength(receive.Length, send.Length, nameof(receive));
        return Run(BeginCollective(true, Bytes<T>(send.Length), op), send.Pin(), send.Length, receive.Pin(), receive.Length, op, root);

        static async ValueTask Run(CollectiveCall c, MemoryHandle sp, int sn, MemoryHandle rp, int rn, Reducer op, int root)
        {
            using (sp)
            using (rp)
                await ReduceAlgorithms.Run(c, PinnedBuf<T>(sp, sn), PinnedBuf<T>(rp, rn), op, root).ConfigureAwait(false);
        }
    }

    /// <summary>Allreduce without blocking (MPI_Iallreduce); <paramref name="send"/> may be <paramref name="receive"/> (in place).</summary>
    public Task AllreduceAsync<T>(ReadOnlyMemory<T> send, Memory<T> receive, Op op) where T : unmanaged =>
        AllreduceStart(send, receive, ReducerOf<T>(op)).AsTask();

    /// <inheritdoc cref="AllreduceAsync{T}(ReadOnlyMemory{T}, Memory{T}, Op)"/>
    public Task AllreduceAsync<T>(T[] send, T[] receive, Op op) where T : unmanaged =>
        AllreduceStart(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive)), ReducerOf<T>(op)).AsTask();

    /// <summary>Allreduce in place without blocking (MPI_Iallreduce).</summary>
    public Task AllreduceAsync<T>(T[] buffer, Op op) where T : unmanaged =>
        AllreduceStart(NotNull(buffer, nameof(buffer)), buffer, ReducerOf<T>(op)).AsTask();

    /// <summary>Allreduce with a user operator type without blocking (MPI_Iallreduce).</summary>
    public Task AllreduceAsync<T, TOp>(ReadOnlyMemory<T> send, Memory<T> receive) where T : unmanaged where TOp : IReduceOp<T> =>
        AllreduceStart(send, receive, UserReducer<T, TOp>.Instance).AsTask();

    /// <summary>Allreduce with a lambda without blocking (MPI_Iallreduce).</summary>
    public Task AllreduceAsync<T>(ReadOnlyMemory<T> send, Memory<T> receive, Func<T, T, T> op, bool commutative = true) where T : unmanaged =>
        AllreduceStart(send, receive, ReducerOf(op, commutative)).AsTask();

    /// <summary>Starts an allreduce (MPI_Iallreduce); <paramref name="send"/> may be <paramref name="receive"/> (in place).</summary>
    public Request IAllreduce<T>(ReadOnlyMemory<T> send, Memory<T> receive, Op op) where T : unmanaged =>
        ToRequest(AllreduceStart(send, receive, ReducerOf<T>(op)));

    /// <inheritdoc cref="IAllreduce{T}(ReadOnlyMemory{T}, Memory{T}, Op)"/>
    public Request IAllreduce<T>(T[] send, T[] receive, Op op) where T : unmanaged =>
        ToRequest(AllreduceStart(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive)), ReducerOf<T>(op)));

    /// <summary>Starts an allreduce in place (MPI_Iallreduce).</summary>
    public Request IAllreduce<T>(T[] buffer, Op op) where T : unmanaged =>
        ToRequest(AllreduceStart(NotNull(buffer, nameof(buffer)), buffer, ReducerOf<T>(op)));

    /// <summary>Starts an allreduce with a user operator type (MPI_Iallreduce).</summary>
    public Request IAllreduce<T, TOp>(ReadOnlyMemory<T> send, Memory<T> receive) where T : unmanaged where TOp : IReduceOp<T> =>
        ToRequest(AllreduceStart(send, receive, UserReducer<T, TOp>.Instance));

    /// <summary>Starts an allreduce with a lambda (MPI_Iallreduce).</summary>
    public Request IAllreduce<T>(ReadOnlyMemory<T> send, Memory<T> receive, Func<T, T, T> op, bool commutative = true) where T : unmanaged =>
        ToRequest(AllreduceStart(send, receive, ReducerOf(op, commutative)));

    private ValueTask AllreduceStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, Reducer op) where T : unmanaged
    {
        if (IsIntercommunicator)
            return InterAllreduceStart(send, receive, op);
        CheckLength(receive.Length, send.Length, nameof(receive));
        return Run(BeginCollective(true, Bytes<T>(send.Length), op), send.Pin(), send.Length, receive.Pin(), receive.Length, op);

        static async ValueTask Run(CollectiveCall c, MemoryHandle sp, int sn, MemoryHandle rp, int rn, Reducer op)
        {
            using (sp)
            using (rp)
                await AllreduceAlgorithms.Run(c, PinnedBuf<T>(sp, sn), PinnedBuf<T>(rp, rn), op).ConfigureAwait(false);
        }
    }

    /// <summary>Reduce-scatter without blocking (MPI_Ireduce_scatter).</summary>
    public Task ReduceScatterAsync<T>(ReadOnlyMemory<T> send, Memory<T> receive, ReadOnlySpan<int> counts, Op op) where T : unmanaged =>
        ReduceScatterStart(send, receive, counts, ReducerOf<T>(op)).AsTask();

    /// <summary>Starts a reduce-scatter (MPI_Ireduce_scatter).</summary>
    public Request IReduceScatter<T>(ReadOnlyMemory<T> send, Memory<T> receive, ReadOnlySpan<int> counts, Op op) where T : unmanaged =>
        ToRequest(ReduceScatterStart(send, receive, counts, ReducerOf<T>(op)));

    /// <summary>Reduce-scatter-block without blocking (MPI_Ireduce_scatter_block).</summary>
    public Task ReduceScatterBlockAsync<T>(ReadOnlyMemory<T> send, Memory<T> receive, Op op) where T : unmanaged =>
        ReduceScatterBlockStart(send, receive, ReducerOf<T>(op)).AsTask();

    /// <summary>Starts a reduce-scatter-block (MPI_Ireduce_scatter_block).</summary>
    public Request IReduceScatterBlock<T>(ReadOnlyMemory<T> send, Memory<T> receive, Op op) where T : unmanaged =>
        ToRequest(ReduceScatterBlockStart(send, receive, ReducerOf<T>(op)));

    private ValueTask ReduceScatterStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, ReadOnlySpan<int> counts, Reducer op) where T : unmanaged
    {
        if (IsIntercommunicator)
            return InterReduceScatterStart(send, receive, counts, op);
        CheckPerRank(counts.Length, nameof(counts));
        CheckLength(receive.Length, counts[Rank], nameof(receive));
        var layout = Blocks.Explicit(counts, default, false, Unsafe.SizeOf<T>(), send.Length, nameof(counts), nameof(counts), nameof(send));
        return ReduceScatterRun<T>(BeginCollective(true, Bytes<T>(send.Length), op), send.Pin(), send.Length, receive.Pin(), receive.Length, layout, op);
    }

    private ValueTask ReduceScatterBlockStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, Reducer op) where T : unmanaged
    {
        if (IsIntercommunicator)
            return InterReduceScatterBlockStart(send, receive, op);
        CheckLength(send.Length, (long)receive.Length * Size, nameof(send));
        var layout = Blocks.Regular(Size, receive.Length * (long)Unsafe.SizeOf<T>());
        return ReduceScatterRun<T>(BeginCollective(true, Bytes<T>(send.Length), op), send.Pin(), send.Length, receive.Pin(), receive.Length, layout, op);
    }

    private static async ValueTask ReduceScatterRun<T>(CollectiveCall c, MemoryHandle sp, int sn, MemoryHandle rp, int rn, Blocks layout, Reducer op)
        where T : unmanaged
    {
        try
        {
            var sb = PinnedBuf<T>(sp, sn).Slice(0, layout.Total);
            var rb = PinnedBuf<T>(rp, rn).Slice(0, layout.Length(c.Rank));
            await ReduceScatterAlgorithms.Run(c, sb, rb, layout, op).ConfigureAwait(false);
        }
        finally
        {
            sp.Dispose();
            rp.Dispose();
            layout.Return();
        }
    }

    /// <summary>Inclusive scan without blocking (MPI_Iscan).</summary>
    public Task ScanAsync<T>(ReadOnlyMemory<T> send, Memory<T> receive, Op op) where T : unmanaged =>
        ScanStart(send, receive, ReducerOf<T>(op), false).AsTask();

    /// <summary>Starts an inclusive scan (MPI_Iscan).</summary>
    public Request IScan<T>(ReadOnlyMemory<T> send, Memory<T> receive, Op op) where T : unmanaged =>
        ToRequest(ScanStart(send, receive, ReducerOf<T>(op), false));

    /// <summary>Exclusive scan without blocking (MPI_Iexscan); rank 0's receive is left unchanged.</summary>
    public Task ExclusiveScanAsync<T>(ReadOnlyMemory<T> send, Memory<T> receive, Op op) where T : unmanaged =>
        ScanStart(send, receive, ReducerOf<T>(op), true).AsTask();

    /// <summary>Starts an exclusive scan (MPI_Iexscan).</summary>
    public Request IExclusiveScan<T>(ReadOnlyMemory<T> send, Memory<T> receive, Op op) where T : unmanaged =>
        ToRequest(ScanStart(send, receive, ReducerOf<T>(op), true));

    private ValueTask ScanStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, Reducer op, bool exclusive) where T : unmanaged
    {
        CheckLength(receive.Length, send.Length, nameof(receive));
        return Run(BeginCollective(true, Bytes<T>(send.Length), op), send.Pin(), send.Length, receive.Pin(), receive.Length, op, exclusive);

        static async ValueTask Run(CollectiveCall c, MemoryHandle sp, int sn, MemoryHandle rp, int rn, Reducer op, bool exclusive)
        {
            using (sp)
            using (rp)
                await ScanAlgorithms.Run(c, PinnedBuf<T>(sp, sn), PinnedBuf<T>(rp, rn), op, exclusive).ConfigureAwait(false);
        }
    }
    // ------------------------------------------------------------------ array overloads (T is not inferred from an array for Memory<T>)

    /// <inheritdoc cref="GathervAsync{T}(ReadOnlyMemory{T}, Memory{T}, ReadOnlySpan{int}, ReadOnlySpan{int}, int)"/>
    public Task GathervAsync<T>(T[] send, T[]? receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, int root) where T : unmanaged =>
        GathervAsync(NotNull(send, nameof(send)), (Memory<T>)receive, counts, displacements, root);

    /// <inheritdoc cref="IGatherv{T}(ReadOnlyMemory{T}, Memory{T}, ReadOnlySpan{int}, ReadOnlySpan{int}, int)"/>
    public Request IGatherv<T>(T[] send, T[]? receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, int root) where T : unmanaged =>
        IGatherv(NotNull(send, nameof(send)), (Memory<T>)receive, counts, displacements, root);

    /// <inheritdoc cref="ScattervAsync{T}(ReadOnlyMemory{T}, ReadOnlySpan{int}, ReadOnlySpan{int}, Memory{T}, int)"/>
    public Task ScattervAsync<T>(T[]? send, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, T[] receive, int root) where T : unmanaged =>
        ScattervAsync(send, counts, displacements, NotNullMemory(receive, nameof(receive)), root);

    /// <inheritdoc cref="IScatterv{T}(ReadOnlyMemory{T}, ReadOnlySpan{int}, ReadOnlySpan{int}, Memory{T}, int)"/>
    public Request IScatterv<T>(T[]? send, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, T[] receive, int root) where T : unmanaged =>
        IScatterv(send, counts, displacements, NotNullMemory(receive, nameof(receive)), root);

    /// <inheritdoc cref="AllgathervAsync{T}(ReadOnlyMemory{T}, Memory{T}, ReadOnlySpan{int}, ReadOnlySpan{int})"/>
    public Task AllgathervAsync<T>(T[] send, T[] receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements) where T : unmanaged =>
        AllgathervAsync(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive)), counts, displacements);

    /// <inheritdoc cref="IAllgatherv{T}(ReadOnlyMemory{T}, Memory{T}, ReadOnlySpan{int}, ReadOnlySpan{int})"/>
    public Request IAllgatherv<T>(T[] send, T[] receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements) where T : unmanaged =>
        IAllgatherv(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive)), counts, displacements);

    /// <inheritdoc cref="AlltoallvAsync{T}(ReadOnlyMemory{T}, ReadOnlySpan{int}, ReadOnlySpan{int}, Memory{T}, ReadOnlySpan{int}, ReadOnlySpan{int})"/>
    public Task AlltoallvAsync<T>(T[] send, ReadOnlySpan<int> sendCounts, ReadOnlySpan<int> sendDisplacements,
        T[] receive, ReadOnlySpan<int> receiveCounts, ReadOnlySpan<int> receiveDisplacements) where T : unmanaged =>
        AlltoallvAsync(NotNull(send, nameof(send)), sendCounts, sendDisplacements, NotNullMemory(receive, nameof(receive)), receiveCounts, receiveDisplacements);

    /// <inheritdoc cref="IAlltoallv{T}(ReadOnlyMemory{T}, ReadOnlySpan{int}, ReadOnlySpan{int}, Memory{T}, ReadOnlySpan{int}, ReadOnlySpan{int})"/>
    public Request IAlltoallv<T>(T[] send, ReadOnlySpan<int> sendCounts, ReadOnlySpan<int> sendDisplacements,
        T[] receive, ReadOnlySpan<int> receiveCounts, ReadOnlySpan<int> receiveDisplacements) where T : unmanaged =>
        IAlltoallv(NotNull(send, nameof(send)), sendCounts, sendDisplacements, NotNullMemory(receive, nameof(receive)), receiveCounts, receiveDisplacements);

    /// <inheritdoc cref="AllreduceAsync{T, TOp}(ReadOnlyMemory{T}, Memory{T})"/>
    public Task AllreduceAsync<T, TOp>(T[] send, T[] receive) where T : unmanaged where TOp : IReduceOp<T> =>
        AllreduceAsync<T, TOp>(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive)));

    /// <inheritdoc cref="AllreduceAsync{T}(ReadOnlyMemory{T}, Memory{T}, Func{T, T, T}, bool)"/>
    public Task AllreduceAsync<T>(T[] send, T[] receive, Func<T, T, T> op, bool commutative = true) where T : unmanaged =>
        AllreduceAsync(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive)), op, commutative);

    /// <inheritdoc cref="IAllreduce{T, TOp}(ReadOnlyMemory{T}, Memory{T})"/>
    public Request IAllreduce<T, TOp>(T[] send, T[] receive) where T : unmanaged where TOp : IReduceOp<T> =>
        IAllreduce<T, TOp>(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive)));

    /// <inheritdoc cref="IAllreduce{T}(ReadOnlyMemory{T}, Memory{T}, Func{T, T, T}, bool)"/>
    public Request IAllreduce<T>(T[] send, T[] receive, Func<T, T, T> op, bool commutative = true) where T : unmanaged =>
        IAllreduce(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive)), op, commutative);

    /// <inheritdoc cref="ReduceScatterAsync{T}(ReadOnlyMemory{T}, Memory{T}, ReadOnlySpan{int}, Op)"/>
    public Task ReduceScatterAsync<T>(T[] send, T[] receive, ReadOnlySpan<int> counts, Op op) where T : unmanaged =>
        ReduceScatterAsync(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive)), counts, op);

    /// <inheritdoc cref="IReduceScatter{T}(ReadOnlyMemory{T}, Memory{T}, ReadOnlySpan{int}, Op)"/>
    public Request IReduceScatter<T>(T[] send, T[] receive, ReadOnlySpan<int> counts, Op op) where T : unmanaged =>
        IReduceScatter(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive)), counts, op);

    /// <inheritdoc cref="ReduceScatterBlockAsync{T}(ReadOnlyMemory{T}, Memory{T}, Op)"/>
    public Task ReduceScatterBlockAsync<T>(T[] send, T[] receive, Op op) where T : unmanaged =>
        ReduceScatterBlockAsync(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive)), op);

    /// <inheritdoc cref="IReduceScatterBlock{T}(ReadOnlyMemory{T}, Memory{T}, Op)"/>
    public Request IReduceScatterBlock<T>(T[] send, T[] receive, Op op) where T : unmanaged =>
        IReduceScatterBlock(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive)), op);

    /// <inheritdoc cref="ScanAsync{T}(ReadOnlyMemory{T}, Memory{T}, Op)"/>
    public Task ScanAsync<T>(T[] send, T[] receive, Op op) where T : unmanaged =>
        ScanAsync(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive)), op);

    /// <inheritdoc cref="IScan{T}(ReadOnlyMemory{T}, Memory{T}, Op)"/>
    public Request IScan<T>(T[] send, T[] receive, Op op) where T : unmanaged =>
        IScan(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive)), op);

    /// <inheritdoc cref="ExclusiveScanAsync{T}(ReadOnlyMemory{T}, Memory{T}, Op)"/>
    public Task ExclusiveScanAsync<T>(T[] send, T[] receive, Op op) where T : unmanaged =>
        ExclusiveScanAsync(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive)), op);

    /// <inheritdoc cref="IExclusiveScan{T}(ReadOnlyMemory{T}, Memory{T}, Op)"/>
    public Request IExclusiveScan<T>(T[] send, T[] receive, Op op) where T : unmanaged =>
        IExclusiveScan(NotNull(send, nameof(send)), NotNullMemory(receive, nameof(receive)), op);
}
