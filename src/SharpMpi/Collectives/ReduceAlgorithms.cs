namespace SharpMpi.Collectives;

/// <summary>
/// Reduce. Binomial tree (⌈lg p⌉(α + nβ + nγ)) for short messages and for non-commutative operators — those
/// run the tree rooted at rank 0, where every subtree is a contiguous range of ranks combined in order, and
/// rank 0 forwards the result to the root. Long messages with commutative operators: ring reduce-scatter, then
/// every rank sends its reduced block to the root ((p−1)α + 2n(p−1)/p β + n(p−1)/p γ).
/// </summary>
internal static class ReduceAlgorithms
{
    /// <summary>Reduces <paramref name="send"/> of every rank into <paramref name="receive"/> at <paramref name="root"/> (uses phases +0, +1).</summary>
    public static ValueTask Run(CollectiveCall c, Buf send, Buf receive, Reducer op, int root, int phase = 0)
    {
        if (send.IsEmpty)
            return default;
        if (c.Size == 1)
        {
            send.CopyTo(receive);
            return default;
        }
        return Choose(c, send, op) == ReduceAlgorithm.ReduceScatterGather
            ? ReduceScatterGather(c, send, receive, op, root, phase)
            : Binomial(c, send, receive, op, root, phase);
    }

    /// <summary>The blocking call: short binomial cases take <see cref="BlockingCollectives.Reduce"/>.</summary>
    public static void RunBlocking(CollectiveCall c, Buf send, Buf receive, Reducer op, int root)
    {
        if (send.IsEmpty)
            return;
        if (c.Size == 1)
        {
            send.CopyTo(receive);
            return;
        }
        var forced = c.Tuning.Reduce;
        if (forced is ReduceAlgorithm.Auto or ReduceAlgorithm.SharedMemory
            && SharedMemoryCollectives.For(c, forced == ReduceAlgorithm.SharedMemory) is { } shared
            && shared.TryReduce(send, receive, op, root, c.Tuning))
        {
            return;
        }
        if (send.Length <= BlockingCollectives.StackBytes && Choose(c, send, op) == ReduceAlgorithm.Binomial)
            BlockingCollectives.Reduce(c, send, receive, op, root, 0);
        else
            CollectiveCall.Wait(Run(c, send, receive, op, root));
    }

    private static ReduceAlgorithm Choose(CollectiveCall c, Buf send, Reducer op)
    {
        var t = c.Tuning;
        var algorithm = t.Reduce;
        long count = send.Length / op.ElementSize;
        if (algorithm is ReduceAlgorithm.Auto or ReduceAlgorithm.SharedMemory)
        {
            algorithm = send.Length <= t.ReduceShortBytes || count < CollectiveCall.FloorPowerOfTwo(c.Size)
                ? ReduceAlgorithm.Binomial
                : ReduceAlgorithm.ReduceScatterGather;
        }
        return op.IsCommutative ? algorithm : ReduceAlgorithm.Binomial;
    }

    public static async ValueTask Binomial(CollectiveCall c, Buf send, Buf receive, Reducer op, int root, int phase)
    {
        int p = c.Size, r = c.Rank;
        int treeRoot = op.IsCommutative ? root : 0;
        int v = (r - treeRoot + p) % p;
        long n = send.Length;
        var acc = send;
        var accTemp = default(TempBuffer);
        var inTemp = default(TempBuffer);
        try
        {
            for (int mask = 1; mask < p; mask <<= 1)
            {
                if ((v & mask) == 0)
                {
                    int child = v | mask;
                    if (child >= p)
                        continue;
                    if (inTemp.Buf.IsEmpty)
                        inTemp = TempBuffer.Rent(n);
                    await c.Receive(inTemp.Buf, (child + treeRoot) % p, phase).ConfigureAwait(false);
                    // Our accumulator covers ranks [v, v + mask), the child's [v + mask, v + 2·mask): ours goes left.
                    Buf dest;
                    if (r == root)
                    {
                        dest = receive.Slice(0, n);
                    }
                    else
                    {
                        if (accTemp.Buf.IsEmpty)
                            accTemp = TempBuffer.Rent(n);
                        dest = accTemp.Buf;
                    }
                    op.Apply(acc, inTemp.Buf, dest);
                    acc = dest;
                }
                else
                {
                    await c.Send(acc, (v - mask + treeRoot) % p, phase).ConfigureAwait(false);
                    break;
                }
            }
            if (treeRoot != root)
            {
                if (r == treeRoot)
                    await c.Send(acc, root, phase + 1).ConfigureAwait(false);
                else if (r == root)
                    await c.Receive(receive, treeRoot, phase + 1).ConfigureAwait(false);
            }
            else if (r == root)
            {
                acc.CopyTo(receive);
            }
        }
        finally
        {
            accTemp.Dispose();
            inTemp.Dispose();
        }
    }

    public static async ValueTask ReduceScatterGather(CollectiveCall c, Buf send, Buf receive, Reducer op, int root, int phase)
    {
        int p = c.Size, r = c.Rank;
        var blocks = Blocks.Even(p, send.Length / op.ElementSize, op.ElementSize);
        using var accTemp = r == root ? default : TempBuffer.Rent(send.Length);
        var acc = r == root ? receive.Slice(0, send.Length) : accTemp.Buf;
        send.CopyTo(acc);
        using (var temp = TempBuffer.Rent(blocks.MaxLength))
            await ReduceScatterAlgorithms.Ring(c, acc, blocks, temp.Buf, op, phase).ConfigureAwait(false);
        if (r != root)
        {
            var mine = blocks.Of(acc, r);
            if (!mine.IsEmpty)
                await c.Send(mine, root, phase + 1).ConfigureAwait(false);
            return;
        }
        var batch = CollectiveCall.RentBatch(p);
        try
        {
            int n = 0;
            for (int i = 0; i < p; i++)
            {
                var block = blocks.Of(acc, i);
                if (i != r && !block.IsEmpty)
                    batch[n++] = c.StartReceive(block, i, phase + 1);
            }
            await c.WaitAll(batch, n).ConfigureAwait(false);
        }
        finally
        {
            CollectiveCall.ReturnBatch(batch);
        }
    }
}
