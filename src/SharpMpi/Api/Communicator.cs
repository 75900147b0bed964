using System.Runtime.CompilerServices;
using SharpMpi.Engine;

namespace SharpMpi;

/// <summary>
/// A group of ranks that exchange messages in their own context: point-to-point messages and collectives
/// on one communicator never mix with those on another. Every method is thread-safe.
/// </summary>
public partial class Communicator : IDisposable
{
    /// <summary>Receive from any source (MPI_ANY_SOURCE).</summary>
    public const int AnySource = -1;

    /// <summary>Receive with any tag (MPI_ANY_TAG).</summary>
    public const int AnyTag = -1;

    /// <summary>The null process: sends to it and receives from it complete at once and move nothing (MPI_PROC_NULL).</summary>
    public const int ProcNull = -2;

    /// <summary>
    /// The root of a rooted collective on an intercommunicator passes this as <c>root</c> (MPI_ROOT); the other
    /// ranks of its group pass <see cref="ProcNull"/>, the ranks of the other group the root's rank in its group.
    /// </summary>
    public const int Root = -3;

    /// <summary>Largest valid tag (MPI_TAG_UB).</summary>
    public const int TagUpperBound = int.MaxValue;

    private readonly int[] _worldRanks;
    // World ranks of the ranks that point-to-point calls address: the local group, or the remote group of an
    // intercommunicator (messages carry the sender's local rank, which is its rank in the receiver's remote group).
    private readonly int[] _peerWorldRanks;
    private bool _disposed;

    internal Communicator(MpiEnvironment environment, int[] worldRanks, int rank, int p2pContext, string name,
        int[]? remoteWorldRanks = null)
    {
        Environment = environment;
        Engine = environment.Engine;
        _worldRanks = worldRanks;
        _peerWorldRanks = remoteWorldRanks ?? worldRanks;
        Rank = rank;
        Size = worldRanks.Length;
        P2PContext = p2pContext;
        CollectiveContext = p2pContext + 1;
        Name = name;
        Engine.RegisterCommunicator(this);
    }

    /// <summary>The environment this communicator belongs to.</summary>
    public MpiEnvironment Environment { get; }

    internal ProgressEngine Engine { get; }

    /// <summary>Context id of point-to-point traffic; collectives use <see cref="CollectiveContext"/>.</summary>
    internal int P2PContext { get; }

    internal int CollectiveContext { get; }

    /// <summary>This process's rank in the communicator, 0 ≤ Rank &lt; Size.</summary>
    public int Rank { get; }

    /// <summary>Number of ranks in the communicator.</summary>
    public int Size { get; }

    /// <summary>A name for diagnostics (MPI_Comm_set_name).</summary>
    public string Name { get; set; }

    /// <summary>World rank of communicator rank <paramref name="rank"/> (of the remote group on an intercommunicator).</summary>
    internal int WorldRankOf(int rank) => _peerWorldRanks[rank];

    /// <summary>World ranks of the local group, indexed by rank.</summary>
    internal ReadOnlySpan<int> WorldRanks => _worldRanks;

    /// <summary>World ranks that point-to-point calls address: the local group, or an intercommunicator's remote group.</summary>
    internal ReadOnlySpan<int> PeerWorldRanks => _peerWorldRanks;

    /// <inheritdoc/>
    public override string ToString() => $"{Name} (rank {Rank} of {Size})";

    /// <summary>Releases the communicator (MPI_Comm_free). World and Self are released with the environment.</summary>
    public void Dispose()
    {
        _disposed = true;
        SharedCollectives?.Dispose();
    }

    /// <summary>The shared-memory collectives of this communicator, once a blocking collective looked for them.</summary>
    internal Collectives.SharedMemoryCollectives? SharedCollectives { get; set; }

    internal bool IsDisposed => _disposed;

    // ------------------------------------------------------------------ argument checks (once, at the API)

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckDestination(int dest, [CallerArgumentExpression(nameof(dest))] string? name = null)
    {
        if ((uint)dest >= (uint)_peerWorldRanks.Length && dest != ProcNull)
            ThrowRank(dest, name!);
        ObjectDisposedException.ThrowIf(_disposed, this);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckSource(int source, [CallerArgumentExpression(nameof(source))] string? name = null)
    {
        if ((uint)source >= (uint)_peerWorldRanks.Length && source != AnySource && source != ProcNull)
            ThrowRank(source, name!);
        ObjectDisposedException.ThrowIf(_disposed, this);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CheckSendTag(int tag, [CallerArgumentExpression(nameof(tag))] string? name = null)
    {
        if (tag < 0)
            throw new ArgumentOutOfRangeException(name, tag, $"A send tag must be between 0 and {TagUpperBound}.");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CheckReceiveTag(int tag, [CallerArgumentExpression(nameof(tag))] string? name = null)
    {
        if (tag < 0 && tag != AnyTag)
            throw new ArgumentOutOfRangeException(name, tag, $"A receive tag must be between 0 and {TagUpperBound}, or AnyTag.");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowRank(int rank, string name) =>
        throw new ArgumentOutOfRangeException(name, rank, $"Rank {rank} is not in communicator '{Name}' of size {_peerWorldRanks.Length}.");

    internal static Status ProcNullStatus => new(ProcNull, AnyTag, 0);
}
