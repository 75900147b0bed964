namespace SharpMpi.Collectives;

/// <summary>
/// Allreduce. Recursive doubling (lg p(α + nβ + nγ), with the non-power-of-two fix-up: the first 2·rem ranks
/// pair up before and after) for short vectors and for every non-commutative operator — partners combine
/// lower-ranked data on the left, so the result is the rank-ordered fold. Ring reduce-scatter + ring allgather
/// (2(p−1)α + 2n(p−1)/p β, bandwidth-optimal, as Horovod/NCCL) for long vectors. Reduce + broadcast on demand.
/// </summary>
internal static class AllreduceAlgorithms
{
    /// <summary><paramref name="send"/> may be <paramref name="receive"/> (in place).</summary>
    public static ValueTask Run(CollectiveCall c, Buf send, Buf receive, Reducer op)
    {
        if (send.IsEmpty)
            return default;
        send.CopyTo(receive);
        if (c.Size == 1)
            return default;
        var buffer = receive.Slice(0, send.Length);
        return Dispatch(c, buffer, op, Choose(c, buffer, op));
    }

    /// <summary>The blocking call: short recursive-doubling cases take <see cref="BlockingCollectives.Allreduce"/>.</summary>
    public static void RunBlocking(CollectiveCall c, Buf send, Buf receive, Reducer op)
    {
        if (send.IsEmpty)
            return;
        var forced = c.Tuning.Allreduce;
        if (c.Size > 1 && forced is AllreduceAlgorithm.Auto or AllreduceAlgorithm.SharedMemory
            && SharedMemoryCollectives.For(c, forced == AllreduceAlgorithm.SharedMemory) is { } shared
            && shared.TryReduce(send, receive, op, -1, c.Tuning))
        {
            return;
        }
        send.CopyTo(receive);
        if (c.Size == 1)
            return;
        var buffer = receive.Slice(0, send.Length);
        var algorithm = Choose(c, buffer, op);
        if (algorithm == AllreduceAlgorithm.RecursiveDoubling && buffer.Length <= BlockingCollectives.StackBytes)
            BlockingCollectives.Allreduce(c, buffer, op);
        else
            CollectiveCall.Wait(Dispatch(c, buffer, op, algorithm));
    }

    private static AllreduceAlgorithm Choose(CollectiveCall c, Buf buffer, Reducer op)
    {
        var t = c.Tuning;
        long count = buffer.Length / op.ElementSize;
        var algorithm = t.Allreduce;
        if (algorithm is AllreduceAlgorithm.Auto or AllreduceAlgorithm.SharedMemory)
        {
            algorithm = !op.IsCommutative || buffer.Length <= t.AllreduceShortBytes || count < c.Size
                ? AllreduceAlgorithm.RecursiveDoubling
                : AllreduceAlgorithm.Ring;
        }
        if (algorithm is AllreduceAlgorithm.Ring or AllreduceAlgorithm.Rabenseifner && !op.IsCommutative)
            algorithm = AllreduceAlgorithm.RecursiveDoubling;
        if (algorithm == AllreduceAlgorithm.Rabenseifner && count < CollectiveCall.FloorPowerOfTwo(c.Size))
            algorithm = AllreduceAlgorithm.RecursiveDoubling;
        return algorithm;
    }

    private static ValueTask Dispatch(CollectiveCall c, Buf buffer, Reducer op, AllreduceAlgorithm algorithm) => algorithm switch
    {
        AllreduceAlgorithm.Ring => Ring(c, buffer, op),
        AllreduceAlgorithm.Rabenseifner => Rabenseifner(c, buffer, op),
        AllreduceAlgorithm.ReduceBroadcast => ReduceBroadcast(c, buffer, op),
        _ => RecursiveDoubling(c, buffer, op),
    };

    public static async ValueTask RecursiveDoubling(CollectiveCall c, Buf buffer, Reducer op)
    {
        var fold = new PowerOfTwoFold(c.Size, c.Rank);
        using var temp = TempBuffer.Rent(buffer.Length);
        var tmp = temp.Buf;
        await FoldIn(c, fold, buffer, tmp, op, 0).ConfigureAwait(false);
        for (int mask = 1; mask < fold.Pof2 && !fold.SitsOut; mask <<= 1)
        {
            int partner = fold.Partner(mask);
            await c.SendReceive(buffer, partner, tmp, partner, 1).ConfigureAwait(false);
            op.FoldInRankOrder(tmp, buffer, partner < c.Rank);
        }
        await FoldOut(c, fold, buffer, 2).ConfigureAwait(false);
    }

    /// <summary>Before the core rounds (see <see cref="PowerOfTwoFold"/>): rank 2i hands its buffer to 2i + 1, which folds it in.</summary>
    private static async ValueTask FoldIn(CollectiveCall c, PowerOfTwoFold fold, Buf buffer, Buf tmp, Reducer op, int phase)
    {
        if (fold.SitsOut)
        {
            await c.Send(buffer, c.Rank + 1, phase).ConfigureAwait(false);
        }
        else if (fold.TakesIn)
        {
            await c.Receive(tmp, c.Rank - 1, phase).ConfigureAwait(false);
            op.Apply(tmp, buffer, buffer);
        }
    }

    /// <summary>After the core rounds: rank 2i + 1 hands the result back to 2i.</summary>
    private static ValueTask FoldOut(CollectiveCall c, PowerOfTwoFold fold, Buf buffer, int phase) =>
        fold.SitsOut ? c.Receive(buffer, c.Rank + 1, phase) : fold.TakesIn ? c.Send(buffer, c.Rank - 1, phase) : default;

