using SharpMpi.Collectives;

namespace SharpMpi;

// Communicator management (MPI standard chapter 7): groups, duplication, splitting, creation from groups,
// comparison, and the factories of intercommunicators and virtual topologies. Every new communicator gets a
// context id pair of its own (MpiEnvironment.AllocateContext), so its traffic never meets its parent's.
public partial class Communicator
{
    private Group? _group;

    /// <summary>The group of this communicator (MPI_Comm_group); the local group of an intercommunicator.</summary>
    public Group Group => _group ??= new Group(_worldRanks, _worldRanks[Rank]);

    /// <summary>True for an intercommunicator (MPI_Comm_test_inter).</summary>
    public virtual bool IsInter => false;

    /// <summary>The channel of management traffic over the whole communicator, on its collective context.</summary>
    internal InternalChannel ManagementChannel() =>
        new(Engine, CollectiveContext, InternalTags.Management, _worldRanks, null, Rank);

    /// <summary>Duplicates the communicator: same group, same topology, a new context (MPI_Comm_dup).</summary>
    /// <remarks>
    /// Collective: every rank of the communicator must call it. Messages sent on the duplicate never match
    /// receives on the original, and the other way round. The name is the original's with <c>.dup</c> added.
    /// Calls on different communicators may run concurrently from different threads.
    /// </remarks>
    /// <exception cref="ObjectDisposedException">The communicator was disposed.</exception>
    public Communicator Dup()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return DupCore();
    }

    /// <summary>Creates the duplicate; topologies and intercommunicators keep their kind.</summary>
    private protected virtual Communicator DupCore() =>
        new(Environment, _worldRanks, Rank, Environment.AllocateContext(this), Name + ".dup");

    /// <summary>
    /// Partitions the communicator (MPI_Comm_split): ranks that pass the same <paramref name="color"/> form one
    /// new communicator, ordered by <paramref name="key"/> and, for equal keys, by their rank here.
    /// </summary>
    /// <remarks>Collective: every rank must call it. Calls on different communicators may run concurrently.</remarks>
    /// <param name="color">The subset to join (≥ 0), or null (MPI_UNDEFINED) to join none.</param>
    /// <param name="key">Orders ranks within the new communicator.</param>
    /// <returns>The new communicator, or null when <paramref name="color"/> is null.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="color"/> is negative.</exception>
    /// <seealso cref="Intercommunicator.Split(int?, int)">On an intercommunicator.</seealso>
    public Communicator? Split(int? color, int key = 0)
    {
        if (color < 0)
            throw new ArgumentOutOfRangeException(nameof(color), color, "A color must be non-negative, or null for MPI_UNDEFINED.");
        if (this is Intercommunicator inter)
            return inter.Split(color, key);
        CheckIntracommunicator();
        var members = SplitMembers(color ?? -1, key);
        int context = Environment.AllocateContext(this);
        if (color is null)
            return null;
        return FromMembers(members, context, $"{Name}.split({color})");
    }

    /// <summary>
    /// Splits the communicator into one communicator per shared-memory node (MPI_Comm_split_type with
    /// MPI_COMM_TYPE_SHARED): ranks on the same host, ordered by <paramref name="key"/>, then by rank here.
    /// </summary>
    /// <remarks>Collective: every rank must call it.</remarks>
    /// <exception cref="MpiException">With <see cref="ErrorClass.Unsupported"/> on an intercommunicator.</exception>
    public Communicator SplitShared(int key = 0)
    {
        CheckIntracommunicator();
        int color = Environment.NodeOfWorldRank[_worldRanks[Rank]];
        var members = SplitMembers(color, key);
        int context = Environment.AllocateContext(this);
        return FromMembers(members, context, $"{Name}.shared({color})");
    }

    /// <summary>
    /// Creates a communicator of the ranks in <paramref name="group"/>, a subset of this communicator's group
    /// (MPI_Comm_create).
    /// </summary>
    /// <remarks>
    /// Collective over this whole communicator: every rank must call it, members with the same group (or,
    /// as MPI-2.2 allows, each with its own group when the groups are disjoint), non-members with any group.
    /// To involve the members only, use <see cref="CreateGroup(Group, int)"/>.
    /// </remarks>
    /// <returns>The new communicator, or null on ranks that are not in <paramref name="group"/>.</returns>
    /// <exception cref="ArgumentException">A member of <paramref name="group"/> is not in this communicator.</exception>
    /// <seealso cref="Intercommunicator.Create(Group)">On an intercommunicator.</seealso>
    public Communicator? Create(Group group)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (this is Intercommunicator inter)
            return inter.Create(group);
        CheckIntracommunicator();
        CheckSubgroup(group, nameof(group));
        int context = Environment.AllocateContext(this);
        int rank = Array.IndexOf(group.WorldRanks, _worldRanks[Rank]);
        if (rank < 0)
            return null;
        return new Communicator(Environment, (int[])group.WorldRanks.Clone(), rank, context, $"{Name}.create");
    }

    /// <summary>
    /// Creates a communicator of the ranks in <paramref name="group"/>, a subset of this communicator's group,
    /// with only those ranks taking part (MPI_Comm_create_group).
    /// </summary>
    /// <remarks>
    /// Collective over the members of <paramref name="group"/> only; the other ranks of this communicator
    /// need not call it. Concurrent calls on the same communicator with overlapping groups must use
    /// different <paramref name="tag"/>s (tags that are equal modulo 2^29 count as equal).
    /// </remarks>
    /// <param name="group">The members; this rank must be one of them.</param>
    /// <param name="tag">Tells concurrent calls on this communicator apart.</param>
    /// <exception cref="ArgumentException">This rank is not in <paramref name="group"/>, or a member is not in this communicator.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tag"/> is negative.</exception>
    /// <exception cref="MpiException">With <see cref="ErrorClass.Unsupported"/> on an intercommunicator.</exception>
    public Communicator CreateGroup(Group group, int tag = 0)
    {
        ArgumentNullException.ThrowIfNull(group);
        CheckSendTag(tag);
        CheckIntracommunicator();
        var labels = CheckSubgroup(group, nameof(group));
        int rank = Array.IndexOf(group.WorldRanks, _worldRanks[Rank]);
        if (rank < 0)
            throw new ArgumentException($"Rank {Rank} of '{Name}' calls CreateGroup but is not in the group.", nameof(group));
        var worldRanks = (int[])group.WorldRanks.Clone();
        // Agreed among the members only, on this communicator's collective context; the messages carry this
        // communicator's ranks, so members of other groups (other calls with this tag) are never confused.
        var channel = new InternalChannel(Engine, CollectiveContext, InternalTags.ForCreateGroup(tag), worldRanks, labels, rank);
        long priority = ((long)P2PContext << 32) + 1 + (tag & 0x1FFF_FFFF);
        int context = Environment.Contexts.Allocate(priority, channel.Max);
        return new Communicator(Environment, worldRanks, rank, context, $"{Name}.group({tag})");
    }

    /// <summary>
    /// Compares two communicators (MPI_Comm_compare): <see cref="ComparisonResult.Identical"/> for the same
    /// communicator, <see cref="ComparisonResult.Congruent"/> for the same members in the same order,
    /// <see cref="ComparisonResult.Similar"/> for the same members in another order, else
    /// <see cref="ComparisonResult.Unequal"/>. Intercommunicators compare both groups.
    /// </summary>
    /// <exception cref="ArgumentNullException">A communicator is null.</exception>
    public static ComparisonResult Compare(Communicator first, Communicator second)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        if (ReferenceEquals(first, second) ||
            (first.Environment == second.Environment && first.P2PContext == second.P2PContext))
            return ComparisonResult.Identical;
        if (first.IsInter != second.IsInter)
            return ComparisonResult.Unequal;
        var local = Group.Compare(first._worldRanks, second._worldRanks);
        var remote = first.IsInter ? Group.Compare(first._peerWorldRanks, second._peerWorldRanks) : ComparisonResult.Identical;
        if (local == ComparisonResult.Unequal || remote == ComparisonResult.Unequal)
            return ComparisonResult.Unequal;
        return local == ComparisonResult.Identical && remote == ComparisonResult.Identical
            ? ComparisonResult.Congruent
            : ComparisonResult.Similar;
    }

    // ------------------------------------------------------------------ intercommunicators and topologies

    /// <summary>
    /// Creates an intercommunicator between this communicator's group and another, disjoint group
    /// (MPI_Intercomm_create). The two leaders talk over <paramref name="peer"/>.
    /// </summary>
    /// <remarks>
    /// Collective over both groups: every rank of this communicator and of the remote group's communicator
    /// calls it, each side naming its own leader and the other side's leader's rank in <paramref name="peer"/>.
    /// Point-to-point calls on the result address ranks of the remote group.
    /// </remarks>
    /// <param name="localLeader">Rank, in this communicator, of this group's leader.</param>
    /// <param name="peer">A communicator holding both leaders; used (and required) on the local leader only.</param>
    /// <param name="remoteLeader">Rank, in <paramref name="peer"/>, of the other group's leader; used on the local leader only.</param>
    /// <param name="tag">Tells concurrent creations over <paramref name="peer"/> apart.</param>
    /// <exception cref="ArgumentOutOfRangeException">A leader's rank or the tag is out of range.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="peer"/> is null on the local leader.</exception>
    /// <exception cref="ArgumentException">
    /// On the leaders, when the groups overlap or the leaders are one process (the other ranks then wait
    /// until the job aborts, as with any rank that fails inside a collective).
    /// </exception>
    /// <exception cref="MpiException">With <see cref="ErrorClass.Unsupported"/> when this is an intercommunicator.</exception>
    public Intercommunicator CreateInter(int localLeader, Communicator? peer, int remoteLeader, int tag)
    {
        if ((uint)localLeader >= (uint)Size)
            ThrowRank(localLeader, nameof(localLeader));
        CheckSendTag(tag);
        CheckIntracommunicator();
        if (Rank == localLeader)
        {
            ArgumentNullException.ThrowIfNull(peer);
            if ((uint)remoteLeader >= (uint)peer.Size)
                throw new ArgumentOutOfRangeException(nameof(remoteLeader), remoteLeader, $"Rank {remoteLeader} is not in communicator '{peer.Name}' of size {peer.Size}.");
            if (remoteLeader == peer.Rank)
                throw new ArgumentException("The remote leader must be another process than the local leader.", nameof(remoteLeader));
        }
        return Intercommunicator.Create(this, localLeader, peer, remoteLeader, tag);
    }

    /// <summary>
    /// Creates a communicator with a Cartesian grid topology (MPI_Cart_create): rank <c>r</c> sits at the
    /// row-major coordinates of <c>r</c> (the last dimension varies fastest).
    /// </summary>
    /// <remarks>
    /// Collective: every rank must call it with the same arguments. Ranks beyond the grid's size get null.
    /// <paramref name="reorder"/> is accepted and ignored: ranks keep their order.
    /// </remarks>
    /// <param name="dims">Extent of each dimension (each ≥ 1); see <see cref="CartesianCommunicator.ComputeDims"/>.</param>
    /// <param name="periodic">Whether each dimension wraps around.</param>
    /// <param name="reorder">Whether ranks may be renumbered (ignored).</param>
    /// <returns>The grid communicator, or null on ranks outside the grid.</returns>
    /// <exception cref="ArgumentException">The lengths differ, an extent is not positive, or the grid has more places than ranks.</exception>
    public CartesianCommunicator? CreateCartesian(ReadOnlySpan<int> dims, ReadOnlySpan<bool> periodic, bool reorder = false)
    {
        _ = reorder;
        CheckIntracommunicator();
        if (dims.Length != periodic.Length)
            throw new ArgumentException($"{dims.Length} dimensions but {periodic.Length} periodicity flags.", nameof(periodic));
        long places = 1;
        foreach (int d in dims)
        {
            if (d <= 0)
                throw new ArgumentException($"Every dimension must be at least 1; got {d}.", nameof(dims));
            places *= d;
            if (places > Size)
                throw new ArgumentException($"The grid [{string.Join(",", dims.ToArray())}] has more places than the {Size} ranks of '{Name}'.", nameof(dims));
        }
        int context = Environment.AllocateContext(this);
        if (Rank >= places)
            return null;
        return new CartesianCommunicator(Environment, _worldRanks[..(int)places], Rank, context, $"{Name}.cart",
            dims.ToArray(), periodic.ToArray());
    }

    /// <summary>
    /// Creates a communicator with a distributed graph topology in which each rank names its own neighbors
    /// (MPI_Dist_graph_create_adjacent, unweighted).
    /// </summary>
    /// <remarks>
    /// Collective: every rank must call it, and the edges must agree (if rank a lists b as a destination, b
    /// lists a as a source, as often as a lists b). <paramref name="reorder"/> is accepted and ignored.
    /// </remarks>
    /// <param name="sources">Ranks this rank receives from, in the order neighbor collectives fill blocks.</param>
    /// <param name="destinations">Ranks this rank sends to, in the order neighbor collectives take blocks.</param>
    /// <param name="reorder">Whether ranks may be renumbered (ignored).</param>
    /// <exception cref="ArgumentOutOfRangeException">A neighbor is not a rank of this communicator.</exception>
    public GraphCommunicator CreateDistGraphAdjacent(ReadOnlySpan<int> sources, ReadOnlySpan<int> destinations, bool reorder = false)
    {
        _ = reorder;
        CheckIntracommunicator();
        foreach (int s in sources)
        {
            if ((uint)s >= (uint)Size)
                ThrowRank(s, nameof(sources));
        }
        foreach (int d in destinations)
        {
            if ((uint)d >= (uint)Size)
                ThrowRank(d, nameof(destinations));
        }
        int context = Environment.AllocateContext(this);
        return new GraphCommunicator(Environment, _worldRanks, Rank, context, $"{Name}.graph", sources.ToArray(), destinations.ToArray());
    }

    // ------------------------------------------------------------------ helpers

    private void CheckIntracommunicator([System.Runtime.CompilerServices.CallerMemberName] string? operation = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (IsInter)
        {
            throw new MpiException(ErrorClass.Unsupported,
                $"{operation} is not defined on intercommunicator '{Name}': MPI defines it on intracommunicators only. " +
                "Use the local group's communicator, or Merge the intercommunicator first.");
        }
    }

    /// <summary>Checks that every member of <paramref name="group"/> is in this communicator; returns their ranks here.</summary>
    private int[] CheckSubgroup(Group group, string name)
    {
        var rankHere = new Dictionary<int, int>(Size);
        for (int i = 0; i < _worldRanks.Length; i++)
            rankHere[_worldRanks[i]] = i;
        var ranks = new int[group.Size];
        for (int i = 0; i < ranks.Length; i++)
        {
            if (!rankHere.TryGetValue(group.WorldRanks[i], out ranks[i]))
                throw new ArgumentException($"Member {i} of the group (world rank {group.WorldRanks[i]}) is not in communicator '{Name}'.", name);
        }
        return ranks;
    }

    /// <summary>Gathers every rank's (color, key) and returns this rank's new group: ranks here, ordered by (key, rank).</summary>
    private int[] SplitMembers(int color, int key)
    {
        var all = new int[2 * Size];
        ManagementChannel().Allgather([color, key], all);
        return MembersOf(all, color);
    }

    /// <summary>The ranks whose (color, key) pair in <paramref name="all"/> has <paramref name="color"/>, ordered by (key, rank).</summary>
    private protected static int[] MembersOf(int[] all, int color)
    {
        if (color < 0)
            return [];
        var members = new List<(int Key, int Rank)>();
        for (int r = 0; r < all.Length / 2; r++)
        {
            if (all[2 * r] == color)
                members.Add((all[2 * r + 1], r));
        }
        members.Sort();
        var ranks = new int[members.Count];
        for (int i = 0; i < ranks.Length; i++)
            ranks[i] = members[i].Rank;
        return ranks;
    }

    /// <summary>A communicator of the given ranks of this one, in that order.</summary>
    private Communicator FromMembers(int[] ranksHere, int context, string name)
    {
        var worldRanks = new int[ranksHere.Length];
        int rank = -1;
        for (int i = 0; i < ranksHere.Length; i++)
        {
            worldRanks[i] = _worldRanks[ranksHere[i]];
            if (ranksHere[i] == Rank)
                rank = i;
        }
        return new Communicator(Environment, worldRanks, rank, context, name);
    }
}
