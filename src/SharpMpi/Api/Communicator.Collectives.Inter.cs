using System.Runtime.CompilerServices;
using SharpMpi.Collectives;

namespace SharpMpi;

// Collectives on intercommunicators (MPI-4 §6.2.2): data flows between the two groups. Rooted operations
// take root = Communicator.Root at the root, Communicator.ProcNull at the other ranks of the root's group,
// and the root's rank in the remote group everywhere in the other group. Gather, scatter, allgather and
// alltoall blocks are indexed by remote rank; reductions combine the remote group's contributions in its
// rank order. Steps within one group run on the intercommunicator's private local communicator, steps
// between the groups on its collective context (rank 0 of each group is its leader).
public partial class Communicator
{
    private bool IsIntercommunicator => !ReferenceEquals(_peerWorldRanks, _worldRanks);

    private int RemoteCount => _peerWorldRanks.Length;

    /// <summary>The local group's own communicator of an intercommunicator.</summary>
    private Communicator LocalGroup => ((Intercommunicator)this).LocalCommunicator;

    /// <summary>A call on the intercommunicator's collective context (messages addressed to remote ranks).</summary>
    private CollectiveCall BeginInter([CallerMemberName] string name = "")
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var call = new CollectiveCall(this, false);
        if (Diagnostics.CollectiveTrace.IsOn(Engine))
            Diagnostics.CollectiveTrace.Enter(this, name, Volatile.Read(ref _collectiveSequence), false);
        return call;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowNotOnInter(string name) =>
        throw new MpiException(ErrorClass.Unsupported,
            $"{name} is not available on intercommunicator '{Name}': only the blocking Barrier, Broadcast, Gather(v), Scatter(v), " +
            "Allgather(v), Alltoall(v/w), Reduce, Allreduce, ReduceScatter and ReduceScatterBlock are (MPI defines no scans or " +
            "in-place forms there; nonblocking and object collectives on intercommunicators are not implemented).");

    private void CheckInterRoot(int root, string name)
    {
        if (root is Root or ProcNull || (uint)root < (uint)RemoteCount)
            return;
        throw new ArgumentOutOfRangeException(name, root,
            $"{name} is {root}; on an intercommunicator it is Communicator.Root (the root), Communicator.ProcNull (the root's group) " +
            $"or the root's rank in the remote group, 0..{RemoteCount - 1}.");
    }

    private void CheckRemoteBlocks(long length, string name)
    {
        if (length % RemoteCount != 0)
            throw new ArgumentException($"{name} holds {length} elements, not a multiple of the remote group size {RemoteCount}.", name);
    }

    private void CheckPerRemoteRank(int length, string name)
    {
        if (length != RemoteCount)
            throw new ArgumentException($"{name} has {length} entries; one per remote rank ({RemoteCount}) is needed.", name);
    }

    private static void Finish(CollectiveCall c, RequestCoreBatch batch) => CollectiveCall.Wait(c.WaitAll(batch.Requests, batch.Count));

    /// <summary>Pooled requests in flight of one call.</summary>
    private struct RequestCoreBatch(int capacity)
    {
        public Engine.RequestCore[] Requests = CollectiveCall.RentBatch(capacity);
        public int Count;

        public void Add(Engine.RequestCore r) => Requests[Count++] = r;

        public readonly void Return() => CollectiveCall.ReturnBatch(Requests);
    }

    // ------------------------------------------------------------------ barrier, broadcast

    private void InterBarrier()
    {
        var c = BeginInter();
        try
        {
            // Nobody leaves the second local barrier before its leader has heard from the other group's leader,
            // which entered the exchange only after its whole group arrived.
            LocalGroup.Barrier();
            if (Rank == 0)
                c.SendReceiveNow(default, 0, default, 0, 0);
            LocalGroup.Barrier();
        }
        finally
        {
            Diagnostics.CollectiveTrace.Exit();
        }
    }

    private unsafe void InterBroadcast<T>(Span<T> buffer, int root) where T : unmanaged
    {
        CheckInterRoot(root, nameof(root));
        var c = BeginInter();
        try
        {
            fixed (T* p = buffer)
            {
                var b = B(p, buffer.Length);
                if (root == Root)
                {
                    c.SendNow(b, 0, 0);
                }
                else if (root != ProcNull)
                {
                    if (Rank == 0)
                        c.ReceiveNow(b, root, 0);
                    LocalGroup.Broadcast(buffer, 0);
                }
            }
        }
        finally
        {
            Diagnostics.CollectiveTrace.Exit();
        }
    }

