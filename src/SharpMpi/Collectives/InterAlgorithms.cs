namespace SharpMpi.Collectives;

/// <summary>
/// The steps of one intercommunicator collective: <see cref="Remote"/> on the intercommunicator's collective
/// context (its ranks address the remote group), <see cref="First"/> and <see cref="Second"/> on the local
/// group's private communicator for the steps within this group.
/// </summary>
/// <remarks>
/// All three take their place in their communicator's collective sequence when the call is made, so a
/// nonblocking call whose local steps run later still matches the same steps on the other ranks, even with
/// several calls outstanding. Every rank takes all three, whatever its role, to keep the sequences in step.
/// </remarks>
internal readonly struct InterCall
{
    public InterCall(Communicator inter, Communicator local, bool isAsync)
    {
        Remote = new CollectiveCall(inter, isAsync);
        First = new CollectiveCall(local, isAsync);
        Second = new CollectiveCall(local, isAsync);
        RemoteSize = inter.PeerWorldRanks.Length;
    }

    /// <summary>Messages between the groups; <see cref="CollectiveCall.Rank"/> is this rank in the local group.</summary>
    public CollectiveCall Remote { get; }

    /// <summary>The first step within the local group.</summary>
    public CollectiveCall First { get; }

    /// <summary>The second step within the local group.</summary>
    public CollectiveCall Second { get; }

    public int RemoteSize { get; }

    public bool IsLeader => Remote.Rank == 0;
}

/// <summary>
/// Collectives on intercommunicators (MPI-4 §6.2.2), written once for the blocking and the nonblocking calls
/// like the intracommunicator algorithms. Rooted operations take <see cref="Communicator.Root"/> at the root,
/// <see cref="Communicator.ProcNull"/> at the rest of its group, the root's rank in the remote group elsewhere.
/// Data moves straight between the groups where one message per pair suffices (gather, scatter, allgather,
/// alltoall); broadcast and the reductions go through each group's leader (rank 0) and a tree within the group.
/// </summary>
internal static class InterAlgorithms
{
    /// <summary>
    /// Nobody leaves the second local barrier before its leader has heard from the other group's leader,
    /// which entered the exchange only after its whole group arrived.
    /// </summary>
    public static async ValueTask Barrier(InterCall c)
    {
        await LocalBarrier(c.First).ConfigureAwait(false);
        if (c.IsLeader)
            await c.Remote.SendReceive(default, 0, default, 0, 0).ConfigureAwait(false);
        await LocalBarrier(c.Second).ConfigureAwait(false);
    }

