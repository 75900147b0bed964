namespace SharpMpi.Collectives;

/// <summary>
/// MPICH's fix-up that lets recursive doubling and halving run on any rank count p: of the first 2·rem ranks
/// (rem = p − pof2, pof2 the largest power of two ≤ p) each even one hands its data to the odd one above it and
/// sits out, so that pof2 "core" ranks remain, numbered 0..pof2−1; at the end each odd one hands the result back.
/// </summary>
/// <remarks>
/// The blocking small-message allreduce (<see cref="BlockingCollectives.Allreduce"/>) and the general ones
/// (<see cref="AllreduceAlgorithms"/>) walk the same numbering, so they pair the same ranks in the same order.
/// </remarks>
internal readonly struct PowerOfTwoFold
{
    private readonly int _rem;
    private readonly int _rank;

    public PowerOfTwoFold(int size, int rank)
    {
        Pof2 = CollectiveCall.FloorPowerOfTwo(size);
        _rem = size - Pof2;
        _rank = rank;
        CoreRank = rank >= 2 * _rem ? rank - _rem : rank % 2 == 0 ? -1 : rank / 2;
    }

    /// <summary>Number of core ranks: the largest power of two ≤ the communicator size.</summary>
    public int Pof2 { get; }

    /// <summary>This rank's number among the core ranks, or −1 when it sits out.</summary>
    public int CoreRank { get; }

    /// <summary>Hands its data to rank + 1 first and gets the result from it last.</summary>
    public bool SitsOut => CoreRank < 0;

    /// <summary>Takes in rank − 1's data first (folded in on the left: rank − 1 is lower) and hands it the result last.</summary>
    public bool TakesIn => _rank < 2 * _rem && !SitsOut;

    /// <summary>The communicator rank of core rank <paramref name="core"/>.</summary>
    public int RankOf(int core) => core < _rem ? core * 2 + 1 : core + _rem;

    /// <summary>The partner of this core rank in the round of distance <paramref name="mask"/> (a power of two below <see cref="Pof2"/>).</summary>
    public int Partner(int mask) => RankOf(CoreRank ^ mask);
}