    // ------------------------------------------------------------------ gather, scatter

    /// <summary>Gather(v): the root receives remote rank i's block into <paramref name="layout"/> block i.</summary>
    private void InterGather(Buf send, Buf receive, Blocks layout, int root)
    {
        var c = BeginInter();
        try
        {
            if (root == Root)
            {
                var batch = new RequestCoreBatch(RemoteCount);
                try
                {
                    for (int i = 0; i < RemoteCount; i++)
                        batch.Add(c.StartReceive(layout.Of(receive, i), i, 0));
                    Finish(c, batch);
                }
                finally
                {
                    batch.Return();
                }
            }
            else if (root != ProcNull)
            {
                c.SendNow(send, root, 0);
            }
        }
        finally
        {
            Diagnostics.CollectiveTrace.Exit();
        }
    }

    /// <summary>Scatter(v): the root sends <paramref name="layout"/> block i to remote rank i.</summary>
    private void InterScatter(Buf send, Blocks layout, Buf receive, int root)
    {
        var c = BeginInter();
        try
        {
            if (root == Root)
            {
                var batch = new RequestCoreBatch(RemoteCount);
                try
                {
                    for (int i = 0; i < RemoteCount; i++)
                        batch.Add(c.StartSend(layout.Of(send, i), i, 0));
                    Finish(c, batch);
                }
                finally
                {
                    batch.Return();
                }
            }
            else if (root != ProcNull)
            {
                c.ReceiveNow(receive, root, 0);
            }
        }
        finally
        {
            Diagnostics.CollectiveTrace.Exit();
        }
    }

    private unsafe void InterGather<T>(ReadOnlySpan<T> send, Span<T> receive, int root) where T : unmanaged
    {
        CheckInterRoot(root, nameof(root));
        if (root == Root)
            CheckRemoteBlocks(receive.Length, nameof(receive));
        fixed (T* s = send)
        fixed (T* r = receive)
        {
            var layout = Blocks.Regular(RemoteCount, root == Root ? receive.Length / RemoteCount * (long)sizeof(T) : 0);
            InterGather(B(s, send.Length), B(r, receive.Length), layout, root);
        }
    }

    private unsafe void InterGatherv<T>(ReadOnlySpan<T> send, Span<T> receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements,
        bool hasDisplacements, int root) where T : unmanaged
    {
        CheckInterRoot(root, nameof(root));
        var layout = default(Blocks);
        if (root == Root)
        {
            CheckPerRemoteRank(counts.Length, nameof(counts));
            if (hasDisplacements)
                CheckPerRemoteRank(displacements.Length, nameof(displacements));
            layout = Blocks.Explicit(counts, displacements, hasDisplacements, sizeof(T), receive.Length, nameof(counts), nameof(displacements), nameof(receive));
        }
        try
        {
            fixed (T* s = send)
            fixed (T* r = receive)
                InterGather(B(s, send.Length), B(r, receive.Length), layout, root);
        }
        finally
        {
            layout.Return();
        }
    }

    private unsafe void InterScatter<T>(ReadOnlySpan<T> send, Span<T> receive, int root) where T : unmanaged
    {
        CheckInterRoot(root, nameof(root));
        if (root == Root)
            CheckRemoteBlocks(send.Length, nameof(send));
        fixed (T* s = send)
        fixed (T* r = receive)
        {
            var layout = Blocks.Regular(RemoteCount, root == Root ? send.Length / RemoteCount * (long)sizeof(T) : 0);
            InterScatter(B(s, send.Length), layout, B(r, receive.Length), root);
        }
    }

    private unsafe void InterScatterv<T>(ReadOnlySpan<T> send, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, bool hasDisplacements,
        Span<T> receive, int root) where T : unmanaged
    {
        CheckInterRoot(root, nameof(root));
        var layout = default(Blocks);
        if (root == Root)
        {
            CheckPerRemoteRank(counts.Length, nameof(counts));
            if (hasDisplacements)
                CheckPerRemoteRank(displacements.Length, nameof(displacements));
            layout = Blocks.Explicit(counts, displacements, hasDisplacements, sizeof(T), send.Length, nameof(counts), nameof(displacements), nameof(send));
        }
        try
        {
            fixed (T* s = send)
            fixed (T* r = receive)
                InterScatter(B(s, send.Length), layout, B(r, receive.Length), root);
        }
        finally
        {
            layout.Return();
        }
    }

    // ------------------------------------------------------------------ allgather, alltoall

