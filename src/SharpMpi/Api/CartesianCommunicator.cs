using SharpMpi.Collectives;

namespace SharpMpi;

/// <summary>
/// A communicator whose ranks form a Cartesian grid (MPI_Cart_create): rank <c>r</c> sits at the
/// row-major coordinates of <c>r</c>, the last dimension varying fastest. Created by
/// <see cref="Communicator.CreateCartesian"/>.
/// </summary>
/// <remarks>
/// Neighbor collectives (<see cref="Communicator.NeighborAllgather{T}(ReadOnlySpan{T}, Span{T})"/> and
/// friends) see 2·<c>ndims</c> neighbors, for each dimension the −1 neighbor then the +1 neighbor; a missing
/// neighbor at the edge of a non-periodic dimension is <see cref="Communicator.ProcNull"/>.
/// The topology queries are local and thread-safe.
/// </remarks>
public sealed class CartesianCommunicator : Communicator
{
    private readonly int[] _dims;
    private readonly bool[] _periodic;
    private readonly NeighborLists _neighbors;

    internal CartesianCommunicator(MpiEnvironment environment, int[] worldRanks, int rank, int context, string name,
        int[] dims, bool[] periodic)
        : base(environment, worldRanks, rank, context, name)
    {
        _dims = dims;
        _periodic = periodic;
        int n = dims.Length;
        var sources = new int[2 * n];
        var sendTags = new int[2 * n];
        var receiveTags = new int[2 * n];
        for (int d = 0; d < n; d++)
        {
            var (down, up) = Shift(d, 1);
            sources[2 * d] = down;
            sources[2 * d + 1] = up;
            // What goes down arrives at the receiver's +1 block, what goes up at its −1 block (MPI-4 §8.6):
            // with two ranks in a periodic dimension both neighbors are one process, and only the tag tells
            // which block a message belongs to.
            sendTags[2 * d] = InternalTags.NeighborCartesian - 2 * d;
            sendTags[2 * d + 1] = InternalTags.NeighborCartesian - (2 * d + 1);
            receiveTags[2 * d] = InternalTags.NeighborCartesian - (2 * d + 1);
            receiveTags[2 * d + 1] = InternalTags.NeighborCartesian - 2 * d;
        }
        _neighbors = new NeighborLists(sources, sources, receiveTags, sendTags);
    }

    /// <summary>Extent of each dimension (MPI_Cartdim_get, MPI_Cart_get).</summary>
    public IReadOnlyList<int> Dimensions => Array.AsReadOnly(_dims);

    /// <summary>Whether each dimension wraps around (MPI_Cart_get).</summary>
    public IReadOnlyList<bool> Periodic => Array.AsReadOnly(_periodic);

    internal override NeighborLists? Neighbors => _neighbors;

    /// <summary>Coordinates of this rank (MPI_Cart_get).</summary>
    public int[] Coordinates() => Coordinates(Rank);

