namespace SharpMpi.Tests;

/// <summary>Cartesian and distributed-graph topologies, ComputeDims, and neighbor collectives.</summary>
public class TopologyTests
{
    public static TheoryData<int> Sizes => new() { 1, 2, 3, 4, 5, 7, 8 };

    // ------------------------------------------------------------------ ComputeDims

    [Theory]
    [InlineData(6, new[] { 0, 0 }, new[] { 3, 2 })]
    [InlineData(7, new[] { 0, 0 }, new[] { 7, 1 })]
    [InlineData(6, new[] { 0, 3, 0 }, new[] { 2, 3, 1 })]
    [InlineData(12, new[] { 0, 0 }, new[] { 4, 3 })]
    [InlineData(72, new[] { 0, 0 }, new[] { 9, 8 })]
    [InlineData(72, new[] { 0, 0, 0 }, new[] { 6, 4, 3 })]
    [InlineData(24, new[] { 0, 0, 0 }, new[] { 4, 3, 2 })]
    [InlineData(16, new[] { 0, 0, 0, 0 }, new[] { 2, 2, 2, 2 })]
    [InlineData(1 << 20, new[] { 0, 0, 0 }, new[] { 128, 128, 64 })]
    [InlineData(1, new[] { 0, 0 }, new[] { 1, 1 })]
    [InlineData(8, new[] { 0, 0, 0 }, new[] { 2, 2, 2 })]
    [InlineData(6, new[] { 2, 3 }, new[] { 2, 3 })]
    [InlineData(12, new[] { 0, 2, 0 }, new[] { 3, 2, 2 })]
    [InlineData(1_000_000_007, new[] { 0, 0 }, new[] { 1_000_000_007, 1 })]
    [InlineData(1, new int[0], new int[0])]
    public void ComputeDims_StandardCases_AreBalancedAndNonIncreasing(int nodes, int[] dims, int[] expected)
    {
        Assert.Equal(expected, CartesianCommunicator.ComputeDims(nodes, dims));
    }

    [Theory]
    [InlineData(7, new[] { 0, 3, 0 })]
    [InlineData(6, new[] { 2, 2 })]
    [InlineData(5, new int[0])]
    [InlineData(8, new[] { 0, -1 })]
    public void ComputeDims_Impossible_Throws(int nodes, int[] dims)
    {
        Assert.Equal("dims", Assert.Throws<ArgumentException>(() => CartesianCommunicator.ComputeDims(nodes, dims)).ParamName);
    }

    [Fact]
    public void ComputeDims_NoNodes_Throws()
    {
        Assert.Equal("nodes", Assert.Throws<ArgumentOutOfRangeException>(() => CartesianCommunicator.ComputeDims(0, [0])).ParamName);
    }

    // ------------------------------------------------------------------ Cartesian

    /// <summary>Row-major coordinates of <paramref name="rank"/>, computed independently of the library.</summary>
    private static int[] Coords(int rank, int[] dims)
    {
        var c = new int[dims.Length];
        int stride = dims.Aggregate(1, (a, b) => a * b);
        for (int d = 0; d < dims.Length; d++)
        {
            stride /= dims[d];
            c[d] = rank / stride % dims[d];
        }
        return c;
    }

    /// <summary>The neighbor at <paramref name="displacement"/> along <paramref name="dimension"/>, or ProcNull.</summary>
    private static int Neighbor(int rank, int[] dims, bool[] periodic, int dimension, int displacement)
    {
        var c = Coords(rank, dims);
        int x = c[dimension] + displacement;
        if (x < 0 || x >= dims[dimension])
        {
            if (!periodic[dimension])
                return Communicator.ProcNull;
            x = ((x % dims[dimension]) + dims[dimension]) % dims[dimension];
        }
        c[dimension] = x;
        int r = 0;
        for (int d = 0; d < dims.Length; d++)
            r = r * dims[d] + c[d];
        return r;
    }