    /// <summary>
    /// Every rank sends <paramref name="sendLayout"/> block i to remote rank i and receives remote rank i's block
    /// into <paramref name="receiveLayout"/> block i (allgather: every send block is the whole send buffer).
    /// </summary>
    private void InterExchange(Buf send, Blocks sendLayout, bool sameBlock, Buf receive, Blocks receiveLayout)
    {
        var c = BeginInter();
        var batch = new RequestCoreBatch(2 * RemoteCount);
        try
        {
            for (int i = 0; i < RemoteCount; i++)
                batch.Add(c.StartReceive(receiveLayout.Of(receive, i), i, 0));
            for (int i = 0; i < RemoteCount; i++)
                batch.Add(c.StartSend(sameBlock ? send : sendLayout.Of(send, i), i, 0));
            Finish(c, batch);
        }
        finally
        {
            batch.Return();
            Diagnostics.CollectiveTrace.Exit();
        }
    }

    private unsafe void InterAllgather<T>(ReadOnlySpan<T> send, Span<T> receive) where T : unmanaged
    {
        CheckRemoteBlocks(receive.Length, nameof(receive));
        fixed (T* s = send)
        fixed (T* r = receive)
            InterExchange(B(s, send.Length), default, true, B(r, receive.Length), Blocks.Regular(RemoteCount, receive.Length / RemoteCount * (long)sizeof(T)));
    }

    private unsafe void InterAllgatherv<T>(ReadOnlySpan<T> send, Span<T> receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements,
        bool hasDisplacements) where T : unmanaged
    {
        CheckPerRemoteRank(counts.Length, nameof(counts));
        if (hasDisplacements)
            CheckPerRemoteRank(displacements.Length, nameof(displacements));
        var layout = Blocks.Explicit(counts, displacements, hasDisplacements, sizeof(T), receive.Length, nameof(counts), nameof(displacements), nameof(receive));
        try
        {
            fixed (T* s = send)
            fixed (T* r = receive)
                InterExchange(B(s, send.Length), default, true, B(r, receive.Length), layout);
        }
        finally
        {
            layout.Return();
        }
    }

    private unsafe void InterAlltoall<T>(ReadOnlySpan<T> send, Span<T> receive) where T : unmanaged
    {
        CheckRemoteBlocks(send.Length, nameof(send));
        CheckRemoteBlocks(receive.Length, nameof(receive));
        fixed (T* s = send)
        fixed (T* r = receive)
        {
            InterExchange(B(s, send.Length), Blocks.Regular(RemoteCount, send.Length / RemoteCount * (long)sizeof(T)), false,
                B(r, receive.Length), Blocks.Regular(RemoteCount, receive.Length / RemoteCount * (long)sizeof(T)));
        }
    }

    private unsafe void InterAlltoallv<T>(ReadOnlySpan<T> send, ReadOnlySpan<int> sendCounts, ReadOnlySpan<int> sendDisplacements,
        Span<T> receive, ReadOnlySpan<int> receiveCounts, ReadOnlySpan<int> receiveDisplacements, int elementSize) where T : unmanaged
    {
        CheckPerRemoteRank(sendCounts.Length, nameof(sendCounts));
        CheckPerRemoteRank(sendDisplacements.Length, nameof(sendDisplacements));
        CheckPerRemoteRank(receiveCounts.Length, nameof(receiveCounts));
        CheckPerRemoteRank(receiveDisplacements.Length, nameof(receiveDisplacements));
        var sl = Blocks.Explicit(sendCounts, sendDisplacements, true, elementSize, send.Length, nameof(sendCounts), nameof(sendDisplacements), nameof(send));
        try
        {
            var rl = Blocks.Explicit(receiveCounts, receiveDisplacements, true, elementSize, receive.Length, nameof(receiveCounts), nameof(receiveDisplacements), nameof(receive));
            try
            {
                fixed (T* s = send)
                fixed (T* r = receive)
                    InterExchange(B(s, send.Length), sl, false, B(r, receive.Length), rl);
            }
            finally
            {
                rl.Return();
            }
        }
        finally
        {
            sl.Return();
        }
    }

    // ------------------------------------------------------------------ reductions

    /// <summary>Blocking reduce of this (intra) communicator on raw buffers (a step of an intercommunicator collective).</summary>
    private void ReduceWithin(Buf send, Buf receive, Reducer op, int root)
    {
        var c = BeginCollective(name: "Reduce");
        try
        {
            ReduceAlgorithms.RunBlocking(c, send, receive, op, root);
        }
        finally
        {
            Diagnostics.CollectiveTrace.Exit();
        }
    }

