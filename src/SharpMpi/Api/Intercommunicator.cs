using System.Runtime.InteropServices;
using SharpMpi.Collectives;

namespace SharpMpi;

/// <summary>
/// A communicator between two disjoint groups (an MPI intercommunicator): point-to-point calls address the
/// ranks of the remote group, and a message's <see cref="Status.Source"/> is the sender's rank in the remote
/// group. Created by <see cref="Communicator.CreateInter"/>; <see cref="Merge"/> turns it into an ordinary
/// communicator of both groups.
/// </summary>
/// <remarks>
/// <see cref="Communicator.Rank"/>, <see cref="Communicator.Size"/> and <see cref="Communicator.Group"/>
/// describe the local group (MPI_Comm_rank/size/group on an intercommunicator). Both groups share one context
/// id pair; the steps that involve only the local group run on a private duplicate of it. The
/// collectives MPI defines on intercommunicators (Barrier, Broadcast, Gather(v), Scatter(v), Allgather(v),
/// Alltoall(v/w), Reduce, Allreduce, ReduceScatter, ReduceScatterBlock) move data between the groups: rooted
/// ones take <see cref="Communicator.Root"/> / <see cref="Communicator.ProcNull"/> in the root's group and the
/// root's rank elsewhere, and blocks are indexed by remote rank. Their nonblocking forms (IXxx, XxxAsync) run the
/// same steps driven by the progress engine, and the object forms (BroadcastObject … AllreduceObject) follow the
/// same root rules. MPI defines no scans, no in-place forms, no topologies and no CreateGroup/CreateInter/SplitShared
/// on intercommunicators: those throw <see cref="MpiException"/> with <see cref="ErrorClass.Unsupported"/>.
/// <see cref="Split(int?, int)"/> and <see cref="Create(Group)"/> return intercommunicators.
/// </remarks>
public sealed class Intercommunicator : Communicator
{
    private readonly Communicator _local;
    private Group? _remoteGroup;

    internal Intercommunicator(MpiEnvironment environment, int[] localWorldRanks, int rank, int context, string name,
        int[] remoteWorldRanks, Communicator local)
        : base(environment, localWorldRanks, rank, context, name, remoteWorldRanks) =>
        _local = local;

    /// <summary>The local group's private communicator (the intra-group steps of collectives run on it).</summary>
    internal Communicator LocalCommunicator => _local;

    /// <summary>Always true.</summary>
    public override bool IsInter => true;

    /// <summary>Number of ranks in the remote group (MPI_Comm_remote_size).</summary>
    public int RemoteSize => PeerWorldRanks.Length;

    /// <summary>The remote group (MPI_Comm_remote_group); this process is not a member.</summary>
    public Group RemoteGroup => _remoteGroup ??= new Group(PeerWorldRanks.ToArray(), WorldRanks[Rank]);

