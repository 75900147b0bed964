using static SharpMpi.Tests.CollectiveTestSupport;
using static SharpMpi.Tests.InterTestSupport;

namespace SharpMpi.Tests;

/// <summary>
/// Collectives on intercommunicators against a sequential reference: world ranks split into group 0 (the
/// first <c>low</c> ranks) and group 1 (the rest), so group sizes 1+1, 1+2, 2+3, 3+3, 4+3 are all covered, each
/// group seeing the other as its remote group.
/// </summary>
public class CollectiveInterTests
{
    /// <summary>(world size, size of group 0).</summary>
    public static TheoryData<int, int> Splits => new() { { 2, 1 }, { 3, 1 }, { 5, 2 }, { 6, 3 }, { 7, 4 } };

    /// <summary>Element counts per block: empty, one, small, above the 16 KiB eager limit (ints).</summary>
    private static readonly int[] BlockCounts = [0, 1, 37, 5000];

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task Barrier_NobodyLeavesBeforeEveryRankOfBothGroupsArrived(int ranks, int low)
    {
        int arrived = 0;
        await Run(ranks, low, s =>
        {
            for (int round = 1; round <= 3; round++)
            {
                Interlocked.Increment(ref arrived);
                s.Inter.Barrier();
                Assert.True(Volatile.Read(ref arrived) >= round * ranks, $"left round {round} with {arrived} arrivals");
                s.Inter.Barrier();
            }
        });
    }

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task Broadcast_FromEachRootOfEachGroup_ReachesTheOtherGroup(int ranks, int low)
    {
        await Run(ranks, low, s =>
        {
            foreach (int count in BlockCounts)
            {
                for (int rootColor = 0; rootColor < 2; rootColor++)
                {
                    int rootGroupSize = rootColor == s.Color ? s.LocalSize : s.RemoteSize;
                    for (int root = 0; root < rootGroupSize; root++)
                    {
                        var buffer = new int[count];
                        int arg;
                        if (rootColor == s.Color)
                        {
                            arg = s.Inter.Rank == root ? Communicator.Root : Communicator.ProcNull;
                            if (s.Inter.Rank == root)
                                Values(s.Color, root, count).CopyTo(buffer, 0);
                        }
                        else
                        {
                            arg = root;
                        }
                        s.Inter.Broadcast<int>(buffer, arg);
                        var expected = rootColor == s.Color && s.Inter.Rank != root ? new int[count] : Values(rootColor, root, count);
                        Assert.Equal(expected, buffer);
                    }
                }
            }
        });
    }

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task GatherAndScatter_RootExchangesOneBlockWithEachRemoteRank(int ranks, int low)
    {
        await Run(ranks, low, s =>
        {
            foreach (int count in BlockCounts)
            {
                for (int rootColor = 0; rootColor < 2; rootColor++)
                {
                    int root = (rootColor == 0 ? low : ranks - low) - 1;
                    int arg = RootArg(s, rootColor, root);
                    bool isRoot = arg == Communicator.Root;
                    // Gather: the root gets every remote rank's block in remote rank order.
                    var all = new int[isRoot ? count * s.RemoteSize : 0];
                    s.Inter.Gather<int>(isRoot || arg == Communicator.ProcNull ? [] : Values(s.Color, s.Inter.Rank, count), all, arg);
                    if (isRoot)
                    {
                        for (int r = 0; r < s.RemoteSize; r++)
                            Assert.Equal(Values(s.RemoteColor, r, count), all.AsSpan(r * count, count).ToArray());
                    }
                    // Scatter: remote rank r gets block r of the root's buffer.
                    var send = isRoot ? Values(s.Color, 50, count * s.RemoteSize) : [];
                    var mine = new int[count];
                    s.Inter.Scatter<int>(send, mine, arg);
                    if (arg >= 0)
                        Assert.Equal(Values(rootColor, 50, count * s.LocalSize).AsSpan(s.Inter.Rank * count, count).ToArray(), mine);
                    else
                        Assert.Equal(new int[count], mine);
                }
            }
            // One value per rank.
            int[]? got = s.Inter.Gather(s.Inter.Rank + 10 * s.Color, RootArg(s, 1, 0));
            if (s.Color == 1 && s.Inter.Rank == 0)
                Assert.Equal(Enumerable.Range(0, s.RemoteSize).ToArray(), got);
            else
                Assert.Null(got);
        });
    }

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task GathervAndScatterv_VariableBlocksAtDisplacements(int ranks, int low)
    {
        await Run(ranks, low, s =>
        {
            for (int rootColor = 0; rootColor < 2; rootColor++)
            {
                int arg = RootArg(s, rootColor, 0);
                bool isRoot = arg == Communicator.Root;
                // Remote rank r sends r·7 + 1 elements; the root stores them in reverse rank order with a gap of 3.
                var counts = Enumerable.Range(0, s.RemoteSize).Select(r => r * 7 + 1).ToArray();
                var displacements = new int[s.RemoteSize];
                int at = 0;
                for (int r = s.RemoteSize - 1; r >= 0; r--)
                {
                    displacements[r] = at;
                    at += counts[r] + 3;
                }
                int myCount = s.Inter.Rank * 7 + 1;
                var receive = new int[isRoot ? at : 0];
                s.Inter.Gatherv<int>(arg >= 0 ? Values(s.Color, s.Inter.Rank, myCount) : [], receive, isRoot ? counts : [], isRoot ? displacements : [], arg);
                if (isRoot)
                {
                    for (int r = 0; r < s.RemoteSize; r++)
                        Assert.Equal(Values(s.RemoteColor, r, counts[r]), receive.AsSpan(displacements[r], counts[r]).ToArray());
                }
                // Scatterv of the same layout back: remote rank r gets its slice of the root's buffer.
                var send = isRoot ? Values(s.Color, 60, at) : [];
                var mine = new int[myCount];
                s.Inter.Scatterv<int>(send, isRoot ? counts : [], isRoot ? displacements : [], mine, arg);
                if (arg >= 0)
                {
                    int myDisplacement = 0;
                    for (int r = s.LocalSize - 1; r > s.Inter.Rank; r--)
                        myDisplacement += r * 7 + 1 + 3;
                    Assert.Equal(Values(rootColor, 60, myDisplacement + myCount).AsSpan(myDisplacement, myCount).ToArray(), mine);
                }
            }
        });
    }

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task AllgatherAndAllgatherv_EveryRankGetsTheRemoteGroupsBlocks(int ranks, int low)
    {
        await Run(ranks, low, s =>
        {
            foreach (int count in BlockCounts)
            {
                var receive = new int[count * s.RemoteSize];
                s.Inter.Allgather<int>(Values(s.Color, s.Inter.Rank, count), receive);
                for (int r = 0; r < s.RemoteSize; r++)
                    Assert.Equal(Values(s.RemoteColor, r, count), receive.AsSpan(r * count, count).ToArray());
            }
            Assert.Equal(Enumerable.Range(0, s.RemoteSize).Select(r => r + 1000 * s.RemoteColor).ToArray(),
                s.Inter.Allgather(s.Inter.Rank + 1000 * s.Color));
            var counts = Enumerable.Range(0, s.RemoteSize).Select(r => (r * 3 + s.RemoteColor) % 4).ToArray();
            var packed = new int[counts.Sum()];
            s.Inter.Allgatherv<int>(Values(s.Color, s.Inter.Rank, (s.Inter.Rank * 3 + s.Color) % 4), packed, counts);
            int at = 0;
            for (int r = 0; r < s.RemoteSize; r++)
            {
                Assert.Equal(Values(s.RemoteColor, r, counts[r]), packed.AsSpan(at, counts[r]).ToArray());
                at += counts[r];
            }
        });
    }

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task AlltoallFamily_BlockJGoesToRemoteRankJ(int ranks, int low)
    {
        await Run(ranks, low, s =>
        {
            // Block j of rank i of group g: Values(g, i, count, offset 1000·j).
            foreach (int count in BlockCounts)
            {
                var send = new int[count * s.RemoteSize];
                for (int j = 0; j < s.RemoteSize; j++)
                    Values(s.Color, s.Inter.Rank, count, 1000 * j).CopyTo(send, j * count);
                var receive = new int[count * s.RemoteSize];
                s.Inter.Alltoall<int>(send, receive);
                for (int r = 0; r < s.RemoteSize; r++)
                    Assert.Equal(Values(s.RemoteColor, r, count, 1000 * s.Inter.Rank), receive.AsSpan(r * count, count).ToArray());
            }
            // Alltoallv: rank i of group g sends i + j + g elements to remote rank j, packed in reverse order.
            int Len(int g, int i, int j) => i + j + g;
            var sendCounts = Enumerable.Range(0, s.RemoteSize).Select(j => Len(s.Color, s.Inter.Rank, j)).ToArray();
            var sendDisplacements = new int[s.RemoteSize];
            int total = 0;
            for (int j = s.RemoteSize - 1; j >= 0; j--)
            {
                sendDisplacements[j] = total;
                total += sendCounts[j];
            }
            var sendv = new int[total];
            for (int j = 0; j < s.RemoteSize; j++)
                Values(s.Color, s.Inter.Rank, sendCounts[j], 1000 * j).CopyTo(sendv, sendDisplacements[j]);
            var receiveCounts = Enumerable.Range(0, s.RemoteSize).Select(r => Len(s.RemoteColor, r, s.Inter.Rank)).ToArray();
            var receiveDisplacements = new int[s.RemoteSize];
            for (int r = 1; r < s.RemoteSize; r++)
                receiveDisplacements[r] = receiveDisplacements[r - 1] + receiveCounts[r - 1] + 2;
            var receivev = new int[receiveDisplacements[^1] + receiveCounts[^1]];
            s.Inter.Alltoallv<int>(sendv, sendCounts, sendDisplacements, receivev, receiveCounts, receiveDisplacements);
            for (int r = 0; r < s.RemoteSize; r++)
                Assert.Equal(Values(s.RemoteColor, r, receiveCounts[r], 1000 * s.Inter.Rank), receivev.AsSpan(receiveDisplacements[r], receiveCounts[r]).ToArray());
            // Alltoallw over the same bytes.
            static int[] Bytes(int[] a) => a.Select(x => x * sizeof(int)).ToArray();
            var receivew = new int[receivev.Length];
            s.Inter.Alltoallw(System.Runtime.InteropServices.MemoryMarshal.AsBytes(sendv.AsSpan()), Bytes(sendCounts), Bytes(sendDisplacements),
                System.Runtime.InteropServices.MemoryMarshal.AsBytes(receivew.AsSpan()), Bytes(receiveCounts), Bytes(receiveDisplacements));
            for (int r = 0; r < s.RemoteSize; r++)
                Assert.Equal(receivev.AsSpan(receiveDisplacements[r], receiveCounts[r]).ToArray(), receivew.AsSpan(receiveDisplacements[r], receiveCounts[r]).ToArray());
        });
    }

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task ReduceAndAllreduce_CombineTheRemoteGroupInRankOrder(int ranks, int low)
    {
        await Run(ranks, low, s =>
        {
            foreach (int count in BlockCounts)
            {
                var mine = Values(s.Color, s.Inter.Rank, count);
                var sum = new int[count];
                s.Inter.Allreduce<int>(mine, sum, Op.Sum);
                Assert.Equal(SumOf(s.RemoteColor, s.RemoteSize, count), sum);

                var product = new Mat2[count];
                s.Inter.Allreduce<Mat2, MatMul>(Matrices(s.Color, s.Inter.Rank, count), product);
                Assert.Equal(ProductOf(s.RemoteColor, s.RemoteSize, count), product);

                for (int rootColor = 0; rootColor < 2; rootColor++)
                {
                    int root = rootColor == s.Color ? s.LocalSize - 1 : s.RemoteSize - 1;
                    int arg = RootArg(s, rootColor, root);
                    var result = new int[count];
                    s.Inter.Reduce<int>(arg >= 0 ? mine : [], result, Op.Sum, arg);
                    Assert.Equal(arg == Communicator.Root ? SumOf(s.RemoteColor, s.RemoteSize, count) : new int[count], result);
                    var matrices = new Mat2[count];
                    s.Inter.Reduce<Mat2>(arg >= 0 ? Matrices(s.Color, s.Inter.Rank, count) : [], matrices, (a, b) => a * b, arg, commutative: false);
                    if (arg == Communicator.Root)
                        Assert.Equal(ProductOf(s.RemoteColor, s.RemoteSize, count), matrices);
                }
            }
            // In place is accepted too.
            var buffer = Values(s.Color, s.Inter.Rank, 5);
            s.Inter.Allreduce<int>(buffer, Op.Sum);
            Assert.Equal(SumOf(s.RemoteColor, s.RemoteSize, 5), buffer);
            Assert.Equal(s.RemoteSize * (s.RemoteSize - 1) / 2, s.Inter.Allreduce(s.Inter.Rank, Op.Sum));
        });
    }

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task ReduceScatter_OtherGroupsReductionSplitOverThisGroup(int ranks, int low)
    {
        await Run(ranks, low, s =>
        {
            // Both groups reduce vectors of the same length n; group g splits the other group's sum by its counts.
            const int n = 60;
            var counts = new int[s.LocalSize];
            for (int i = 0; i < s.LocalSize; i++)
                counts[i] = n / s.LocalSize + (i < n % s.LocalSize ? 1 : 0);
            int offset = counts.AsSpan(0, s.Inter.Rank).ToArray().Sum();
            var mine = new int[counts[s.Inter.Rank]];
            s.Inter.ReduceScatter<int>(Values(s.Color, s.Inter.Rank, n), mine, counts, Op.Sum);
            Assert.Equal(SumOf(s.RemoteColor, s.RemoteSize, n).AsSpan(offset, counts[s.Inter.Rank]).ToArray(), mine);

            // Block form: n = block · local size must agree across the groups, so use block = L / local size with L = 12·5·7.
            const int total = 420;
            int block = total / s.LocalSize;
            var blockResult = new int[block];
            s.Inter.ReduceScatterBlock<int>(Values(s.Color, s.Inter.Rank, total), blockResult, Op.Sum);
            Assert.Equal(SumOf(s.RemoteColor, s.RemoteSize, total).AsSpan(s.Inter.Rank * block, block).ToArray(), blockResult);

            // Non-commutative, rank order kept.
            var matrices = new Mat2[counts[s.Inter.Rank]];
            s.Inter.ReduceScatter<Mat2, MatMul>(Matrices(s.Color, s.Inter.Rank, n), matrices, counts);
            Assert.Equal(ProductOf(s.RemoteColor, s.RemoteSize, n).AsSpan(offset, counts[s.Inter.Rank]).ToArray(), matrices);
        });
    }

