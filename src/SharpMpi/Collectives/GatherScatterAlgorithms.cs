namespace SharpMpi.Collectives;

/// <summary>
/// Gather and scatter of equal blocks: binomial tree (⌈lg p⌉α + n(p−1)/p β; a subtree's blocks travel as one
/// message) or linear (root posts p − 1 receives/sends at once; better for very large blocks). Gatherv and
/// scatterv use the linear form.
/// </summary>
internal static class GatherScatterAlgorithms
{
    /// <summary>Gathers <paramref name="send"/> (this rank's block) into <paramref name="receive"/> at the root.</summary>
    public static ValueTask Gather(CollectiveCall c, Buf send, Buf receive, long blockBytes, int root)
    {
        if (blockBytes == 0)
            return default;
        if (c.Size == 1)
        {
            send.CopyTo(receive);
            return default;
        }
        var algorithm = c.Tuning.Gather;
        if (algorithm == GatherAlgorithm.Auto)
            algorithm = blockBytes >= c.Tuning.GatherLinearBlockBytes ? GatherAlgorithm.Linear : GatherAlgorithm.Binomial;
        return algorithm == GatherAlgorithm.Linear
            ? LinearGather(c, send, receive, Blocks.Regular(c.Size, blockBytes), root)
            : BinomialGather(c, send, receive, blockBytes, root);
    }

    /// <summary>Scatters the blocks of <paramref name="send"/> at the root; each rank's lands in <paramref name="receive"/>.</summary>
    public static ValueTask Scatter(CollectiveCall c, Buf send, Buf receive, long blockBytes, int root)
    {
        if (blockBytes == 0)
            return default;
        if (c.Size == 1)
        {
            send.CopyTo(receive);
            return default;
        }
        var algorithm = c.Tuning.Scatter;
        if (algorithm == GatherAlgorithm.Auto)
            algorithm = blockBytes >= c.Tuning.GatherLinearBlockBytes ? GatherAlgorithm.Linear : GatherAlgorithm.Binomial;
        return algorithm == GatherAlgorithm.Linear
            ? LinearScatter(c, send, Blocks.Regular(c.Size, blockBytes), receive, root)
            : BinomialScatter(c, send, receive, blockBytes, root);
    }

    /// <summary>Size of vrank v's binomial subtree (v = 0: everything).</summary>
    private static int Subtree(int v, int p) => v == 0 ? p : Math.Min(CollectiveCall.LowBit(v), p - v);

    public static async ValueTask BinomialGather(CollectiveCall c, Buf send, Buf receive, long blockBytes, int root)
    {
        int p = c.Size, r = c.Rank, v = (r - root + p) % p;
        int sub = Subtree(v, p);
        int parent = v == 0 ? -1 : (v - CollectiveCall.LowBit(v) + root) % p;
        if (sub == 1)
        {
            await c.Send(send.Slice(0, blockBytes), parent, 0).ConfigureAwait(false);
            return;
        }
        // Blocks of the subtree in vrank order: straight into the receive buffer when that is rank order.
        bool direct = v == 0 && root == 0;
        using var temp = direct ? default : TempBuffer.Rent(sub * blockBytes);
        var work = direct ? receive : temp.Buf;
        send.Slice(0, blockBytes).CopyTo(work);
        var batch = CollectiveCall.RentBatch(32);
        try
        {
            int n = 0;
            for (int mask = 1; mask < sub; mask <<= 1)
            {
                int child = v + mask;
                int count = Math.Min(mask, p - child);
                batch[n++] = c.StartReceive(work.Slice(mask * blockBytes, count * blockBytes), (child + root) % p, 0);
            }
            await c.WaitAll(batch, n).ConfigureAwait(false);
        }
        finally
        {
            CollectiveCall.ReturnBatch(batch);
        }
        if (v != 0)
        {
            await c.Send(work.Slice(0, sub * blockBytes), parent, 0).ConfigureAwait(false);
        }
        else if (!direct)
        {
            for (int i = 0; i < p; i++)
                work.Slice(i * blockBytes, blockBytes).CopyTo(receive.Slice((i + root) % p * blockBytes, blockBytes));
        }
    }