    private static void CheckGrid(CartesianCommunicator cart, int[] dims, bool[] periodic)
    {
        Assert.Equal(dims, cart.Dimensions);
        Assert.Equal(periodic, cart.Periodic);
        Assert.Equal(dims.Aggregate(1, (a, b) => a * b), cart.Size);
        Assert.Equal(Coords(cart.Rank, dims), cart.Coordinates());
        for (int r = 0; r < cart.Size; r++)
        {
            Assert.Equal(Coords(r, dims), cart.Coordinates(r));
            Assert.Equal(r, cart.RankOf(cart.Coordinates(r)));
        }
        for (int d = 0; d < dims.Length; d++)
        {
            foreach (int disp in new[] { 1, -1, 2, -3, 0 })
            {
                var (source, destination) = cart.Shift(d, disp);
                Assert.Equal(Neighbor(cart.Rank, dims, periodic, d, -disp), source);
                Assert.Equal(Neighbor(cart.Rank, dims, periodic, d, disp), destination);
            }
            // Out of the grid: wraps if periodic, else RankOf throws.
            var c = cart.Coordinates();
            c[d] = -1;
            if (periodic[d])
            {
                Assert.Equal(Neighbor(cart.Rank, dims, periodic, d, -1 - cart.Coordinates()[d]), cart.RankOf(c));
            }
            else
            {
                Assert.Equal("coordinates", Assert.Throws<ArgumentOutOfRangeException>(() => cart.RankOf(c)).ParamName);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task CreateCartesian_1D_PeriodicAndNot(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            foreach (bool periodic in new[] { true, false })
            {
                using var cart = world.CreateCartesian([world.Size], [periodic])!;
                CheckGrid(cart, [world.Size], [periodic]);
                var (left, right) = cart.Shift(0, 1);
                Assert.Equal(periodic || world.Rank > 0 ? (world.Rank - 1 + world.Size) % world.Size : Communicator.ProcNull, left);
                Assert.Equal(periodic || world.Rank < world.Size - 1 ? (world.Rank + 1) % world.Size : Communicator.ProcNull, right);
            }
        });
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task CreateCartesian_2DAnd3D_CoordinatesShiftRankOf(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            var dims2 = CartesianCommunicator.ComputeDims(world.Size, [0, 0]);
            foreach (var periodic in new[] { new[] { true, false }, new[] { false, true }, new[] { true, true } })
            {
                using var cart = world.CreateCartesian(dims2, periodic)!;
                CheckGrid(cart, dims2, periodic);
            }
            var dims3 = CartesianCommunicator.ComputeDims(world.Size, [0, 0, 0]);
            using var cube = world.CreateCartesian(dims3, [true, false, true])!;
            CheckGrid(cube, dims3, [true, false, true]);
        });
    }

