namespace SharpMpi.Collectives;

/// <summary>
/// Barrier. Dissemination (Hensgen, Finkel, Manber): ⌈lg p⌉ rounds of empty messages for any p. Linear: every
/// rank signals rank 0, which waits for all of them and then releases them (2(p − 1) messages, rank 0 leaves
/// first); Open MPI's choice for 4–7 ranks, see <see cref="CollectiveTuning.BarrierLinearMinRanks"/>.
/// </summary>
internal static class BarrierAlgorithms
{
    public static ValueTask Run(CollectiveCall c) =>
        Choose(c) == BarrierAlgorithm.Linear ? Linear(c) : Dissemination(c);

    /// <summary>The algorithm for this call: the forced one, else by rank count.</summary>
    public static BarrierAlgorithm Choose(CollectiveCall c)
    {
        var t = c.Tuning;
        if (t.Barrier is not (BarrierAlgorithm.Auto or BarrierAlgorithm.SharedMemory))
            return t.Barrier;
        return c.Size >= t.BarrierLinearMinRanks && c.Size <= t.BarrierLinearMaxRanks
            ? BarrierAlgorithm.Linear
            : BarrierAlgorithm.Dissemination;
    }

    public static async ValueTask Dissemination(CollectiveCall c)
    {
        int p = c.Size, r = c.Rank;
        for (int k = 1; k < p; k <<= 1)
            await c.SendReceive(default, (r + k) % p, default, (r - k + p) % p, 0).ConfigureAwait(false);
    }

    public static async ValueTask Linear(CollectiveCall c)
    {
        int p = c.Size;
        if (c.Rank != 0)
        {
            await c.Send(default, 0, 0).ConfigureAwait(false);
            await c.Receive(default, 0, 1).ConfigureAwait(false);
            return;
        }
        var batch = CollectiveCall.RentBatch(p - 1);
        try
        {
            for (int r = 1; r < p; r++)
                batch[r - 1] = c.StartReceive(default, r, 0);
            await c.WaitAll(batch, p - 1).ConfigureAwait(false);
            for (int r = 1; r < p; r++)
                batch[r - 1] = c.StartSend(default, r, 1);
            await c.WaitAll(batch, p - 1).ConfigureAwait(false);
        }
        finally
        {
            CollectiveCall.ReturnBatch(batch);
        }
    }
}