    /// <summary>The root sends to the remote leader, which broadcasts within its group.</summary>
    public static async ValueTask Broadcast(InterCall c, Buf buffer, int root)
    {
        if (root == Communicator.Root)
        {
            await c.Remote.Send(buffer, 0, 0).ConfigureAwait(false);
        }
        else if (root != Communicator.ProcNull)
        {
            if (c.IsLeader)
                await c.Remote.Receive(buffer, root, 0).ConfigureAwait(false);
            await LocalBroadcast(c.First, buffer).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Gather(v) (<paramref name="gather"/>) or Scatter(v): the root receives (sends) <paramref name="layout"/> block i
    /// from (to) remote rank i; each rank of the other group sends (receives) <paramref name="own"/>.
    /// </summary>
    public static async ValueTask Rooted(InterCall c, Buf own, Buf all, Blocks layout, int root, bool gather)
    {
        if (root == Communicator.Root)
        {
            if (gather)
                await Exchange(c, default, default, false, all, layout, sends: false).ConfigureAwait(false);
            else
                await Exchange(c, all, layout, false, default, default, receives: false).ConfigureAwait(false);
        }
        else if (root != Communicator.ProcNull)
        {
            await (gather ? c.Remote.Send(own, root, 0) : c.Remote.Receive(own, root, 0)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Sends <paramref name="sendLayout"/> block i (all of <paramref name="send"/> when <paramref name="sameBlock"/>, as in
    /// allgather) to remote rank i and receives remote rank i's block into <paramref name="receiveLayout"/> block i,
    /// all at once: there is one message per pair of ranks, so no schedule beats posting them together.
    /// </summary>
    public static async ValueTask Exchange(InterCall c, Buf send, Blocks sendLayout, bool sameBlock, Buf receive, Blocks receiveLayout,
        bool sends = true, bool receives = true)
    {
        var x = c.Remote;
        int n = c.RemoteSize;
        var batch = CollectiveCall.RentBatch(2 * n);
        int count = 0;
        try
        {
            if (receives)
            {
                for (int i = 0; i < n; i++)
                    batch[count++] = x.StartReceive(receiveLayout.Of(receive, i), i, 0);
            }
            if (sends)
            {
                for (int i = 0; i < n; i++)
                    batch[count++] = x.StartSend(sameBlock ? send : sendLayout.Of(send, i), i, 0);
            }
            await x.WaitAll(batch, count).ConfigureAwait(false);
        }
        catch
        {
            // A start failed: none of the requests already posted may keep pointing into the caller's buffers.
            x.Drain(batch, 0, count);
            throw;
        }
        finally
        {
            CollectiveCall.ReturnBatch(batch);
        }
    }

    /// <summary>The root's group reduces at its leader, in its rank order, and the leader passes the result on.</summary>
    public static async ValueTask Reduce(InterCall c, Buf send, Buf receive, Reducer op, int root)
    {
        if (root == Communicator.Root)
        {
            await c.Remote.Receive(receive, 0, 0).ConfigureAwait(false);
        }
        else if (root != Communicator.ProcNull)
        {
            using var temp = c.IsLeader ? TempBuffer.Rent(send.Length) : default;
            await LocalReduce(c.First, send, temp.Buf, op).ConfigureAwait(false);
            if (c.IsLeader)
                await c.Remote.Send(temp.Buf, root, 0).ConfigureAwait(false);
        }
    }

    /// <summary>Each group reduces at its leader, the leaders swap, each broadcasts the other group's result.</summary>
    /// <remarks><paramref name="send"/> may be <paramref name="receive"/>: the local reduce consumes it before anything is written.</remarks>
    public static async ValueTask Allreduce(InterCall c, Buf send, Buf receive, Reducer op)
    {
        await ReduceAndSwap(c, send, receive, op).ConfigureAwait(false);
        await LocalBroadcast(c.Second, receive).ConfigureAwait(false);
    }

    /// <summary>
    /// The leaders swap <paramref name="mine"/> (significant at the leader only) into <paramref name="theirs"/>, which
    /// each leader then broadcasts within its group.
    /// </summary>
    public static async ValueTask SwapAndBroadcast(InterCall c, Buf mine, Buf theirs)
    {
        if (c.IsLeader)
            await c.Remote.SendReceive(mine, 0, theirs, 0, 0).ConfigureAwait(false);
        await LocalBroadcast(c.Second, theirs).ConfigureAwait(false);
    }

    /// <summary>ReduceScatter(Block): the other group's reduction, split over this group by <paramref name="layout"/> (local ranks).</summary>
    public static async ValueTask ReduceScatter(InterCall c, Buf send, Buf receive, Blocks layout, Reducer op)
    {
        using var swapped = c.IsLeader ? TempBuffer.Rent(send.Length) : default;
        await ReduceAndSwap(c, send, swapped.Buf, op).ConfigureAwait(false);
        if (c.Second.Size == 1)
            layout.Of(swapped.Buf, 0).CopyTo(receive);
        else
            await GatherScatterAlgorithms.LinearScatter(c.Second, swapped.Buf, layout, receive, 0).ConfigureAwait(false);
    }

    /// <summary>Each group reduces at its leader; the leaders swap results into <paramref name="swapped"/> (at the leader only).</summary>
    private static async ValueTask ReduceAndSwap(InterCall c, Buf send, Buf swapped, Reducer op)
    {
        using var temp = c.IsLeader ? TempBuffer.Rent(send.Length) : default;
        await LocalReduce(c.First, send, temp.Buf, op).ConfigureAwait(false);
        if (c.IsLeader)
            await c.Remote.SendReceive(temp.Buf, 0, swapped, 0, 0).ConfigureAwait(false);
    }

    // Local steps: a blocking call takes the blocking small-message paths, as the same collective on the group would.

    private static ValueTask LocalBarrier(CollectiveCall l)
    {
        if (l.IsAsync)
            return BarrierAlgorithms.Run(l);
        BlockingCollectives.Barrier(l);
        return default;
    }

    private static ValueTask LocalBroadcast(CollectiveCall l, Buf buffer)
    {
        if (l.IsAsync)
            return BroadcastAlgorithms.Run(l, buffer, 0);
        BroadcastAlgorithms.RunBlocking(l, buffer, 0);
        return default;
    }

    private static ValueTask LocalReduce(CollectiveCall l, Buf send, Buf receive, Reducer op)
    {
        if (l.IsAsync)
            return ReduceAlgorithms.Run(l, send, receive, op, 0);
        ReduceAlgorithms.RunBlocking(l, send, receive, op, 0);
        return default;
    }
}
