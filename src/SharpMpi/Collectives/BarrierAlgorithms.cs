namespace SharpMpi.Collectives;

/// <summary>Barrier: dissemination (Hensgen, Finkel, Manber), ⌈log2 p⌉ rounds of empty messages for any p.</summary>
internal static class BarrierAlgorithms
{
    public static async ValueTask Run(CollectiveCall c)
    {
        int p = c.Size, r = c.Rank;
        for (int k = 1; k < p; k <<= 1)
            await c.SendReceive(default, (r + k) % p, default, (r - k + p) % p, 0).ConfigureAwait(false);
    }
}
