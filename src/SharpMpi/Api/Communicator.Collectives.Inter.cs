using System.Buffers;
using System.Runtime.CompilerServices;
using SharpMpi.Collectives;

namespace SharpMpi;

// Collectives on intercommunicators (MPI-4 §6.2.2): data flows between the two groups. Rooted operations
// take root = Communicator.Root at the root, Communicator.ProcNull at the other ranks of the root's group,
// and the root's rank in the remote group everywhere in the other group. Gather, scatter, allgather and
// alltoall blocks are indexed by remote rank; reductions combine the remote group's contributions in its
// rank order. The algorithms (Collectives/InterAlgorithms) serve the blocking and the nonblocking calls alike:
// here each operation checks its arguments once, into block layouts, and hands them to InterBlocking (spans,
// fixed for the call) or InterStart (Memory, pinned until the returned work completes).
public partial class Communicator
{
    private bool IsIntercommunicator => !ReferenceEquals(_peerWorldRanks, _worldRanks);

    private int RemoteCount => _peerWorldRanks.Length;

    /// <summary>The local group's own communicator of an intercommunicator.</summary>
    private Communicator LocalGroup => ((Intercommunicator)this).LocalCommunicator;

    /// <summary>What an intercommunicator collective does with its buffers and layouts (see <see cref="InterRun"/>).</summary>
    private enum InterKind
    {
        Barrier,
        Broadcast,
        Gather,
        Scatter,
        Allgather,
        Alltoall,
        Reduce,
        Allreduce,
        ReduceScatter,
    }

