namespace SharpMpi.Collectives;

/// <summary>
/// Allgather(v) with every rank's own block already in place in the receive buffer. Recursive doubling
/// (powers of two, lg p α), Bruck (any p, ⌈lg p⌉ α, one extra copy), ring ((p−1)α, bandwidth-optimal).
/// </summary>
internal static class AllgatherAlgorithms
{
    public static ValueTask Run(CollectiveCall c, Buf receive, Blocks layout, int phase = 0)
    {
        if (c.Size == 1)
            return default;
        long total = layout.Total;
        if (total == 0)
            return default;
        var t = c.Tuning;
        bool pow2 = CollectiveCall.IsPowerOfTwo(c.Size);
        var algorithm = t.Allgather;
        if (algorithm == AllgatherAlgorithm.Auto)
        {
            algorithm = pow2
                ? (total < t.AllgatherLongBytes ? AllgatherAlgorithm.RecursiveDoubling : AllgatherAlgorithm.Ring)
                : (total < t.AllgatherShortBytes ? AllgatherAlgorithm.Bruck : AllgatherAlgorithm.Ring);
        }
        if (algorithm == AllgatherAlgorithm.RecursiveDoubling && !pow2)
            algorithm = AllgatherAlgorithm.Bruck;
        return algorithm switch
        {
            AllgatherAlgorithm.RecursiveDoubling => RecursiveDoubling(c, receive, layout, phase),
            AllgatherAlgorithm.Bruck => Bruck(c, receive, layout, phase),
            _ => RingShifted(c, receive, layout, 0, phase),
        };
    }

    /// <summary>
    /// Ring allgather where the rank <c>(i + shift) % p</c> starts with block i: in step s each rank passes the
    /// block it received last to its right neighbour.
    /// </summary>
    public static async ValueTask RingShifted(CollectiveCall c, Buf buffer, Blocks blocks, int shift, int phase)
    {
        int p = c.Size, r = c.Rank, v = (r - shift + p) % p;
        int right = (r + 1) % p, left = (r - 1 + p) % p;
        // Segments in flight together pipeline a long block through the transport (see ReduceScatterAlgorithms.Ring).
        long segment = ReduceScatterAlgorithms.SegmentBytes(c.Tuning, 1);
        for (int s = 0; s < p - 1; s++)
        {
            int sendBlock = (v - s + p) % p;
            int receiveBlock = (v - s - 1 + 2 * p) % p;
            var outgoing = blocks.Of(buffer, sendBlock);
            var incoming = blocks.Of(buffer, receiveBlock);
            if (segment == 0 || (outgoing.Length <= segment && incoming.Length <= segment))
                await c.Exchange(outgoing, right, incoming, left, phase).ConfigureAwait(false);
            else
                await ReduceScatterAlgorithms.SegmentedExchange(c, outgoing, right, incoming, left, phase, segment, null, default).ConfigureAwait(false);
        }
    }

    /// <summary>Recursive doubling (p a power of two): in step k exchange the 2^k blocks gathered so far with rank ^ 2^k.</summary>
    public static async ValueTask RecursiveDoubling(CollectiveCall c, Buf receive, Blocks layout, int phase)
    {
        int p = c.Size, r = c.Rank;
        // Works on a packed buffer so that each group of blocks is one message; unpack at the end if needed.
        bool packed = layout.IsPacked;
        var work = packed ? layout : layout.Packed();
        using var temp = packed ? default : TempBuffer.Rent(work.Total);
        var wb = packed ? receive : temp.Buf;
        try
        {
            if (!packed)
                layout.Of(receive, r).CopyTo(work.Of(wb, r));
            for (int mask = 1; mask < p; mask <<= 1)
            {
                int partner = r ^ mask;
                int mine = r & ~(mask - 1), theirs = partner & ~(mask - 1);
                await c.Exchange(work.Range(wb, mine, mine + mask), partner, work.Range(wb, theirs, theirs + mask), partner, phase)
                    .ConfigureAwait(false);
            }
            if (!packed)
            {
                for (int i = 0; i < p; i++)
                {
                    if (i != r)
                        work.Of(wb, i).CopyTo(layout.Of(receive, i));
                }
            }
        }
        finally
        {
            if (!packed)
                work.Return();
        }
    }

    /// <summary>
    /// Bruck: a temporary buffer holds blocks r, r+1, … in that order; in step k (distance 2^k) a rank sends its
    /// first min(2^k, p − 2^k) blocks to r − 2^k and appends those of r + 2^k. Finally blocks are put in place.
    /// </summary>
    public static async ValueTask Bruck(CollectiveCall c, Buf receive, Blocks layout, int phase)
    {
        int p = c.Size, r = c.Rank;
        var offsets = System.Buffers.ArrayPool<long>.Shared.Rent(p + 1);
        try
        {
            offsets[0] = 0;
            for (int j = 0; j < p; j++)
                offsets[j + 1] = offsets[j] + layout.Length((r + j) % p);
            using var temp = TempBuffer.Rent(offsets[p]);
            var tb = temp.Buf;
            layout.Of(receive, r).CopyTo(tb);
            for (int k = 1; k < p; k <<= 1)
            {
                int count = Math.Min(k, p - k);
                var send = tb.IsEmpty ? default : tb.Slice(0, offsets[count]);
                var recv = tb.IsEmpty ? default : tb.Slice(offsets[k], offsets[k + count] - offsets[k]);
                await c.Exchange(send, (r - k + p) % p, recv, (r + k) % p, phase).ConfigureAwait(false);
            }
            for (int j = 1; j < p; j++)
            {
                var block = layout.Of(receive, (r + j) % p);
                if (!block.IsEmpty)
                    tb.Slice(offsets[j], block.Length).CopyTo(block);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<long>.Shared.Return(offsets);
        }
    }
}
