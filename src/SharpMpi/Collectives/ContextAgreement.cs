using System.Runtime.InteropServices;

namespace SharpMpi.Collectives;

/// <summary>
/// Agrees on the largest of one int per rank, to pick a context id that is free on every member when a
/// communicator is created. Max is idempotent, so the dissemination pattern gives every rank the global
/// maximum after ⌈log2 n⌉ rounds for any n.
/// </summary>
internal static class ContextAgreement
{
    public static int AgreeMax(Communicator comm, int value)
    {
        int n = comm.Size;
        int rank = comm.Rank;
        int current = value;
        for (int k = 1; k < n; k <<= 1)
        {
            int to = (rank + k) % n;
            int from = (rank - k + n) % n;
            int mine = current;
            int theirs = 0;
            comm.SendReceiveInternal(MemoryMarshal.AsBytes(new ReadOnlySpan<int>(in mine)), to,
                MemoryMarshal.AsBytes(new Span<int>(ref theirs)), from, CollectiveTags.ContextAgreement);
            current = Math.Max(current, theirs);
        }
        return current;
    }
}