    /// <summary>Coordinates of <paramref name="rank"/> in the grid (MPI_Cart_coords).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rank"/> is not in the grid.</exception>
    public int[] Coordinates(int rank)
    {
        if ((uint)rank >= (uint)Size)
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"Rank {rank} is not in grid '{Name}' of size {Size}.");
        var coords = new int[_dims.Length];
        for (int d = _dims.Length - 1; d >= 0; d--)
        {
            coords[d] = rank % _dims[d];
            rank /= _dims[d];
        }
        return coords;
    }

    /// <summary>
    /// Rank at <paramref name="coordinates"/> (MPI_Cart_rank). Coordinates in periodic dimensions wrap around,
    /// negative ones included.
    /// </summary>
    /// <exception cref="ArgumentException">The number of coordinates is not the number of dimensions.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A coordinate of a non-periodic dimension is outside the grid.</exception>
    public int RankOf(ReadOnlySpan<int> coordinates)
    {
        if (coordinates.Length != _dims.Length)
            throw new ArgumentException($"{coordinates.Length} coordinates for a grid of {_dims.Length} dimensions.", nameof(coordinates));
        int rank = TryRankOf(coordinates);
        if (rank == ProcNull)
            throw new ArgumentOutOfRangeException(nameof(coordinates), $"[{string.Join(",", coordinates.ToArray())}] is outside the grid [{string.Join(",", _dims)}].");
        return rank;
    }

    /// <summary>
    /// The ranks to receive from and send to when data moves <paramref name="displacement"/> steps along
    /// <paramref name="dimension"/> (MPI_Cart_shift): source = this − displacement, destination = this +
    /// displacement, <see cref="Communicator.ProcNull"/> past the edge of a non-periodic dimension.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dimension"/> is not a dimension of the grid.</exception>
    public (int Source, int Destination) Shift(int dimension, int displacement)
    {
        if ((uint)dimension >= (uint)_dims.Length)
            throw new ArgumentOutOfRangeException(nameof(dimension), dimension, $"The grid has {_dims.Length} dimensions.");
        Span<int> coords = stackalloc int[_dims.Length];
        Coordinates(Rank).CopyTo(coords);
        int mine = coords[dimension];
        coords[dimension] = (int)Math.Clamp((long)mine - displacement, int.MinValue, int.MaxValue);
        int source = TryRankOf(coords);
        coords[dimension] = (int)Math.Clamp((long)mine + displacement, int.MinValue, int.MaxValue);
        int destination = TryRankOf(coords);
        return (source, destination);
    }

    /// <summary>
    /// Splits the grid into lower-dimensional sub-grids that keep the dimensions where
    /// <paramref name="remainDimensions"/> is true (MPI_Cart_sub). Collective.
    /// </summary>
    /// <exception cref="ArgumentException">The number of flags is not the number of dimensions.</exception>
    public CartesianCommunicator Sub(ReadOnlySpan<bool> remainDimensions)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (remainDimensions.Length != _dims.Length)
            throw new ArgumentException($"{remainDimensions.Length} flags for a grid of {_dims.Length} dimensions.", nameof(remainDimensions));
        // Ranks with equal coordinates in the dropped dimensions share a sub-grid; row-major order within
        // it is their order here, so the member list needs no communication. Sub-grids are disjoint and
        // may share one context id pair.
        var coords = Coordinates(Rank);
        var dims = new List<int>();
        var periodic = new List<bool>();
        for (int d = 0; d < _dims.Length; d++)
        {
            if (remainDimensions[d])
            {
                dims.Add(_dims[d]);
                periodic.Add(_periodic[d]);
            }
        }
        var members = new List<int>();
        int rank = -1;
        for (int r = 0; r < Size; r++)
        {
            var other = Coordinates(r);
            bool same = true;
            for (int d = 0; d < _dims.Length && same; d++)
                same = remainDimensions[d] || other[d] == coords[d];
            if (!same)
                continue;
            if (r == Rank)
                rank = members.Count;
            members.Add(WorldRanks[r]);
        }
        int context = Environment.AllocateContext(this);
        return new CartesianCommunicator(Environment, members.ToArray(), rank, context, Name + ".sub", dims.ToArray(), periodic.ToArray());
    }

    /// <summary>Duplicates the grid communicator, topology included (MPI_Comm_dup). Collective.</summary>
    /// <exception cref="ObjectDisposedException">The communicator was disposed.</exception>
    public new CartesianCommunicator Dup() => (CartesianCommunicator)base.Dup();

    private protected override Communicator DupCore() =>
        new CartesianCommunicator(Environment, WorldRanks.ToArray(), Rank, Environment.AllocateContext(this), Name + ".dup", _dims, _periodic);

    /// <summary>
    /// Balanced extents for a grid of <paramref name="nodes"/> places (MPI_Dims_create): entries of
    /// <paramref name="dims"/> that are positive are kept, zeros are filled so that the extents are as close
    /// to each other as possible, in non-increasing order.
    /// </summary>
    /// <param name="nodes">Number of places in the grid (≥ 1).</param>
    /// <param name="dims">Fixed extents, and 0 for each extent to choose.</param>
    /// <returns>A new array with every extent filled in.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="nodes"/> is less than 1.</exception>
    /// <exception cref="ArgumentException">An extent is negative, or the fixed extents do not divide <paramref name="nodes"/>.</exception>
    public static int[] ComputeDims(int nodes, ReadOnlySpan<int> dims)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nodes, 1);
        long fixedProduct = 1;
        int free = 0;
        foreach (int d in dims)
        {
            if (d < 0)
                throw new ArgumentException($"An extent may not be negative; got {d}.", nameof(dims));
            if (d == 0)
                free++;
            else
                fixedProduct *= d;
            if (fixedProduct > nodes)
                break;
        }
        if (nodes % fixedProduct != 0 || (free == 0 && fixedProduct != nodes))
            throw new ArgumentException($"The fixed extents [{string.Join(",", dims.ToArray())}] cannot make a grid of {nodes} places.", nameof(dims));
        var chosen = BalancedFactors((int)(nodes / fixedProduct), free);
        var result = dims.ToArray();
        int next = 0;
        for (int i = 0; i < result.Length; i++)
        {
            if (result[i] == 0)
                result[i] = chosen[next++];
        }
        return result;
    }

    /// <summary>
    /// <paramref name="count"/> factors of <paramref name="n"/>, non-increasing, with the smallest spread
    /// between the largest and the smallest (ties: the smaller largest). A search over non-increasing chains
    /// of divisors of <paramref name="n"/> (at most a few thousand), pruned by a lower bound on the spread.
    /// </summary>
    private static int[] BalancedFactors(int n, int count)
    {
        var best = new int[count];
        if (count == 0)
            return best;
        var divisors = new List<int>();
        var large = new List<int>();
        for (int d = 1; (long)d * d <= n; d++)
        {
            if (n % d != 0)
                continue;
            divisors.Add(d);
            if (d != n / d)
                large.Add(n / d);
        }
        large.Reverse();
        divisors.AddRange(large);
        var current = new int[count];
        long bestSpread = long.MaxValue;
        Search(n, 0, n);
        return best;

        void Search(int remaining, int index, int limit)
        {
            int left = count - index;
            if (left == 1)
            {
                if (remaining > limit)
                    return;
                current[index] = remaining;
                long spread = (long)current[0] - remaining;
                if (spread < bestSpread)
                {
                    bestSpread = spread;
                    current.CopyTo(best, 0);
                }
                return;
            }
            foreach (int f in divisors)
            {
                if (f > limit || f > remaining)
                    break;
                // f is the largest of the factors still to choose, so f^left ≥ remaining.
                if (remaining % f != 0 || Math.Pow(f, left) < remaining - 0.5)
                    continue;
                // The smallest of the rest is at most their (left − 1)-th root, and that bound only falls as f grows.
                long largest = index == 0 ? f : current[0];
                double smallestBound = Math.Floor(Math.Pow(remaining / f, 1.0 / (left - 1)) + 1e-9);
                if (largest - smallestBound > bestSpread)
                    break;
                current[index] = f;
                Search(remaining / f, index + 1, f);
            }
        }
    }

    /// <summary>Rank at <paramref name="coordinates"/>, wrapping periodic dimensions; ProcNull outside a non-periodic one.</summary>
    private int TryRankOf(ReadOnlySpan<int> coordinates)
    {
        int rank = 0;
        for (int d = 0; d < _dims.Length; d++)
        {
            int c = coordinates[d];
            int extent = _dims[d];
            if ((uint)c >= (uint)extent)
            {
                if (!_periodic[d])
                    return ProcNull;
                c %= extent;
                if (c < 0)
                    c += extent;
            }
            rank = rank * extent + c;
        }
        return rank;
    }
}
