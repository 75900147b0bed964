namespace SharpMpi.Collectives;

/// <summary>
/// Dissemination barrier (Hensgen, Finkel, Manber): in round k each rank signals rank + 2^k and waits for
/// rank − 2^k; after ⌈log2 n⌉ rounds every rank has heard, directly or not, from every other. Works for
/// any rank count.
/// </summary>
internal static class DisseminationBarrier
{
    public static void Run(Communicator comm)
    {
        int n = comm.Size;
        int rank = comm.Rank;
        for (int k = 1; k < n; k <<= 1)
        {
            int to = (rank + k) % n;
            int from = (rank - k + n) % n;
            comm.SendReceiveInternal(default, to, default, from, CollectiveTags.Barrier);
        }
    }
}