    public static async ValueTask BinomialScatter(CollectiveCall c, Buf send, Buf receive, long blockBytes, int root)
    {
        int p = c.Size, r = c.Rank, v = (r - root + p) % p;
        int sub = Subtree(v, p);
        int parent = v == 0 ? -1 : (v - CollectiveCall.LowBit(v) + root) % p;
        if (sub == 1)
        {
            await c.Receive(receive.Slice(0, blockBytes), parent, 0).ConfigureAwait(false);
            return;
        }
        bool direct = v == 0 && root == 0;
        using var temp = direct ? default : TempBuffer.Rent(sub * blockBytes);
        var work = direct ? send : temp.Buf;
        if (v == 0)
        {
            if (!direct)
            {
                for (int i = 0; i < p; i++)
                    send.Slice((i + root) % p * blockBytes, blockBytes).CopyTo(work.Slice(i * blockBytes, blockBytes));
            }
        }
        else
        {
            await c.Receive(work.Slice(0, sub * blockBytes), parent, 0).ConfigureAwait(false);
        }
        var batch = CollectiveCall.RentBatch(32);
        try
        {
            int n = 0;
            for (int mask = CollectiveCall.FloorPowerOfTwo(sub - 1); mask > 0; mask >>= 1)
            {
                int child = v + mask;
                int count = Math.Min(mask, p - child);
                batch[n++] = c.StartSend(work.Slice(mask * blockBytes, count * blockBytes), (child + root) % p, 0);
            }
            work.Slice(0, blockBytes).CopyTo(receive);
            await c.WaitAll(batch, n).ConfigureAwait(false);
        }
        finally
        {
            CollectiveCall.ReturnBatch(batch);
        }
    }

    /// <summary>
    /// Linear gather(v): the root receives every block at once; <paramref name="inPlace"/>: its own block is already
    /// there. Every rank sends, even an empty block, so a non-root never needs to know the root's counts.
    /// </summary>
    public static async ValueTask LinearGather(CollectiveCall c, Buf send, Buf receive, Blocks layout, int root, bool inPlace = false)
    {
        int p = c.Size, r = c.Rank;
        if (r != root)
        {
            await c.Send(send, root, 0).ConfigureAwait(false);
            return;
        }
        if (!inPlace)
            send.CopyTo(layout.Of(receive, r));
        var batch = CollectiveCall.RentBatch(p);
        try
        {
            int n = 0;
            for (int i = 0; i < p; i++)
            {
                if (i != r)
                    batch[n++] = c.StartReceive(layout.Of(receive, i), i, 0);
            }
            await c.WaitAll(batch, n).ConfigureAwait(false);
        }
        finally
        {
            CollectiveCall.ReturnBatch(batch);
        }
    }

    /// <summary>Linear scatter(v): the root sends every block at once (empty ones too: see <see cref="LinearGather"/>).</summary>
    public static async ValueTask LinearScatter(CollectiveCall c, Buf send, Blocks layout, Buf receive, int root, bool inPlace = false)
    {
        int p = c.Size, r = c.Rank;
        if (r != root)
        {
            await c.Receive(receive, root, 0).ConfigureAwait(false);
            return;
        }
        var batch = CollectiveCall.RentBatch(p);
        try
        {
            int n = 0;
            for (int i = 0; i < p; i++)
            {
                if (i != r)
                    batch[n++] = c.StartSend(layout.Of(send, i), i, 0);
            }
            if (!inPlace)
                layout.Of(send, r).CopyTo(receive);
            await c.WaitAll(batch, n).ConfigureAwait(false);
        }
        finally
        {
            CollectiveCall.ReturnBatch(batch);
        }
    }
}