    /// <summary>Takes the call's places in the collective sequences of the intercommunicator and of the local group.</summary>
    private InterCall BeginInter(bool isAsync, long bytes, Reducer? op, string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var call = new InterCall(this, LocalGroup, isAsync);
        if (Diagnostics.CollectiveTrace.IsOn(Engine))
            Diagnostics.CollectiveTrace.Enter(this, name, Volatile.Read(ref _collectiveSequence), isAsync, bytes, Diagnostics.CollectiveTrace.OpName(op));
        return call;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowNotOnInter(string name) =>
        throw new MpiException(ErrorClass.Unsupported,
            $"{name} is not defined on intercommunicator '{Name}': MPI defines no scans (Scan, ExclusiveScan, ScanObject) and no " +
            "in-place forms on intercommunicators. Merge it into an intracommunicator (Intercommunicator.Merge) for those.");

    private void CheckInterRoot(int root, string name)
    {
        if (root is Root or ProcNull || (uint)root < (uint)RemoteCount)
            return;
        throw new ArgumentOutOfRangeException(name, root,
            $"{name} is {root}; on an intercommunicator it is Communicator.Root (the root), Communicator.ProcNull (the root's group) " +
            $"or the root's rank in the remote group, 0..{RemoteCount - 1}.");
    }

    private void CheckPerRemoteRank(int length, string name)
    {
        if (length != RemoteCount)
            throw new ArgumentException($"{name} has {length} entries; one per remote rank ({RemoteCount}) is needed.", name);
    }

    // ------------------------------------------------------------------ layouts (argument checks shared by both forms)

    /// <summary>One block per remote rank, all of the same size: <paramref name="length"/> elements split evenly.</summary>
    private Blocks InterRegular(long length, int elementSize, string name)
    {
        if (length % RemoteCount != 0)
            throw new ArgumentException($"{name} holds {length} elements, not a multiple of the remote group size {RemoteCount}.", name);
        return Blocks.Regular(RemoteCount, length / RemoteCount * elementSize);
    }

    /// <summary>One block per remote rank at explicit counts (and displacements, else packed) in a buffer of <paramref name="length"/> elements.</summary>
    private Blocks InterExplicit(long length, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, bool hasDisplacements, int elementSize,
        string countsName, string displacementsName, string name)
    {
        CheckPerRemoteRank(counts.Length, countsName);
        if (hasDisplacements)
            CheckPerRemoteRank(displacements.Length, displacementsName);
        return Blocks.Explicit(counts, displacements, hasDisplacements, elementSize, length, countsName, displacementsName, name);
    }

    /// <summary>Gather/Scatter: the root's regular layout of its <paramref name="length"/>-element buffer; nothing elsewhere.</summary>
    private Blocks InterRootRegular(long length, int elementSize, int root, string name)
    {
        CheckInterRoot(root, nameof(root));
        return root == Root ? InterRegular(length, elementSize, name) : default;
    }

    /// <summary>Gatherv/Scatterv: the root's explicit layout; nothing elsewhere (counts and displacements are not read there).</summary>
    private Blocks InterRootExplicit(long length, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, bool hasDisplacements, int elementSize,
        int root, string name)
    {
        CheckInterRoot(root, nameof(root));
        return root == Root ? InterExplicit(length, counts, displacements, hasDisplacements, elementSize, nameof(counts), nameof(displacements), name) : default;
    }

    /// <summary>Alltoallv/w: both explicit layouts (neither is left rented when the second is bad).</summary>
    private (Blocks Send, Blocks Receive) InterAlltoallvLayouts(long sendLength, ReadOnlySpan<int> sendCounts, ReadOnlySpan<int> sendDisplacements,
        long receiveLength, ReadOnlySpan<int> receiveCounts, ReadOnlySpan<int> receiveDisplacements, int elementSize)
    {
        var sl = InterExplicit(sendLength, sendCounts, sendDisplacements, true, elementSize, nameof(sendCounts), nameof(sendDisplacements), "send");
        try
        {
            return (sl, InterExplicit(receiveLength, receiveCounts, receiveDisplacements, true, elementSize, nameof(receiveCounts), nameof(receiveDisplacements), "receive"));
        }
        catch
        {
            sl.Return();
            throw;
        }
    }

    /// <summary>ReduceScatter: blocks of the local ranks, <paramref name="counts"/>[i] elements each, packed.</summary>
    private Blocks InterReduceScatterLayout(long sendLength, int receiveLength, ReadOnlySpan<int> counts, int elementSize)
    {
        CheckPerRank(counts.Length, nameof(counts));
        var layout = Blocks.Explicit(counts, default, false, elementSize, sendLength, nameof(counts), nameof(counts), "send");
        if (receiveLength < counts[Rank])
        {
            layout.Return();
            CheckLength(receiveLength, counts[Rank], "receive");
        }
        return layout;
    }

    /// <summary>ReduceScatterBlock: one block of <paramref name="receiveLength"/> elements per local rank.</summary>
    private Blocks InterReduceScatterBlockLayout(long sendLength, int receiveLength, int elementSize)
    {
        CheckLength(sendLength, (long)receiveLength * Size, "send");
        return Blocks.Regular(Size, receiveLength * (long)elementSize);
    }

    // ------------------------------------------------------------------ running

    private static ValueTask InterRun(InterCall c, InterKind kind, Buf send, Buf receive, Blocks sendLayout, Blocks receiveLayout, Reducer? op, int root) =>
        kind switch
        {
            InterKind.Barrier => InterAlgorithms.Barrier(c),
            InterKind.Broadcast => InterAlgorithms.Broadcast(c, receive, root),
            InterKind.Gather => InterAlgorithms.Rooted(c, send, receive, receiveLayout, root, gather: true),
            InterKind.Scatter => InterAlgorithms.Rooted(c, receive, send, sendLayout, root, gather: false),
            InterKind.Allgather => InterAlgorithms.Exchange(c, send, default, true, receive, receiveLayout),
            InterKind.Alltoall => InterAlgorithms.Exchange(c, send, sendLayout, false, receive, receiveLayout),
            InterKind.Reduce => InterAlgorithms.Reduce(c, send, receive, op!, root),
            InterKind.Allreduce => InterAlgorithms.Allreduce(c, send, receive.Slice(0, send.Length), op!),
            _ => InterAlgorithms.ReduceScatter(c, send.Slice(0, receiveLayout.Total), receive.Slice(0, receiveLayout.Length(c.Remote.Rank)),
                receiveLayout, op!),
        };

    /// <summary>Runs a blocking intercommunicator collective to completion; returns the layouts to their pool.</summary>
    private unsafe void InterBlocking<T>(InterKind kind, ReadOnlySpan<T> send, Span<T> receive, Blocks sendLayout, Blocks receiveLayout,
        Reducer? op, int root, string name) where T : unmanaged
    {
        try
        {
            fixed (T* s = send)
            fixed (T* r = receive)
            {
                var c = BeginInter(false, Bytes<T>(send.Length), op, name);
                CollectiveCall.Complete(InterRun(c, kind, B(s, send.Length), B(r, receive.Length), sendLayout, receiveLayout, op, root));
            }
        }
        finally
        {
            sendLayout.Return();
            receiveLayout.Return();
        }
    }

    /// <summary>
    /// Starts a nonblocking intercommunicator collective: its steps run as the progress engine completes their
    /// requests, no thread waits; the buffers stay pinned and the layouts rented until it completes.
    /// </summary>
    private ValueTask InterStart<T>(InterKind kind, ReadOnlyMemory<T> send, Memory<T> receive, Blocks sendLayout, Blocks receiveLayout,
        Reducer? op, int root, string name) where T : unmanaged
    {
        InterCall c;
        try
        {
            c = BeginInter(true, Bytes<T>(send.Length), op, name);
        }
        catch
        {
            sendLayout.Return();
            receiveLayout.Return();
            throw;
        }
        var sp = send.Pin();
        var rp = receive.Pin();
        var work = InterRun(c, kind, PinnedBuf<T>(sp, send.Length), PinnedBuf<T>(rp, receive.Length), sendLayout, receiveLayout, op, root);
        return ReleaseWhenDone(work, sp, rp, sendLayout, receiveLayout);

        static async ValueTask ReleaseWhenDone(ValueTask work, MemoryHandle sp, MemoryHandle rp, Blocks sendLayout, Blocks receiveLayout)
        {
            try
            {
                await work.ConfigureAwait(false);
            }
            finally
            {
                sp.Dispose();
                rp.Dispose();
                sendLayout.Return();
                receiveLayout.Return();
            }
        }
    }

    // ------------------------------------------------------------------ blocking forms (called by the public methods)

    private void InterBarrier() => InterBlocking<byte>(InterKind.Barrier, default, default, default, default, null, 0, nameof(Barrier));

    private void InterBroadcast<T>(Span<T> buffer, int root, [CallerMemberName] string name = "") where T : unmanaged
    {
        CheckInterRoot(root, nameof(root));
        InterBlocking(InterKind.Broadcast, buffer, buffer, default, default, null, root, name);
    }

    private void InterGather<T>(ReadOnlySpan<T> send, Span<T> receive, int root, [CallerMemberName] string name = "") where T : unmanaged =>
        InterBlocking(InterKind.Gather, send, receive, default, InterRootRegular(receive.Length, Unsafe.SizeOf<T>(), root, nameof(receive)), null, root, name);

    private void InterGatherv<T>(ReadOnlySpan<T> send, Span<T> receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements,
        bool hasDisplacements, int root, [CallerMemberName] string name = "") where T : unmanaged =>
        InterBlocking(InterKind.Gather, send, receive, default,
            InterRootExplicit(receive.Length, counts, displacements, hasDisplacements, Unsafe.SizeOf<T>(), root, nameof(receive)), null, root, name);

    private void InterScatter<T>(ReadOnlySpan<T> send, Span<T> receive, int root, [CallerMemberName] string name = "") where T : unmanaged =>
        InterBlocking(InterKind.Scatter, send, receive, InterRootRegular(send.Length, Unsafe.SizeOf<T>(), root, nameof(send)), default, null, root, name);

    private void InterScatterv<T>(ReadOnlySpan<T> send, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, bool hasDisplacements,
        Span<T> receive, int root, [CallerMemberName] string name = "") where T : unmanaged =>
        InterBlocking(InterKind.Scatter, send, receive,
            InterRootExplicit(send.Length, counts, displacements, hasDisplacements, Unsafe.SizeOf<T>(), root, nameof(send)), default, null, root, name);

    private void InterAllgather<T>(ReadOnlySpan<T> send, Span<T> receive, [CallerMemberName] string name = "") where T : unmanaged =>
        InterBlocking(InterKind.Allgather, send, receive, default, InterRegular(receive.Length, Unsafe.SizeOf<T>(), nameof(receive)), null, 0, name);

    private void InterAllgatherv<T>(ReadOnlySpan<T> send, Span<T> receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements,
        bool hasDisplacements, [CallerMemberName] string name = "") where T : unmanaged =>
        InterBlocking(InterKind.Allgather, send, receive, default,
            InterExplicit(receive.Length, counts, displacements, hasDisplacements, Unsafe.SizeOf<T>(), nameof(counts), nameof(displacements), nameof(receive)),
            null, 0, name);

    private void InterAlltoall<T>(ReadOnlySpan<T> send, Span<T> receive, [CallerMemberName] string name = "") where T : unmanaged
    {
        var sl = InterRegular(send.Length, Unsafe.SizeOf<T>(), nameof(send));
        InterBlocking(InterKind.Alltoall, send, receive, sl, InterRegular(receive.Length, Unsafe.SizeOf<T>(), nameof(receive)), null, 0, name);
    }

    private void InterAlltoallv<T>(ReadOnlySpan<T> send, ReadOnlySpan<int> sendCounts, ReadOnlySpan<int> sendDisplacements,
        Span<T> receive, ReadOnlySpan<int> receiveCounts, ReadOnlySpan<int> receiveDisplacements, int elementSize,
        [CallerMemberName] string name = "") where T : unmanaged
    {
        var (sl, rl) = InterAlltoallvLayouts(send.Length, sendCounts, sendDisplacements, receive.Length, receiveCounts, receiveDisplacements, elementSize);
        InterBlocking(InterKind.Alltoall, send, receive, sl, rl, null, 0, name);
    }

    private void InterReduce<T>(ReadOnlySpan<T> send, Span<T> receive, Reducer op, int root, [CallerMemberName] string name = "") where T : unmanaged
    {
        CheckInterRoot(root, nameof(root));
        InterBlocking(InterKind.Reduce, send, receive, default, default, op, root, name);
    }

    private void InterAllreduce<T>(ReadOnlySpan<T> send, Span<T> receive, Reducer op, [CallerMemberName] string name = "") where T : unmanaged
    {
        CheckLength(receive.Length, send.Length, nameof(receive));
        InterBlocking(InterKind.Allreduce, send, receive, default, default, op, 0, name);
    }

    private void InterReduceScatter<T>(ReadOnlySpan<T> send, Span<T> receive, ReadOnlySpan<int> counts, Reducer op, [CallerMemberName] string name = "")
        where T : unmanaged =>
        InterBlocking(InterKind.ReduceScatter, send, receive, default, InterReduceScatterLayout(send.Length, receive.Length, counts, Unsafe.SizeOf<T>()), op, 0, name);

    private void InterReduceScatterBlock<T>(ReadOnlySpan<T> send, Span<T> receive, Reducer op, [CallerMemberName] string name = "") where T : unmanaged =>
        InterBlocking(InterKind.ReduceScatter, send, receive, default, InterReduceScatterBlockLayout(send.Length, receive.Length, Unsafe.SizeOf<T>()), op, 0, name);

    // ------------------------------------------------------------------ nonblocking forms (called by the XxxStart methods)

    private ValueTask InterBarrierStart([CallerMemberName] string name = "") =>
        InterStart<byte>(InterKind.Barrier, default, default, default, default, null, 0, name);

    private ValueTask InterBroadcastStart<T>(Memory<T> buffer, int root, [CallerMemberName] string name = "") where T : unmanaged
    {
        CheckInterRoot(root, nameof(root));
        return InterStart(InterKind.Broadcast, buffer, buffer, default, default, null, root, name);
    }

    private ValueTask InterGatherStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, int root, [CallerMemberName] string name = "") where T : unmanaged =>
        InterStart(InterKind.Gather, send, receive, default, InterRootRegular(receive.Length, Unsafe.SizeOf<T>(), root, nameof(receive)), null, root, name);

