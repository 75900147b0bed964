
namespace SharpMpi.Collectives;

/// <summary>
/// Broadcast. Linear (the root sends to each rank; (p − 1)(α + nβ) at the root, but one level) for a few ranks
/// and short messages;
/// binomial tree (⌈lg p⌉(α + nβ)) for short messages or few ranks; for long ones van de Geijn's
/// scatter (binomial) + ring allgather, (lg p + p − 1)α + 2n(p−1)/p β. Ranks are renumbered relative to the
/// root (vrank).
/// </summary>
internal static class BroadcastAlgorithms
{
    public static ValueTask Run(CollectiveCall c, Buf buffer, int root, int phase = 0)
    {
        if (c.Size == 1 || buffer.IsEmpty)
            return default;
        return Choose(c, buffer) switch
        {
            BroadcastAlgorithm.ScatterRingAllgather => ScatterRingAllgather(c, buffer, root, phase),
            BroadcastAlgorithm.Linear => Linear(c, buffer, root, phase),
            _ => Binomial(c, buffer, root, phase),
        };
    }

    /// <summary>The blocking call: short binomial cases take <see cref="BlockingCollectives.Broadcast"/>.</summary>
    public static void RunBlocking(CollectiveCall c, Buf buffer, int root)
    {
        if (c.Size == 1 || buffer.IsEmpty)
            return;
        var forced = c.Tuning.Broadcast;
        if (forced is BroadcastAlgorithm.Auto or BroadcastAlgorithm.SharedMemory
            && SharedMemoryCollectives.FitsSlot(buffer.Length)
            && SharedMemoryCollectives.For(c, forced == BroadcastAlgorithm.SharedMemory) is { } shared)
        {
            shared.Broadcast(buffer, root);
            return;
        }
        var algorithm = Choose(c, buffer);
        if (buffer.Length <= BlockingCollectives.StackBytes && algorithm == BroadcastAlgorithm.Binomial)
            BlockingCollectives.Broadcast(c, buffer, root, 0);
        else if (buffer.Length <= BlockingCollectives.StackBytes && algorithm == BroadcastAlgorithm.Linear)
            BlockingCollectives.LinearBroadcast(c, buffer, root, 0);
        else
            CollectiveCall.Wait(Run(c, buffer, root));
    }

    private static BroadcastAlgorithm Choose(CollectiveCall c, Buf buffer)
    {
        var t = c.Tuning;
        var algorithm = t.Broadcast == BroadcastAlgorithm.SharedMemory ? BroadcastAlgorithm.Auto : t.Broadcast;
        if (algorithm == BroadcastAlgorithm.Auto && c.Size <= t.BroadcastLinearMaxRanks && buffer.Length <= t.BroadcastLinearMaxBytes)
        {
            algorithm = BroadcastAlgorithm.Linear;
        }
        else if (algorithm == BroadcastAlgorithm.Auto)
        {
            algorithm = buffer.Length < t.BroadcastShortBytes || c.Size < t.BroadcastMinRanksForScatter
                ? BroadcastAlgorithm.Binomial
                : BroadcastAlgorithm.ScatterRingAllgather;
        }
        return algorithm;
    }

    public static async ValueTask Binomial(CollectiveCall c, Buf buffer, int root, int phase)
    {
        int p = c.Size, v = (c.Rank - root + p) % p;
        int mask = 1;
        while (mask < p)
        {
            if ((v & mask) != 0)
            {
                await c.Receive(buffer, (v - mask + root) % p, phase).ConfigureAwait(false);
                break;
            }
            mask <<= 1;
        }
        // Children v + mask for every mask below the one we received at, largest subtree first, all in flight.
        var batch = CollectiveCall.RentBatch(32);
        try
        {
            int n = 0;
            for (mask >>= 1; mask > 0; mask >>= 1)
            {
                if (v + mask < p)
                    batch[n++] = c.StartSend(buffer, (v + mask + root) % p, phase);
            }
            await c.WaitAll(batch, n).ConfigureAwait(false);
        }
        finally
        {
            CollectiveCall.ReturnBatch(batch);
        }
    }

    /// <summary>The root sends the whole buffer to every other rank, all sends in flight at once.</summary>
    public static async ValueTask Linear(CollectiveCall c, Buf buffer, int root, int phase)
    {
        int p = c.Size;
        if (c.Rank != root)
        {
            await c.Receive(buffer, root, phase).ConfigureAwait(false);
            return;
        }
        var batch = CollectiveCall.RentBatch(p - 1);
        try
        {
            int n = 0;
            for (int i = 1; i < p; i++)
                batch[n++] = c.StartSend(buffer, (root + i) % p, phase);
            await c.WaitAll(batch, n).ConfigureAwait(false);
        }
        finally
        {
            CollectiveCall.ReturnBatch(batch);
        }
    }

    public static async ValueTask ScatterRingAllgather(CollectiveCall c, Buf buffer, int root, int phase)
    {
        int p = c.Size, v = (c.Rank - root + p) % p;
        var blocks = Blocks.Chunked(p, (buffer.Length + p - 1) / p, buffer.Length);
        // Scatter: vrank v receives the blocks of its binomial subtree [v, v + lowbit(v)) from v − lowbit(v),
        // then hands each child v + m the blocks [v + m, v + 2m).
        int mask = 1;
        while (mask < p)
        {
            if ((v & mask) != 0)
            {
                var part = blocks.Range(buffer, v, Math.Min(p, v + mask));
                if (!part.IsEmpty)
                    await c.Receive(part, (v - mask + root) % p, phase).ConfigureAwait(false);
                break;
            }
            mask <<= 1;
        }
        for (mask >>= 1; mask > 0; mask >>= 1)
        {
            if (v + mask < p)
            {
                var part = blocks.Range(buffer, v + mask, Math.Min(p, v + 2 * mask));
                if (!part.IsEmpty)
                    await c.Send(part, (v + mask + root) % p, phase).ConfigureAwait(false);
            }
        }
        await AllgatherAlgorithms.RingShifted(c, buffer, blocks, root, phase + 1).ConfigureAwait(false);
    }
}