    [Fact]
    public async Task Intercommunicator_BadRootAndUndefinedCollectives_ThrowClearly()
    {
        await Run(3, 1, s =>
        {
            var buffer = new int[1];
            Assert.Equal("root", Assert.Throws<ArgumentOutOfRangeException>(() => s.Inter.Broadcast<int>(buffer, s.RemoteSize)).ParamName);
            Assert.Equal("root", Assert.Throws<ArgumentOutOfRangeException>(() => s.Inter.Reduce<int>(buffer, buffer, Op.Sum, -7)).ParamName);
            if (s.RemoteSize > 1)
                Assert.Equal("receive", Assert.Throws<ArgumentException>(() => s.Inter.Allgather<int>(buffer, new int[s.RemoteSize + 1])).ParamName);
            Assert.Equal("root", Assert.Throws<ArgumentOutOfRangeException>(() => s.Inter.IBroadcast(buffer, s.RemoteSize)).ParamName);
            Assert.Equal("root", Assert.Throws<ArgumentOutOfRangeException>(() => s.Inter.GatherObject(1, -7)).ParamName);
            if (s.RemoteSize > 1)
                Assert.Equal("values", Assert.Throws<ArgumentException>(() => s.Inter.AlltoallObject(new int[s.RemoteSize + 1])).ParamName);
            // MPI defines no scans and no in-place gathers on intercommunicators.
            var scan = Assert.Throws<MpiException>(() => s.Inter.Scan<int>(buffer, buffer, Op.Sum));
            Assert.Equal(ErrorClass.Unsupported, scan.ErrorClass);
            Assert.Contains("MPI defines no scans", scan.Message);
            Assert.Equal(ErrorClass.Unsupported, Assert.Throws<MpiException>(() => s.Inter.IScan<int>(buffer, buffer, Op.Sum)).ErrorClass);
            Assert.Equal(ErrorClass.Unsupported, Assert.Throws<MpiException>(() => s.Inter.ScanObject(1, (a, b) => a + b)).ErrorClass);
            Assert.Equal(ErrorClass.Unsupported, Assert.Throws<MpiException>(() => s.Inter.GathervInPlace<int>(buffer, [1], [0], Communicator.ProcNull)).ErrorClass);
            // Still usable afterwards.
            s.Inter.Barrier();
        });
    }
}
