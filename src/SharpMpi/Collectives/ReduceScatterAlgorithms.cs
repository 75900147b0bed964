namespace SharpMpi.Collectives;

/// <summary>
/// Reduce-scatter: every rank gets its block of the element-wise reduction. Ring ((p−1)(α + n/p β + n/p γ),
/// commutative operators) for long vectors; otherwise reduce to rank 0 (in rank order) and scatter the blocks.
/// </summary>
internal static class ReduceScatterAlgorithms
{
    /// <summary><paramref name="send"/>: the whole vector (blocks by <paramref name="blocks"/>, packed); <paramref name="receive"/>: this rank's block.</summary>
    public static ValueTask Run(CollectiveCall c, Buf send, Buf receive, Blocks blocks, Reducer op)
    {
        if (send.IsEmpty)
            return default;
        if (c.Size == 1)
        {
            send.CopyTo(receive);
            return default;
        }
        var t = c.Tuning;
        var algorithm = t.ReduceScatter;
        if (algorithm == ReduceScatterAlgorithm.Auto)
            algorithm = send.Length >= t.ReduceScatterLongBytes ? ReduceScatterAlgorithm.Ring : ReduceScatterAlgorithm.ReduceScatterv;
        if (!op.IsCommutative)
            algorithm = ReduceScatterAlgorithm.ReduceScatterv;
        return algorithm == ReduceScatterAlgorithm.Ring
            ? RingCopy(c, send, receive, blocks, op)
            : ReduceThenScatter(c, send, receive, blocks, op);
    }

    private static async ValueTask RingCopy(CollectiveCall c, Buf send, Buf receive, Blocks blocks, Reducer op)
    {
        using var acc = TempBuffer.Rent(send.Length);
        send.CopyTo(acc.Buf);
        using (var temp = TempBuffer.Rent(blocks.MaxLength))
            await Ring(c, acc.Buf, blocks, temp.Buf, op, 0).ConfigureAwait(false);
        blocks.Of(acc.Buf, c.Rank).CopyTo(receive);
    }

    private static async ValueTask ReduceThenScatter(CollectiveCall c, Buf send, Buf receive, Blocks blocks, Reducer op)
    {
        int p = c.Size, r = c.Rank;
        using var acc = r == 0 ? TempBuffer.Rent(send.Length) : default;
        await ReduceAlgorithms.Binomial(c, send, acc.Buf, op, 0, 0).ConfigureAwait(false);
        if (r != 0)
        {
            var mine = receive.Slice(0, blocks.Length(r));
            if (!mine.IsEmpty)
                await c.Receive(mine, 0, 2).ConfigureAwait(false);
            return;
        }
        var batch = CollectiveCall.RentBatch(p);
        try
        {
            int n = 0;
            for (int i = 1; i < p; i++)
            {
                var block = blocks.Of(acc.Buf, i);
                if (!block.IsEmpty)
                    batch[n++] = c.StartSend(block, i, 2);
            }
            blocks.Of(acc.Buf, 0).CopyTo(receive);
            await c.WaitAll(batch, n).ConfigureAwait(false);
        }
        finally
        {
            CollectiveCall.ReturnBatch(batch);
        }
    }

    /// <summary>
    /// Ring reduce-scatter in place on <paramref name="buffer"/> (commutative operators): in step s rank r sends
    /// block r−s−1 to r+1 and folds block r−s−2 from r−1 into its own copy, so after p−1 steps block r on rank r
    /// holds the full reduction. <paramref name="temp"/> holds the largest block.
    /// </summary>
    /// <remarks>
    /// Blocks longer than <see cref="CollectiveTuning.RingSegmentBytes"/> go as segments, all posted at once:
    /// the transfers of later segments overlap the fold of earlier ones (on the partner's core, and in the
    /// transport's pipeline), and each segment is folded right after it lands, while it is still in cache.
    /// </remarks>
    public static async ValueTask Ring(CollectiveCall c, Buf buffer, Blocks blocks, Buf temp, Reducer op, int phase)
    {
        int p = c.Size, r = c.Rank;
        int right = (r + 1) % p, left = (r - 1 + p) % p;
        long segment = SegmentBytes(c.Tuning, op.ElementSize);
        for (int s = 0; s < p - 1; s++)
        {
            int sendBlock = (r - s - 1 + 2 * p) % p;
            int receiveBlock = (r - s - 2 + 2 * p) % p;
            var target = blocks.Of(buffer, receiveBlock);
            var incoming = temp.IsEmpty ? default : temp.Slice(0, target.Length);
            var outgoing = blocks.Of(buffer, sendBlock);
            if (segment == 0 || (target.Length <= segment && outgoing.Length <= segment))
            {
                await c.Exchange(outgoing, right, incoming, left, phase).ConfigureAwait(false);
                op.Apply(incoming, target, target);
            }
            else
            {
                await SegmentedExchange(c, outgoing, right, incoming, left, phase, segment, op, target).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Segment length for element size <paramref name="elementSize"/> (a whole number of elements), 0 = off.</summary>
    public static long SegmentBytes(CollectiveTuning t, int elementSize) =>
        t.RingSegmentBytes <= 0 ? 0 : Math.Max(elementSize, t.RingSegmentBytes / elementSize * elementSize);

    private static int Segments(long length, long segment) => length == 0 ? 0 : (int)((length + segment - 1) / segment);

    /// <summary>
    /// Sends <paramref name="send"/> and receives <paramref name="receive"/> in segments of
    /// <paramref name="segment"/> bytes, all in flight at once; with <paramref name="op"/>, folds each received
    /// segment into the same range of <paramref name="target"/> as soon as it has arrived.
    /// </summary>
    public static async ValueTask SegmentedExchange(CollectiveCall c, Buf send, int dest, Buf receive, int source, int phase,
        long segment, Reducer? op, Buf target)
    {
        int nr = Segments(receive.Length, segment), ns = Segments(send.Length, segment);
        var batch = CollectiveCall.RentBatch(nr + ns);
        int waited = 0;
        try
        {
            for (int k = 0; k < nr; k++)
            {
                long at = k * segment;
                batch[k] = c.StartReceive(receive.Slice(at, Math.Min(segment, receive.Length - at)), source, phase);
            }
            for (int k = 0; k < ns; k++)
            {
                long at = k * segment;
                batch[nr + k] = c.StartSend(send.Slice(at, Math.Min(segment, send.Length - at)), dest, phase);
            }
            for (; waited < nr; waited++)
            {
                var request = batch[waited];
                batch[waited] = null!;
                await c.WaitOne(request).ConfigureAwait(false);
                if (op is not null)
                {
                    long at = waited * segment;
                    long length = Math.Min(segment, receive.Length - at);
                    op.Apply(receive.Slice(at, length), target.Slice(at, length), target.Slice(at, length));
                }
            }
            for (; waited < nr + ns; waited++)
            {
                var request = batch[waited];
                batch[waited] = null!;
                await c.WaitOne(request).ConfigureAwait(false);
            }
        }
        catch
        {
            c.Drain(batch, waited, nr + ns);
            throw;
        }
        finally
        {
            CollectiveCall.ReturnBatch(batch);
        }
    }
}