    [Theory]
    [InlineData(3)]
    [InlineData(7)]
    public async Task CreateCartesian_GridSmallerThanCommunicator_OthersGetNull(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            using var cart = world.CreateCartesian([2], [false]);
            if (world.Rank >= 2)
            {
                Assert.Null(cart);
                return;
            }
            Assert.NotNull(cart);
            Assert.Equal(2, cart.Size);
            var expected = world.Rank == 0 ? (Communicator.ProcNull, 1) : (0, Communicator.ProcNull);
            Assert.Equal(expected, cart.Shift(0, 1));
        });
    }

    [Fact]
    public async Task CreateCartesian_BadArguments_Throw()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            Assert.Equal("dims", Assert.Throws<ArgumentException>(() => world.CreateCartesian([3], [false])).ParamName);
            Assert.Equal("dims", Assert.Throws<ArgumentException>(() => world.CreateCartesian([0, 2], [false, false])).ParamName);
            Assert.Equal("periodic", Assert.Throws<ArgumentException>(() => world.CreateCartesian([2], [false, true])).ParamName);
            using var cart = world.CreateCartesian([2], [false])!;
            Assert.Equal("dimension", Assert.Throws<ArgumentOutOfRangeException>(() => cart.Shift(1, 1)).ParamName);
            Assert.Equal("coordinates", Assert.Throws<ArgumentException>(() => cart.RankOf([0, 0])).ParamName);
            Assert.Equal("rank", Assert.Throws<ArgumentOutOfRangeException>(() => cart.Coordinates(2)).ParamName);
        });
    }

    [Theory]
    [InlineData(4)]
    [InlineData(8)]
    public async Task Sub_KeepsSelectedDimensions(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            int[] dims = ranks == 8 ? [2, 2, 2] : [2, 2];
            bool[] periodic = ranks == 8 ? [true, false, true] : [false, true];
            using var cart = world.CreateCartesian(dims, periodic)!;
            var me = cart.Coordinates();
            // Every subset of dimensions.
            for (int mask = 0; mask < 1 << dims.Length; mask++)
            {
                var keep = new bool[dims.Length];
                for (int d = 0; d < dims.Length; d++)
                    keep[d] = (mask & (1 << d)) != 0;
                using var sub = cart.Sub(keep);
                var subDims = dims.Where((_, d) => keep[d]).ToArray();
                Assert.Equal(subDims, sub.Dimensions);
                Assert.Equal(periodic.Where((_, d) => keep[d]).ToArray(), sub.Periodic);
                Assert.Equal(me.Where((_, d) => keep[d]).ToArray(), sub.Coordinates());
                // Members: same coordinates in the dropped dimensions, in row-major order.
                var expected = Enumerable.Range(0, cart.Size)
                    .Where(r => Enumerable.Range(0, dims.Length).All(d => keep[d] || Coords(r, dims)[d] == me[d])).ToArray();
                Assert.Equal(expected, sub.Group.WorldRanks);
                // Traffic along the sub-grid.
                int n = sub.Size;
                sub.Send(world.Rank, (sub.Rank + 1) % n, 0);
                Assert.Equal(expected[(sub.Rank - 1 + n) % n], sub.Receive<int>((sub.Rank - 1 + n) % n, 0));
            }
        });
    }

    [Fact]
    public async Task Dup_KeepsTopology()
    {
        await MpiTestHost.RunAsync(4, world =>
        {
            using var cart = world.CreateCartesian([2, 2], [true, false])!;
            using var dup = cart.Dup();
            Assert.Equal(cart.Dimensions, dup.Dimensions);
            Assert.Equal(cart.Periodic, dup.Periodic);
            Assert.Equal(ComparisonResult.Congruent, Communicator.Compare(cart, dup));
            using var graph = world.CreateDistGraphAdjacent([(world.Rank + 3) % 4], [(world.Rank + 1) % 4]);
            using var gdup = graph.Dup();
            Assert.Equal(graph.Sources, gdup.Sources);
            Assert.Equal(graph.Destinations, gdup.Destinations);
        });
    }

    // ------------------------------------------------------------------ neighbor collectives on a grid

    private static int Encode(int rank, int block, int element) => rank * 10_000 + block * 100 + element;

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task NeighborAllgather_PeriodicGrid_FillsBlocksInMinusPlusOrder(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, async world =>
        {
            var dims = CartesianCommunicator.ComputeDims(world.Size, [0, 0]);
            bool[] periodic = [true, true];
            using var cart = world.CreateCartesian(dims, periodic)!;
            const int b = 3;
            var send = Enumerable.Range(0, b).Select(e => Encode(world.Rank, 0, e)).ToArray();
            var receive = new int[4 * b];
            cart.NeighborAllgather(send, receive);
            var viaTask = new int[4 * b];
            await cart.NeighborAllgatherAsync(send, viaTask);
            for (int d = 0; d < 2; d++)
            {
                var (down, up) = cart.Shift(d, 1);
                for (int e = 0; e < b; e++)
                {
                    Assert.Equal(Encode(down, 0, e), receive[(2 * d) * b + e]);
                    Assert.Equal(Encode(up, 0, e), receive[(2 * d + 1) * b + e]);
                }
            }
            Assert.Equal(receive, viaTask);
        });
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task NeighborAlltoall_PeriodicGrid_MinusBlockArrivesAsNeighborsPlusBlock(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, async world =>
        {
            // 2 × (n/2) or n × 1 grid: with two ranks along a periodic dimension both neighbors are one
            // process, and with one rank they are this process.
            var dims = CartesianCommunicator.ComputeDims(world.Size, [0, 0]);
            using var cart = world.CreateCartesian(dims, [true, true])!;
            const int b = 2;
            var send = new int[4 * b];
            for (int k = 0; k < 4; k++)
                for (int e = 0; e < b; e++)
                    send[k * b + e] = Encode(world.Rank, k, e);
            var receive = new int[4 * b];
            cart.NeighborAlltoall(send, receive);
            var viaTask = new int[4 * b];
            await cart.NeighborAlltoallAsync(send, viaTask);
            for (int d = 0; d < 2; d++)
            {
                var (down, up) = cart.Shift(d, 1);
                for (int e = 0; e < b; e++)
                {
                    // The −1 neighbor sent me its +1 block; the +1 neighbor its −1 block.
                    Assert.Equal(Encode(down, 2 * d + 1, e), receive[(2 * d) * b + e]);
                    Assert.Equal(Encode(up, 2 * d, e), receive[(2 * d + 1) * b + e]);
                }
            }
            Assert.Equal(receive, viaTask);
        });
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(8)]
    public async Task NeighborAlltoall_NonPeriodicEdges_LeaveBlocksUntouched(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            var dims = CartesianCommunicator.ComputeDims(world.Size, [0, 0]);
            using var cart = world.CreateCartesian(dims, [false, true])!;
            var send = new int[4];
            for (int k = 0; k < 4; k++)
                send[k] = Encode(world.Rank, k, 0);
            var receive = Enumerable.Repeat(-7, 4).ToArray();
            cart.NeighborAlltoall(send, receive);
            for (int d = 0; d < 2; d++)
            {
                var (down, up) = cart.Shift(d, 1);
                Assert.Equal(down == Communicator.ProcNull ? -7 : Encode(down, 2 * d + 1, 0), receive[2 * d]);
                Assert.Equal(up == Communicator.ProcNull ? -7 : Encode(up, 2 * d, 0), receive[2 * d + 1]);
            }
        });
    }

    // ------------------------------------------------------------------ neighbor collectives on a graph

    /// <summary>
    /// What block <paramref name="i"/> of rank <paramref name="me"/> receives in an alltoall over the graph:
    /// the k-th edge from a source fills the k-th receive block from it, and the source sent that edge the
    /// block at the index of its k-th listing of <paramref name="me"/>.
    /// </summary>
    private static int SentBlockIndex(int me, int i, Func<int, int[]> sourcesOf, Func<int, int[]> destinationsOf)
    {
        var sources = sourcesOf(me);
        int s = sources[i];
        int k = sources.Take(i).Count(x => x == s);
        var dests = destinationsOf(s);
        for (int j = 0, seen = 0; j < dests.Length; j++)
        {
            if (dests[j] == me && seen++ == k)
                return j;
        }
        throw new InvalidOperationException("inconsistent graph");
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task NeighborCollectives_BidirectionalRing_MatchEdgeOrder(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, async world =>
        {
            int n = world.Size;
            int[] Ring(int r) => [(r - 1 + n) % n, (r + 1) % n];
            using var graph = world.CreateDistGraphAdjacent(Ring(world.Rank), Ring(world.Rank));
            Assert.Equal(Ring(world.Rank), graph.Sources);
            Assert.Equal(Ring(world.Rank), graph.Destinations);

            var send = new[] { Encode(world.Rank, 0, 0), Encode(world.Rank, 1, 0) };
            var receive = new int[2];
            graph.NeighborAlltoall(send, receive);
            var viaTask = new int[2];
            await graph.NeighborAlltoallAsync(send, viaTask);
            for (int i = 0; i < 2; i++)
            {
                int s = graph.Sources[i];
                Assert.Equal(Encode(s, SentBlockIndex(world.Rank, i, Ring, Ring), 0), receive[i]);
            }
            Assert.Equal(receive, viaTask);

            var gathered = new int[2];
            graph.NeighborAllgather(new[] { world.Rank }, gathered);
            Assert.Equal(Ring(world.Rank), gathered);
        });
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task NeighborAllgather_OneWayRing_ReceivesFromLeft(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, async world =>
        {
            int n = world.Size;
            using var graph = world.CreateDistGraphAdjacent([(world.Rank - 1 + n) % n], [(world.Rank + 1) % n]);
            var receive = new long[2];
            graph.NeighborAllgather(new long[] { world.Rank, -world.Rank }, receive);
            Assert.Equal(new long[] { (world.Rank - 1 + n) % n, -((world.Rank - 1 + n) % n) }, receive);
            var viaTask = new long[2];
            await graph.NeighborAllgatherAsync(new long[] { 5 * world.Rank, 1 }, viaTask);
            Assert.Equal(new long[] { 5 * ((world.Rank - 1 + n) % n), 1 }, viaTask);
        });
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task NeighborVariants_BidirectionalRing_UseCountsAndDisplacements(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            int n = world.Size;
            int left = (world.Rank - 1 + n) % n;
            int right = (world.Rank + 1) % n;
            using var graph = world.CreateDistGraphAdjacent([left, right], [left, right]);

            // Allgatherv: every rank sends (rank + 1) elements; blocks placed back to front with a gap.
            int Len(int r) => r + 1;
            var send = Enumerable.Repeat(world.Rank, Len(world.Rank)).ToArray();
            int[] counts = [Len(left), Len(right)];
            int[] displs = [Len(right) + 1, 0];
            var receive = Enumerable.Repeat(-1, Len(left) + Len(right) + 1).ToArray();
            graph.NeighborAllgatherv(send, receive, counts, displs);
            Assert.All(receive.AsSpan(displs[0], counts[0]).ToArray(), v => Assert.Equal(left, v));
            Assert.All(receive.AsSpan(displs[1], counts[1]).ToArray(), v => Assert.Equal(right, v));
            Assert.Equal(-1, receive[Len(right)]);

            // Alltoallv: to the left 1 element, to the right 2 elements. (With two ranks or one, left and
            // right are one process and the k-th message fills the k-th block, so the lengths would not fit.)
            if (n > 2)
            {
                var sendv = new[] { 10 * world.Rank, 10 * world.Rank + 1, 10 * world.Rank + 2 };
                var receivev = new int[3];
                graph.NeighborAlltoallv(sendv, [1, 2], [0, 1], receivev, [2, 1], [0, 2]);
                // From the left: its right block (2 elements); from the right: its left block (1 element).
                Assert.Equal(new[] { 10 * left + 1, 10 * left + 2, 10 * right }, receivev);
            }
        });
    }

    [Fact]
    public async Task NeighborCollective_WithoutTopology_ThrowsTopologyError()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            var e = Assert.Throws<MpiException>(() => world.NeighborAllgather(new[] { 1 }, new int[2]));
            Assert.Equal(ErrorClass.Topology, e.ErrorClass);
        });
    }

    [Fact]
    public async Task CreateDistGraphAdjacent_BadNeighbor_Throws()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            Assert.Equal("destinations", Assert.Throws<ArgumentOutOfRangeException>(() => world.CreateDistGraphAdjacent([0], [2])).ParamName);
        });
    }
}
