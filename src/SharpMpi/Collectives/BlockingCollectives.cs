using System.Runtime.CompilerServices;

namespace SharpMpi.Collectives;

/// <summary>
/// Blocking small-message paths of Barrier, Broadcast, Reduce and Allreduce: the same algorithms as the
/// <c>async ValueTask</c> versions (which serve the nonblocking calls and long messages), written as plain
/// blocking sendrecv-style calls. A blocking collective of a few bytes costs about as much as its message
/// rounds; a state machine per call, a pinned pooled scratch buffer and a request per eager send were a
/// large share of that. Scratch space lives on the stack (at most <see cref="StackBytes"/> per buffer).
/// </summary>
/// <remarks>
/// Rounds for 2 and 4 ranks: allreduce and barrier 1 and 2 exchanges (recursive doubling / dissemination or linear),
/// broadcast and reduce 1 and 2 tree levels. Results equal the async versions' bit for bit: partners combine
/// in the same order (lower ranks on the left).
/// </remarks>
internal static unsafe class BlockingCollectives
{
    /// <summary>Largest scratch buffer taken from the stack; longer messages take the general paths.</summary>
    public const int StackBytes = 4096;

    /// <summary>The barrier <see cref="BarrierAlgorithms.Choose"/> picks, as plain blocking calls.</summary>
    public static void Barrier(CollectiveCall c)
    {
        var forced = c.Tuning.Barrier;
        if (forced is BarrierAlgorithm.Auto or BarrierAlgorithm.SharedMemory
            && SharedMemoryCollectives.For(c, forced == BarrierAlgorithm.SharedMemory) is { } shared)
        {
            shared.Barrier();
            return;
        }
        int p = c.Size, r = c.Rank;
        if (BarrierAlgorithms.Choose(c) == BarrierAlgorithm.Linear)
        {
            if (r != 0)
            {
                c.SendNow(default, 0, 0);
                c.ReceiveNow(default, 0, 1);
                return;
            }
            // Arrivals wait in the unexpected queue until taken, so taking them in rank order costs nothing extra.
            for (int from = 1; from < p; from++)
                c.ReceiveNow(default, from, 0);
            for (int to = 1; to < p; to++)
                c.SendNow(default, to, 1);
            return;
        }
        // Dissemination: ⌈log2 p⌉ rounds of empty exchanges.
        for (int k = 1; k < p; k <<= 1)
            c.SendReceiveNow(default, (r + k) % p, default, (r - k + p) % p, 0);
    }

    /// <summary>Binomial broadcast of a buffer no longer than the transport's eager limit (sends never wait long).</summary>
    public static void Broadcast(CollectiveCall c, Buf buffer, int root, int phase)
    {
        int p = c.Size, v = (c.Rank - root + p) % p;
        int mask = 1;
        while (mask < p)
        {
            if ((v & mask) != 0)
            {
                c.ReceiveNow(buffer, (v - mask + root) % p, phase);
                break;
            }
            mask <<= 1;
        }
        for (mask >>= 1; mask > 0; mask >>= 1)
        {
            if (v + mask < p)
                c.SendNow(buffer, (v + mask + root) % p, phase);
        }
    }

    /// <summary>Linear broadcast of a buffer no longer than the transport's eager limit: the root sends to each rank.</summary>
    public static void LinearBroadcast(CollectiveCall c, Buf buffer, int root, int phase)
    {
        int p = c.Size;
        if (c.Rank != root)
        {
            c.ReceiveNow(buffer, root, phase);
            return;
        }
        for (int i = 1; i < p; i++)
            c.SendNow(buffer, (root + i) % p, phase);
    }

    /// <summary>
    /// Recursive-doubling allreduce of <paramref name="buffer"/> (≤ <see cref="StackBytes"/>, already holding
    /// this rank's contribution), with the non-power-of-two fix-up; same combine order as
    /// <see cref="AllreduceAlgorithms.RecursiveDoubling"/>, so it serves non-commutative operators too.
    /// </summary>
    [SkipLocalsInit]
    public static void Allreduce(CollectiveCall c, Buf buffer, Reducer op)
    {
        int r = c.Rank;
        byte* scratch = stackalloc byte[(int)buffer.Length];
        var tmp = new Buf(scratch, buffer.Length);
        var fold = new PowerOfTwoFold(c.Size, r);
        if (fold.SitsOut)
        {
            c.SendNow(buffer, r + 1, 0);
        }
        else
        {
            if (fold.TakesIn)
            {
                c.ReceiveNow(tmp, r - 1, 0);
                op.Apply(tmp, buffer, buffer);
            }
            for (int mask = 1; mask < fold.Pof2; mask <<= 1)
            {
                int partner = fold.Partner(mask);
                c.SendReceiveNow(buffer, partner, tmp, partner, 1);
                op.FoldInRankOrder(tmp, buffer, partner < r);
            }
        }
        if (fold.SitsOut)
            c.ReceiveNow(buffer, r + 1, 2);
        else if (fold.TakesIn)
            c.SendNow(buffer, r - 1, 2);
    }

    /// <summary>
    /// Binomial reduce of <paramref name="send"/> (≤ <see cref="StackBytes"/>) to <paramref name="root"/>; same
    /// tree and combine order as <see cref="ReduceAlgorithms.Binomial"/> (non-commutative operators reduce at
    /// rank 0, which forwards to the root).
    /// </summary>
    [SkipLocalsInit]
    public static void Reduce(CollectiveCall c, Buf send, Buf receive, Reducer op, int root, int phase)
    {
        int p = c.Size, r = c.Rank;
        int treeRoot = op.IsCommutative ? root : 0;
        int v = (r - treeRoot + p) % p;
        long n = send.Length;
        byte* incoming = stackalloc byte[(int)n];
        byte* partial = stackalloc byte[(int)n];
        var inBuf = new Buf(incoming, n);
        var acc = send;
        var dest = r == root ? receive.Slice(0, n) : new Buf(partial, n);
        for (int mask = 1; mask < p; mask <<= 1)
        {
            if ((v & mask) == 0)
            {
                int child = v | mask;
                if (child >= p)
                    continue;
                c.ReceiveNow(inBuf, (child + treeRoot) % p, phase);
                // Our accumulator covers ranks [v, v + mask), the child's [v + mask, v + 2·mask): ours goes left.
                op.Apply(acc, inBuf, dest);
                acc = dest;
            }
            else
            {
                c.SendNow(acc, (v - mask + treeRoot) % p, phase);
                break;
            }
        }
        if (treeRoot != root)
        {
            if (r == treeRoot)
                c.SendNow(acc, root, phase + 1);
            else if (r == root)
                c.ReceiveNow(receive, treeRoot, phase + 1);
        }
        else if (r == root)
        {
            acc.CopyTo(receive);
        }
    }
}