    private unsafe void InterReduce<T>(ReadOnlySpan<T> send, Span<T> receive, Reducer op, int root) where T : unmanaged
    {
        CheckInterRoot(root, nameof(root));
        var c = BeginInter();
        try
        {
            fixed (T* s = send)
            fixed (T* r = receive)
            {
                if (root == Root)
                {
                    c.ReceiveNow(B(r, receive.Length), 0, 0);
                }
                else if (root != ProcNull)
                {
                    // The remote group reduces at its leader, in its rank order, and the leader passes the result on.
                    var sb = B(s, send.Length);
                    using var temp = Rank == 0 ? TempBuffer.Rent(sb.Length) : default;
                    var result = Rank == 0 ? temp.Buf : default;
                    LocalGroup.ReduceWithin(sb, result, op, 0);
                    if (Rank == 0)
                        c.SendNow(result, root, 0);
                }
            }
        }
        finally
        {
            Diagnostics.CollectiveTrace.Exit();
        }
    }

    /// <summary>
    /// Each group reduces at its leader; the leaders swap results into <paramref name="swapped"/> (at rank 0 only).
    /// </summary>
    private void InterReduceAndSwap(CollectiveCall c, Buf send, Buf swapped, Reducer op)
    {
        using var temp = Rank == 0 ? TempBuffer.Rent(send.Length) : default;
        var mine = Rank == 0 ? temp.Buf : default;
        LocalGroup.ReduceWithin(send, mine, op, 0);
        if (Rank == 0)
            c.SendReceiveNow(mine, 0, swapped, 0, 0);
    }

    private unsafe void InterAllreduce<T>(ReadOnlySpan<T> send, Span<T> receive, Reducer op) where T : unmanaged
    {
        CheckLength(receive.Length, send.Length, nameof(receive));
        var c = BeginInter();
        try
        {
            fixed (T* s = send)
            fixed (T* r = receive)
            {
                var sb = B(s, send.Length);
                var rb = B(r, receive.Length).Slice(0, sb.Length);
                // In place is safe: a rank's send buffer has been consumed by the local reduce before the broadcast writes.
                InterReduceAndSwap(c, sb, rb, op);
                LocalGroup.Broadcast(receive[..send.Length], 0);
            }
        }
        finally
        {
            Diagnostics.CollectiveTrace.Exit();
        }
    }

    /// <summary>ReduceScatter(Block): the other group's reduction, split over this group by <paramref name="layout"/>.</summary>
    private void InterReduceScatter(Buf send, Buf receive, Blocks layout, Reducer op)
    {
        var c = BeginInter();
        try
        {
            using var swapped = Rank == 0 ? TempBuffer.Rent(send.Length) : default;
            InterReduceAndSwap(c, send, swapped.Buf, op);
            var local = LocalGroup;
            var cl = local.BeginCollective(name: "Scatterv");
            CollectiveCall.Complete(local.Size == 1
                ? CopyOwn(layout.Of(swapped.Buf, 0), receive)
                : GatherScatterAlgorithms.LinearScatter(cl, swapped.Buf, layout, receive, 0));
        }
        finally
        {
            Diagnostics.CollectiveTrace.Exit();
        }
    }

    private unsafe void InterReduceScatter<T>(ReadOnlySpan<T> send, Span<T> receive, ReadOnlySpan<int> counts, Reducer op) where T : unmanaged
    {
        CheckPerRank(counts.Length, nameof(counts));
        var layout = Blocks.Explicit(counts, default, false, sizeof(T), send.Length, nameof(counts), nameof(counts), nameof(send));
        try
        {
            CheckLength(receive.Length, counts[Rank], nameof(receive));
            fixed (T* s = send)
            fixed (T* r = receive)
                InterReduceScatter(B(s, send.Length).Slice(0, layout.Total), B(r, receive.Length).Slice(0, layout.Length(Rank)), layout, op);
        }
        finally
        {
            layout.Return();
        }
    }

    private unsafe void InterReduceScatterBlock<T>(ReadOnlySpan<T> send, Span<T> receive, Reducer op) where T : unmanaged
    {
        CheckLength(send.Length, (long)receive.Length * Size, nameof(send));
        var layout = Blocks.Regular(Size, receive.Length * (long)sizeof(T));
        fixed (T* s = send)
        fixed (T* r = receive)
            InterReduceScatter(B(s, send.Length).Slice(0, layout.Total), B(r, receive.Length), layout, op);
    }
}