    /// <summary>
    /// Creates an ordinary communicator of both groups (MPI_Intercomm_merge): the group that passes
    /// <paramref name="high"/> = false comes first, each group in its own order. When both groups pass the
    /// same value, the group whose leader (rank 0) has the lower world rank comes first.
    /// </summary>
    /// <remarks>Collective over both groups.</remarks>
    /// <exception cref="ObjectDisposedException">The intercommunicator was disposed.</exception>
    public Communicator Merge(bool high)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        var local = _local.ManagementChannel();
        var leaders = LeaderChannel();
        int remoteHigh = 0;
        if (Rank == 0)
        {
            int mine = high ? 1 : 0;
            leaders.SendReceive(MemoryMarshal.AsBytes(new ReadOnlySpan<int>(in mine)), 1,
                MemoryMarshal.AsBytes(new Span<int>(ref remoteHigh)), 1);
        }
        remoteHigh = local.Broadcast(Rank == 0 ? [remoteHigh] : null, 0)[0];
        var localRanks = WorldRanks;
        var remoteRanks = PeerWorldRanks;
        bool localFirst = high != (remoteHigh != 0) ? !high : localRanks[0] < remoteRanks[0];
        var merged = new int[localRanks.Length + remoteRanks.Length];
        if (localFirst)
        {
            localRanks.CopyTo(merged);
            remoteRanks.CopyTo(merged.AsSpan(localRanks.Length));
        }
        else
        {
            remoteRanks.CopyTo(merged);
            localRanks.CopyTo(merged.AsSpan(remoteRanks.Length));
        }
        int context = AllocateAcross(Environment, local, 0, leaders, _local.P2PContext);
        int rank = localFirst ? Rank : remoteRanks.Length + Rank;
        return new Communicator(Environment, merged, rank, context, Name + ".merge");
    }

    /// <summary>Duplicates the intercommunicator: same groups, a new context (MPI_Comm_dup). Collective over both groups.</summary>
    /// <exception cref="ObjectDisposedException">The intercommunicator was disposed.</exception>
    public new Intercommunicator Dup() => (Intercommunicator)base.Dup();

    private protected override Communicator DupCore()
    {
        int context = AllocateAcross(Environment, _local.ManagementChannel(), 0, LeaderChannel(), _local.P2PContext);
        var local = _local.Dup();
        return new Intercommunicator(Environment, WorldRanks.ToArray(), Rank, context, Name + ".dup", PeerWorldRanks.ToArray(), local);
    }

    /// <summary>
    /// Partitions both groups by color (MPI_Comm_split on an intercommunicator): the ranks of each group that
    /// pass the same <paramref name="color"/>, ordered by <paramref name="key"/> then by rank, form the local
    /// group of a new intercommunicator whose remote group is the other group's ranks of that color.
    /// </summary>
    /// <remarks>Collective over both groups.</remarks>
    /// <param name="color">The subset to join (≥ 0), or null (MPI_UNDEFINED) to join none.</param>
    /// <param name="key">Orders ranks within their group of the new intercommunicator.</param>
    /// <returns>The new intercommunicator; null when <paramref name="color"/> is null or no rank of the other group passed it.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="color"/> is negative.</exception>
    /// <exception cref="ObjectDisposedException">The intercommunicator was disposed.</exception>
    public new Intercommunicator? Split(int? color, int key = 0)
    {
        if (color < 0)
            throw new ArgumentOutOfRangeException(nameof(color), color, "A color must be non-negative, or null for MPI_UNDEFINED.");
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        var newLocal = _local.Split(color, key);
        var local = _local.ManagementChannel();
        var mine = new int[2 * Size];
        local.Allgather([color ?? -1, key], mine);
        var theirs = SwapWithRemote(local, mine);
        var remoteRanks = MembersOf(theirs, color ?? -1);
        var remoteWorldRanks = new int[remoteRanks.Length];
        for (int i = 0; i < remoteRanks.Length; i++)
            remoteWorldRanks[i] = PeerWorldRanks[remoteRanks[i]];
        return Join(newLocal, remoteWorldRanks, $".split({color})");
    }

    /// <summary>
    /// Creates an intercommunicator between a subset of each group (MPI_Comm_create on an intercommunicator):
    /// <paramref name="group"/> lists the members of this rank's group; the other group passes its own subset.
    /// </summary>
    /// <remarks>Collective over both groups; every rank of a group passes the same group (same members, same order).</remarks>
    /// <returns>The new intercommunicator; null on ranks not in <paramref name="group"/>, and everywhere when either subset is empty.</returns>
    /// <exception cref="ArgumentException">A member of <paramref name="group"/> is not in the local group.</exception>
    /// <exception cref="ObjectDisposedException">The intercommunicator was disposed.</exception>
    public new Intercommunicator? Create(Group group)
    {
        ArgumentNullException.ThrowIfNull(group);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        var newLocal = _local.Create(group);
        var remoteWorldRanks = SwapWithRemote(_local.ManagementChannel(), group.WorldRanks);
        return Join(newLocal, remoteWorldRanks, ".create");
    }

    /// <summary>
    /// The second half of Split and Create: a context pair agreed by both groups (every rank takes part), then the
    /// intercommunicator of <paramref name="newLocal"/> (the local subset, with its own context) and the remote subset.
    /// </summary>
    private Intercommunicator? Join(Communicator? newLocal, int[] remoteWorldRanks, string suffix)
    {
        int context = AllocateAcross(Environment, _local.ManagementChannel(), 0, LeaderChannel(), _local.P2PContext);
        if (newLocal is null || remoteWorldRanks.Length == 0)
        {
            newLocal?.Dispose();
            return null;
        }
        return new Intercommunicator(Environment, newLocal.WorldRanks.ToArray(), newLocal.Rank, context, Name + suffix, remoteWorldRanks, newLocal);
    }

    /// <summary>Every rank of this group gets the other group's <paramref name="mine"/> (significant at the leaders only).</summary>
    private int[] SwapWithRemote(InternalChannel local, int[] mine) =>
        local.Broadcast(Rank == 0 ? SwapArrays(LeaderChannel(), mine) : null, 0);

    /// <summary>Swaps int arrays of any length with the other leader (member 1 of <paramref name="leaders"/>).</summary>
    private static int[] SwapArrays(InternalChannel leaders, int[] mine)
    {
        int count = mine.Length;
        int remoteCount = 0;
        leaders.SendReceive(MemoryMarshal.AsBytes(new ReadOnlySpan<int>(in count)), 1, MemoryMarshal.AsBytes(new Span<int>(ref remoteCount)), 1);
        var theirs = new int[remoteCount];
        leaders.SendReceive(MemoryMarshal.AsBytes(mine.AsSpan()), 1, MemoryMarshal.AsBytes(theirs.AsSpan()), 1);
        return theirs;
    }

    /// <summary>Rank 0 of each group to rank 0 of the other, on this intercommunicator's collective context.</summary>
    private InternalChannel LeaderChannel() =>
        new(Engine, CollectiveContext, InternalTags.Intercommunicator, [WorldRanks[0], PeerWorldRanks[0]], [0, 0], 0);

    /// <summary>MPI_Intercomm_create: see <see cref="Communicator.CreateInter"/> (arguments already checked).</summary>
    internal static Intercommunicator Create(Communicator parent, int localLeader, Communicator? peer, int remoteLeader, int tag)
    {
        var environment = parent.Environment;
        // The local group's own duplicate: its later intra-group steps never meet the parent's traffic.
        var local = parent.Dup();
        var localChannel = local.ManagementChannel();
        InternalChannel leaders = default;
        int[]? remote = null;
        if (parent.Rank == localLeader)
        {
            leaders = new InternalChannel(peer!.Engine, peer.CollectiveContext, InternalTags.ForIntercommunicatorCreate(tag),
                [peer.WorldRankOf(peer.Rank), peer.WorldRankOf(remoteLeader)], [peer.Rank, remoteLeader], 0);
            var mine = parent.WorldRanks.ToArray();
            remote = SwapArrays(leaders, mine);
            foreach (int w in remote)
            {
                if (Array.IndexOf(mine, w) >= 0)
                    throw new ArgumentException($"World rank {w} is in both groups; the groups of an intercommunicator must be disjoint.", nameof(peer));
            }
        }
        remote = localChannel.Broadcast(remote, localLeader);
        int context = AllocateAcross(environment, localChannel, localLeader, leaders, local.P2PContext);
        return new Intercommunicator(environment, parent.WorldRanks.ToArray(), parent.Rank, context, parent.Name + ".inter", remote, local);
    }

    /// <summary>
    /// Agrees on a context id pair free on every rank of both groups: each group agrees on its maximum, the
    /// leaders swap theirs over <paramref name="leaders"/> (member 1 is the other leader), and each leader
    /// broadcasts the larger to its group.
    /// </summary>
    private static int AllocateAcross(MpiEnvironment environment, InternalChannel local, int leader, InternalChannel leaders, int priorityContext) =>
        environment.Contexts.Allocate((long)priorityContext << 32, value =>
        {
            int agreed = local.Max(value);
            if (local.Index == leader)
            {
                int mine = agreed;
                int theirs = 0;
                leaders.SendReceive(MemoryMarshal.AsBytes(new ReadOnlySpan<int>(in mine)), 1,
                    MemoryMarshal.AsBytes(new Span<int>(ref theirs)), 1);
                agreed = Math.Max(agreed, theirs);
            }
            return local.Broadcast(local.Index == leader ? [agreed] : null, leader)[0];
        });
}