    private ValueTask InterGathervStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, int root,
        [CallerMemberName] string name = "") where T : unmanaged =>
        InterStart(InterKind.Gather, send, receive, default,
            InterRootExplicit(receive.Length, counts, displacements, true, Unsafe.SizeOf<T>(), root, nameof(receive)), null, root, name);

    private ValueTask InterScatterStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, int root, [CallerMemberName] string name = "") where T : unmanaged =>
        InterStart(InterKind.Scatter, send, receive, InterRootRegular(send.Length, Unsafe.SizeOf<T>(), root, nameof(send)), default, null, root, name);

    private ValueTask InterScattervStart<T>(ReadOnlyMemory<T> send, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, Memory<T> receive, int root,
        [CallerMemberName] string name = "") where T : unmanaged =>
        InterStart(InterKind.Scatter, send, receive,
            InterRootExplicit(send.Length, counts, displacements, true, Unsafe.SizeOf<T>(), root, nameof(send)), default, null, root, name);

    private ValueTask InterAllgatherStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, [CallerMemberName] string name = "") where T : unmanaged =>
        InterStart(InterKind.Allgather, send, receive, default, InterRegular(receive.Length, Unsafe.SizeOf<T>(), nameof(receive)), null, 0, name);

    private ValueTask InterAllgathervStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements,
        [CallerMemberName] string name = "") where T : unmanaged =>
        InterStart(InterKind.Allgather, send, receive, default,
            InterExplicit(receive.Length, counts, displacements, true, Unsafe.SizeOf<T>(), nameof(counts), nameof(displacements), nameof(receive)), null, 0, name);

    private ValueTask InterAlltoallStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, [CallerMemberName] string name = "") where T : unmanaged
    {
        var sl = InterRegular(send.Length, Unsafe.SizeOf<T>(), nameof(send));
        return InterStart(InterKind.Alltoall, send, receive, sl, InterRegular(receive.Length, Unsafe.SizeOf<T>(), nameof(receive)), null, 0, name);
    }

    private ValueTask InterAlltoallvStart<T>(ReadOnlyMemory<T> send, ReadOnlySpan<int> sendCounts, ReadOnlySpan<int> sendDisplacements,
        Memory<T> receive, ReadOnlySpan<int> receiveCounts, ReadOnlySpan<int> receiveDisplacements, [CallerMemberName] string name = "") where T : unmanaged
    {
        var (sl, rl) = InterAlltoallvLayouts(send.Length, sendCounts, sendDisplacements, receive.Length, receiveCounts, receiveDisplacements, Unsafe.SizeOf<T>());
        return InterStart(InterKind.Alltoall, send, receive, sl, rl, null, 0, name);
    }

    private ValueTask InterReduceStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, Reducer op, int root, [CallerMemberName] string name = "")
        where T : unmanaged
    {
        CheckInterRoot(root, nameof(root));
        return InterStart(InterKind.Reduce, send, receive, default, default, op, root, name);
    }

    private ValueTask InterAllreduceStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, Reducer op, [CallerMemberName] string name = "") where T : unmanaged
    {
        CheckLength(receive.Length, send.Length, nameof(receive));
        return InterStart(InterKind.Allreduce, send, receive, default, default, op, 0, name);
    }

    private ValueTask InterReduceScatterStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, ReadOnlySpan<int> counts, Reducer op,
        [CallerMemberName] string name = "") where T : unmanaged =>
        InterStart(InterKind.ReduceScatter, send, receive, default, InterReduceScatterLayout(send.Length, receive.Length, counts, Unsafe.SizeOf<T>()), op, 0, name);

    private ValueTask InterReduceScatterBlockStart<T>(ReadOnlyMemory<T> send, Memory<T> receive, Reducer op, [CallerMemberName] string name = "")
        where T : unmanaged =>
        InterStart(InterKind.ReduceScatter, send, receive, default, InterReduceScatterBlockLayout(send.Length, receive.Length, Unsafe.SizeOf<T>()), op, 0, name);
}
