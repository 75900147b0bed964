namespace SharpMpi;

/// <summary>Result of comparing two groups or two communicators (MPI_IDENT, MPI_CONGRUENT, MPI_SIMILAR, MPI_UNEQUAL).</summary>
public enum ComparisonResult
{
    /// <summary>Groups: same members in the same order. Communicators: the same communicator (same context).</summary>
    Identical,

    /// <summary>Communicators only: different contexts, but the same members in the same order.</summary>
    Congruent,

    /// <summary>The same members in a different order.</summary>
    Similar,

    /// <summary>Different members.</summary>
    Unequal,
}

/// <summary>
/// An ordered set of processes (MPI_Group): the ranks of a communicator, and the algebra that builds new
/// groups for <see cref="Communicator.Create(Group)"/> and <see cref="Communicator.CreateGroup(Group, int)"/>.
/// </summary>
/// <remarks>
/// Groups are immutable values: every operation returns a new group and is purely local (no communication),
/// so every method is thread-safe. A group describes processes by their rank in the job's world; rank
/// <c>i</c> of a group is its <c>i</c>-th member.
/// </remarks>
public sealed class Group : IEquatable<Group>
{
    /// <summary>Rank of a process that is not a member (MPI_UNDEFINED).</summary>
    public const int Undefined = -32766;

    private readonly int[] _worldRanks;
    private readonly int _myWorldRank;

    internal Group(int[] worldRanks, int myWorldRank)
    {
        _worldRanks = worldRanks;
        _myWorldRank = myWorldRank;
        Rank = Undefined;
        for (int i = 0; i < worldRanks.Length; i++)
        {
            if (worldRanks[i] == myWorldRank)
            {
                Rank = i;
                break;
            }
        }
    }

    /// <summary>The group with no members (MPI_GROUP_EMPTY).</summary>
    public static Group Empty { get; } = new([], -1);

    /// <summary>Number of members (MPI_Group_size).</summary>
    public int Size => _worldRanks.Length;

    /// <summary>This process's rank in the group, or <see cref="Undefined"/> when it is not a member (MPI_Group_rank).</summary>
    public int Rank { get; }

    /// <summary>World rank of each member, indexed by group rank.</summary>
    internal int[] WorldRanks => _worldRanks;

    /// <summary>World rank of the process that holds this group object.</summary>
    internal int MyWorldRank => _myWorldRank;