    public static async ValueTask Ring(CollectiveCall c, Buf buffer, Reducer op)
    {
        var blocks = Blocks.Even(c.Size, buffer.Length / op.ElementSize, op.ElementSize);
        using (var temp = TempBuffer.Rent(blocks.MaxLength))
            await ReduceScatterAlgorithms.Ring(c, buffer, blocks, temp.Buf, op, 0).ConfigureAwait(false);
        await AllgatherAlgorithms.RingShifted(c, buffer, blocks, 0, 1).ConfigureAwait(false);
    }

    /// <summary>
    /// Rabenseifner (MPICH's reduce-scatter + allgather, commutative operators): recursive halving leaves each of
    /// the pof2 core ranks one fully reduced block, recursive doubling gathers them back;
    /// 2 lg p α + 2n(p−1)/p β + n(p−1)/p γ — the ring's volume in lg p instead of p − 1 rounds. Ranks beyond the
    /// largest power of two fold into a partner first and get the result from it at the end. Long exchanges
    /// go in segments, folded as they land (see <see cref="ReduceScatterAlgorithms.Ring"/>).
    /// </summary>
    public static async ValueTask Rabenseifner(CollectiveCall c, Buf buffer, Reducer op)
    {
        var fold = new PowerOfTwoFold(c.Size, c.Rank);
        int pof2 = fold.Pof2, newRank = fold.CoreRank;
        long segment = ReduceScatterAlgorithms.SegmentBytes(c.Tuning, op.ElementSize);
        using var temp = TempBuffer.Rent(buffer.Length);
        var tmp = temp.Buf;
        await FoldIn(c, fold, buffer, tmp, op, 0).ConfigureAwait(false);
        if (newRank >= 0)
        {
            var blocks = Blocks.Even(pof2, buffer.Length / op.ElementSize, op.ElementSize);
            int sendIndex = 0, receiveIndex = 0, lastIndex = pof2;
            int mask = 1;
            for (; mask < pof2; mask <<= 1)
            {
                int newPartner = newRank ^ mask;
                int partner = fold.RankOf(newPartner);
                Buf outgoing, incoming;
                if (newRank < newPartner)
                {
                    sendIndex = receiveIndex + pof2 / (mask * 2);
                    outgoing = blocks.Range(buffer, sendIndex, lastIndex);
                    incoming = blocks.Range(tmp, receiveIndex, sendIndex);
                }
                else
                {
                    receiveIndex = sendIndex + pof2 / (mask * 2);
                    outgoing = blocks.Range(buffer, sendIndex, receiveIndex);
                    incoming = blocks.Range(tmp, receiveIndex, lastIndex);
                }
                var target = incoming.IsEmpty ? default : buffer.Slice(incoming.Ptr - tmp.Ptr, incoming.Length);
                if (segment == 0 || (incoming.Length <= segment && outgoing.Length <= segment))
                {
                    await c.Exchange(outgoing, partner, incoming, partner, 1).ConfigureAwait(false);
                    op.Apply(incoming, target, target);
                }
                else
                {
                    await ReduceScatterAlgorithms.SegmentedExchange(c, outgoing, partner, incoming, partner, 1, segment, op, target)
                        .ConfigureAwait(false);
                }
                sendIndex = receiveIndex;
                if (mask * 2 < pof2)
                    lastIndex = receiveIndex + pof2 / (mask * 2);
            }
            // This rank now holds block range [sendIndex, lastIndex) reduced; gather the rest back in reverse.
            for (mask >>= 1; mask > 0; mask >>= 1)
            {
                int newPartner = newRank ^ mask;
                int partner = fold.RankOf(newPartner);
                Buf outgoing, incoming;
                if (newRank < newPartner)
                {
                    if (mask != pof2 / 2)
                        lastIndex += pof2 / (mask * 2);
                    receiveIndex = sendIndex + pof2 / (mask * 2);
                    outgoing = blocks.Range(buffer, sendIndex, receiveIndex);
                    incoming = blocks.Range(buffer, receiveIndex, lastIndex);
                }
                else
                {
                    receiveIndex = sendIndex - pof2 / (mask * 2);
                    outgoing = blocks.Range(buffer, sendIndex, lastIndex);
                    incoming = blocks.Range(buffer, receiveIndex, sendIndex);
                }
                if (segment == 0 || (incoming.Length <= segment && outgoing.Length <= segment))
                {
                    await c.Exchange(outgoing, partner, incoming, partner, 2).ConfigureAwait(false);
                }
                else
                {
                    await ReduceScatterAlgorithms.SegmentedExchange(c, outgoing, partner, incoming, partner, 2, segment, null, default)
                        .ConfigureAwait(false);
                }
                if (newRank > newPartner)
                    sendIndex = receiveIndex;
            }
        }
        await FoldOut(c, fold, buffer, 3).ConfigureAwait(false);
    }

    public static async ValueTask ReduceBroadcast(CollectiveCall c, Buf buffer, Reducer op)
    {
        // In place: at rank 0 the tree accumulates straight into the buffer.
        await ReduceAlgorithms.Binomial(c, buffer, buffer, op, 0, 0).ConfigureAwait(false);
        await BroadcastAlgorithms.Run(c, buffer, 0, 2).ConfigureAwait(false);
    }
}