    /// <summary>Members of <paramref name="first"/>, then those of <paramref name="second"/> that are not in <paramref name="first"/> (MPI_Group_union).</summary>
    /// <exception cref="ArgumentNullException">A group is null.</exception>
    public static Group Union(Group first, Group second)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        var members = new List<int>(first._worldRanks);
        var seen = new HashSet<int>(first._worldRanks);
        foreach (int w in second._worldRanks)
        {
            if (seen.Add(w))
                members.Add(w);
        }
        return new Group(members.ToArray(), MyWorldRankOf(first, second));
    }

    /// <summary>Members of <paramref name="first"/> that are also in <paramref name="second"/>, in the order of <paramref name="first"/> (MPI_Group_intersection).</summary>
    /// <exception cref="ArgumentNullException">A group is null.</exception>
    public static Group Intersection(Group first, Group second)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        var other = new HashSet<int>(second._worldRanks);
        return Filter(first, other, keep: true, MyWorldRankOf(first, second));
    }

    /// <summary>Members of <paramref name="first"/> that are not in <paramref name="second"/>, in the order of <paramref name="first"/> (MPI_Group_difference).</summary>
    /// <exception cref="ArgumentNullException">A group is null.</exception>
    public static Group Difference(Group first, Group second)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        var other = new HashSet<int>(second._worldRanks);
        return Filter(first, other, keep: false, MyWorldRankOf(first, second));
    }

    /// <summary>The members at <paramref name="ranks"/>, in that order (MPI_Group_incl).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A rank is not in this group.</exception>
    /// <exception cref="ArgumentException">A rank appears twice.</exception>
    public Group Include(params ReadOnlySpan<int> ranks) => IncludeCore(ranks, nameof(ranks));

    private Group IncludeCore(ReadOnlySpan<int> ranks, string name)
    {
        CheckDistinctRanks(ranks, name);
        var members = new int[ranks.Length];
        for (int i = 0; i < ranks.Length; i++)
            members[i] = _worldRanks[ranks[i]];
        return new Group(members, _myWorldRank);
    }

    /// <summary>This group without the members at <paramref name="ranks"/>, in the remaining order (MPI_Group_excl).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A rank is not in this group.</exception>
    /// <exception cref="ArgumentException">A rank appears twice.</exception>
    public Group Exclude(params ReadOnlySpan<int> ranks) => ExcludeCore(ranks, nameof(ranks));

    private Group ExcludeCore(ReadOnlySpan<int> ranks, string name)
    {
        CheckDistinctRanks(ranks, name);
        var excluded = new bool[Size];
        foreach (int r in ranks)
            excluded[r] = true;
        var members = new List<int>(Size);
        for (int i = 0; i < Size; i++)
        {
            if (!excluded[i])
                members.Add(_worldRanks[i]);
        }
        return new Group(members.ToArray(), _myWorldRank);
    }

    /// <summary>
    /// The members at the ranks of each (first, last, stride) triple, in order: first, first + stride, ... while
    /// not past last (MPI_Group_range_incl). A negative stride counts down; a range whose first is past its last
    /// in the stride's direction is empty (its bounds are then not checked).
    /// </summary>
    /// <exception cref="ArgumentException">A stride is zero, or a rank appears twice.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A rank is not in this group.</exception>
    public Group IncludeRange(params ReadOnlySpan<(int First, int Last, int Stride)> ranges) =>
        IncludeCore(ExpandRanges(ranges, nameof(ranges)), nameof(ranges));

    /// <summary>This group without the ranks of each (first, last, stride) triple (MPI_Group_range_excl); see <see cref="IncludeRange"/>.</summary>
    /// <exception cref="ArgumentException">A stride is zero, or a rank appears twice.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A rank is not in this group.</exception>
    public Group ExcludeRange(params ReadOnlySpan<(int First, int Last, int Stride)> ranges) =>
        ExcludeCore(ExpandRanges(ranges, nameof(ranges)), nameof(ranges));

    /// <summary>
    /// The rank in <paramref name="other"/> of each process at <paramref name="ranks"/> in this group, or
    /// <see cref="Undefined"/> when it is not a member of <paramref name="other"/> (MPI_Group_translate_ranks).
    /// <see cref="Communicator.ProcNull"/> translates to itself.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A rank is not in this group.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="other"/> is null.</exception>
    public int[] TranslateRanks(ReadOnlySpan<int> ranks, Group other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var indexInOther = new Dictionary<int, int>(other.Size);
        for (int i = 0; i < other.Size; i++)
            indexInOther[other._worldRanks[i]] = i;
        var result = new int[ranks.Length];
        for (int i = 0; i < ranks.Length; i++)
        {
            int r = ranks[i];
            if (r == Communicator.ProcNull)
            {
                result[i] = Communicator.ProcNull;
                continue;
            }
            CheckRank(r, nameof(ranks));
            result[i] = indexInOther.TryGetValue(_worldRanks[r], out int j) ? j : Undefined;
        }
        return result;
    }

    /// <summary>
    /// <see cref="ComparisonResult.Identical"/> when both groups have the same members in the same order,
    /// <see cref="ComparisonResult.Similar"/> when only the order differs, else <see cref="ComparisonResult.Unequal"/> (MPI_Group_compare).
    /// </summary>
    /// <exception cref="ArgumentNullException">A group is null.</exception>
    public static ComparisonResult Compare(Group first, Group second)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        return Compare(first._worldRanks, second._worldRanks);
    }

    internal static ComparisonResult Compare(ReadOnlySpan<int> first, ReadOnlySpan<int> second)
    {
        if (first.SequenceEqual(second))
            return ComparisonResult.Identical;
        if (first.Length != second.Length)
            return ComparisonResult.Unequal;
        var members = new HashSet<int>(first.Length);
        foreach (int w in first)
            members.Add(w);
        foreach (int w in second)
        {
            if (!members.Contains(w))
                return ComparisonResult.Unequal;
        }
        return ComparisonResult.Similar;
    }

    /// <summary>True when both groups have the same members in the same order.</summary>
    public bool Equals(Group? other) => other is not null && _worldRanks.AsSpan().SequenceEqual(other._worldRanks);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as Group);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (int w in _worldRanks)
            hash.Add(w);
        return hash.ToHashCode();
    }

    /// <inheritdoc/>
    public override string ToString() => $"Group of {Size} (world ranks {string.Join(",", _worldRanks)})";

    // ------------------------------------------------------------------ helpers

    private static int MyWorldRankOf(Group first, Group second) =>
        first._myWorldRank >= 0 ? first._myWorldRank : second._myWorldRank;

    private static Group Filter(Group source, HashSet<int> other, bool keep, int myWorldRank)
    {
        var members = new List<int>(source.Size);
        foreach (int w in source._worldRanks)
        {
            if (other.Contains(w) == keep)
                members.Add(w);
        }
        return new Group(members.ToArray(), myWorldRank);
    }

    private void CheckRank(int rank, string name)
    {
        if ((uint)rank >= (uint)Size)
            ThrowRank(rank, name);
    }

    private void CheckDistinctRanks(ReadOnlySpan<int> ranks, string name)
    {
        var seen = new bool[Size];
        foreach (int r in ranks)
        {
            CheckRank(r, name);
            if (seen[r])
                throw new ArgumentException($"Rank {r} appears more than once.", name);
            seen[r] = true;
        }
    }

    private int[] ExpandRanges(ReadOnlySpan<(int First, int Last, int Stride)> ranges, string name)
    {
        var ranks = new List<int>();
        foreach (var (first, last, stride) in ranges)
        {
            if (stride == 0)
                throw new ArgumentException($"The range ({first}, {last}, {stride}) has a zero stride.", name);
            // Computed in long: first + k·stride may pass int.MaxValue before the loop ends.
            for (long r = first; stride > 0 ? r <= last : r >= last; r += stride)
            {
                if ((ulong)r >= (ulong)Size)
                    ThrowRank((int)Math.Clamp(r, int.MinValue, int.MaxValue), name);
                ranks.Add((int)r);
            }
        }
        return ranks.ToArray();
    }

    private void ThrowRank(int rank, string name) =>
        throw new ArgumentOutOfRangeException(name, rank, $"Rank {rank} is not in this group of size {Size}.");
}
