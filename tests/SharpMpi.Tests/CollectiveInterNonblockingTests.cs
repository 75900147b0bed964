using System.Runtime.InteropServices;
using static SharpMpi.Tests.InterTestSupport;

namespace SharpMpi.Tests;

/// <summary>
/// Nonblocking collectives on intercommunicators (MPI_Ibarrier … MPI_Ireduce_scatter_block) against a sequential
/// reference: group sizes (local, remote) of (1,1), (1,2)/(2,1), (1,2) with the larger group first, and (2,3)/(3,2);
/// the root in either group; each call completed by awaiting its Task form or by Wait() on its Request form.
/// </summary>
public class CollectiveInterNonblockingTests
{
    /// <summary>(world size, size of group 0, awaited rather than Wait()ed).</summary>
    public static TheoryData<int, int, bool> Cases
    {
        get
        {
            var data = new TheoryData<int, int, bool>();
            foreach (var (ranks, low) in new[] { (2, 1), (3, 1), (3, 2), (5, 2) })
            {
                data.Add(ranks, low, true);
                data.Add(ranks, low, false);
            }
            return data;
        }
    }

    /// <summary>Element counts per block: empty, one, small, above the 16 KiB eager limit (ints).</summary>
    private static readonly int[] BlockCounts = [0, 1, 37, 5000];

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task IBarrier_NobodyCompletesBeforeEveryRankOfBothGroupsArrived(int ranks, int low, bool awaited)
    {
        int arrived = 0;
        await RunAsync(ranks, low, async s =>
        {
            for (int round = 1; round <= 3; round++)
            {
                Interlocked.Increment(ref arrived);
                await Complete(awaited, s.Inter.BarrierAsync, s.Inter.IBarrier);
                Assert.True(Volatile.Read(ref arrived) >= round * ranks, $"left round {round} with {arrived} arrivals");
                await Complete(awaited, s.Inter.BarrierAsync, s.Inter.IBarrier);
            }
        });
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task IBroadcast_FromEachRankOfEachGroup_ReachesTheOtherGroup(int ranks, int low, bool awaited)
    {
        await RunAsync(ranks, low, async s =>
        {
            foreach (int count in BlockCounts)
            {
                for (int rootColor = 0; rootColor < 2; rootColor++)
                {
                    for (int root = 0; root < (rootColor == s.Color ? s.LocalSize : s.RemoteSize); root++)
                    {
                        int arg = RootArg(s, rootColor, root);
                        var buffer = arg == Communicator.Root ? Values(s.Color, root, count) : new int[count];
                        await Complete(awaited, () => s.Inter.BroadcastAsync(buffer, arg), () => s.Inter.IBroadcast(buffer, arg));
                        Assert.Equal(arg == Communicator.ProcNull ? new int[count] : Values(rootColor, root, count), buffer);
                    }
                }
            }
        });
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task IGatherAndIScatter_RootExchangesOneBlockWithEachRemoteRank(int ranks, int low, bool awaited)
    {
        await RunAsync(ranks, low, async s =>
        {
            foreach (int count in BlockCounts)
            {
                for (int rootColor = 0; rootColor < 2; rootColor++)
                {
                    int arg = RootArg(s, rootColor, (rootColor == s.Color ? s.LocalSize : s.RemoteSize) - 1);
                    bool isRoot = arg == Communicator.Root;
                    int[] send = arg >= 0 ? Values(s.Color, s.Inter.Rank, count) : [];
                    var all = new int[isRoot ? count * s.RemoteSize : 0];
                    await Complete(awaited, () => s.Inter.GatherAsync(send, all, arg), () => s.Inter.IGather(send, all, arg));
                    for (int r = 0; r < (isRoot ? s.RemoteSize : 0); r++)
                        Assert.Equal(Values(s.RemoteColor, r, count), all.AsSpan(r * count, count).ToArray());

                    int[] blocks = isRoot ? Values(s.Color, 50, count * s.RemoteSize) : [];
                    var mine = new int[count];
                    await Complete(awaited, () => s.Inter.ScatterAsync(blocks, mine, arg), () => s.Inter.IScatter(blocks, mine, arg));
                    var expected = arg >= 0 ? Values(rootColor, 50, count * s.LocalSize).AsSpan(s.Inter.Rank * count, count).ToArray() : new int[count];
                    Assert.Equal(expected, mine);
                }
            }
        });
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task IGathervAndIScatterv_VariableBlocksAtDisplacements(int ranks, int low, bool awaited)
    {
        await RunAsync(ranks, low, async s =>
        {
            for (int rootColor = 0; rootColor < 2; rootColor++)
            {
                int arg = RootArg(s, rootColor, 0);
                bool isRoot = arg == Communicator.Root;
                // Remote rank r sends r·7 + 1 elements (a few above the eager limit); the root stores them in reverse order, 3 apart.
                int Count(int r) => r * 7 + 1 + (r == 1 ? 5000 : 0);
                var counts = Enumerable.Range(0, s.RemoteSize).Select(Count).ToArray();
                var displacements = new int[s.RemoteSize];
                int at = 0;
                for (int r = s.RemoteSize - 1; r >= 0; r--)
                {
                    displacements[r] = at;
                    at += counts[r] + 3;
                }
                int[] rootCounts = isRoot ? counts : [], rootDisplacements = isRoot ? displacements : [];
                int[] send = arg >= 0 ? Values(s.Color, s.Inter.Rank, Count(s.Inter.Rank)) : [];
                var receive = new int[isRoot ? at : 0];
                await Complete(awaited, () => s.Inter.GathervAsync(send, receive, rootCounts, rootDisplacements, arg),
                    () => s.Inter.IGatherv(send, receive, rootCounts, rootDisplacements, arg));
                for (int r = 0; r < (isRoot ? s.RemoteSize : 0); r++)
                    Assert.Equal(Values(s.RemoteColor, r, counts[r]), receive.AsSpan(displacements[r], counts[r]).ToArray());

                int[] blocks = isRoot ? Values(s.Color, 60, at) : [];
                var mine = new int[Count(s.Inter.Rank)];
                await Complete(awaited, () => s.Inter.ScattervAsync(blocks, rootCounts, rootDisplacements, mine, arg),
                    () => s.Inter.IScatterv(blocks, rootCounts, rootDisplacements, mine, arg));
                if (arg >= 0)
                {
                    int myDisplacement = 0;
                    for (int r = s.LocalSize - 1; r > s.Inter.Rank; r--)
                        myDisplacement += Count(r) + 3;
                    Assert.Equal(Values(rootColor, 60, myDisplacement + mine.Length).AsSpan(myDisplacement).ToArray(), mine);
                }
            }
        });
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task IAllgatherAndIAllgatherv_EveryRankGetsTheRemoteGroupsBlocks(int ranks, int low, bool awaited)
    {
        await RunAsync(ranks, low, async s =>
        {
            foreach (int count in BlockCounts)
            {
                var send = Values(s.Color, s.Inter.Rank, count);
                var receive = new int[count * s.RemoteSize];
                await Complete(awaited, () => s.Inter.AllgatherAsync(send, receive), () => s.Inter.IAllgather(send, receive));
                for (int r = 0; r < s.RemoteSize; r++)
                    Assert.Equal(Values(s.RemoteColor, r, count), receive.AsSpan(r * count, count).ToArray());
            }
            int Count(int color, int r) => (r * 3 + color) % 4 + (r == 0 ? 4100 : 0);
            var counts = Enumerable.Range(0, s.RemoteSize).Select(r => Count(s.RemoteColor, r)).ToArray();
            var displacements = new int[s.RemoteSize];
            for (int r = 1; r < s.RemoteSize; r++)
                displacements[r] = displacements[r - 1] + counts[r - 1] + 1;
            var packed = new int[displacements[^1] + counts[^1]];
            var mine = Values(s.Color, s.Inter.Rank, Count(s.Color, s.Inter.Rank));
            await Complete(awaited, () => s.Inter.AllgathervAsync(mine, packed, counts, displacements),
                () => s.Inter.IAllgatherv(mine, packed, counts, displacements));
            for (int r = 0; r < s.RemoteSize; r++)
                Assert.Equal(Values(s.RemoteColor, r, counts[r]), packed.AsSpan(displacements[r], counts[r]).ToArray());
        });
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task IAlltoallFamily_BlockJGoesToRemoteRankJ(int ranks, int low, bool awaited)
    {
        await RunAsync(ranks, low, async s =>
        {
            foreach (int count in BlockCounts)
            {
                var send = new int[count * s.RemoteSize];
                for (int j = 0; j < s.RemoteSize; j++)
                    Values(s.Color, s.Inter.Rank, count, 1000 * j).CopyTo(send, j * count);
                var receive = new int[count * s.RemoteSize];
                await Complete(awaited, () => s.Inter.AlltoallAsync(send, receive), () => s.Inter.IAlltoall(send, receive));
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
            await Complete(awaited, () => s.Inter.AlltoallvAsync(sendv, sendCounts, sendDisplacements, receivev, receiveCounts, receiveDisplacements),
                () => s.Inter.IAlltoallv(sendv, sendCounts, sendDisplacements, receivev, receiveCounts, receiveDisplacements));
            for (int r = 0; r < s.RemoteSize; r++)
            {
                Assert.Equal(Values(s.RemoteColor, r, receiveCounts[r], 1000 * s.Inter.Rank),
                    receivev.AsSpan(receiveDisplacements[r], receiveCounts[r]).ToArray());
            }
            // Alltoallw over the same bytes.
            static int[] Bytes(int[] a) => a.Select(x => x * sizeof(int)).ToArray();
            var sendw = MemoryMarshal.AsBytes(sendv.AsSpan()).ToArray();
            var receivew = new byte[receivev.Length * sizeof(int)];
            await Complete(awaited,
                () => s.Inter.AlltoallwAsync(sendw, Bytes(sendCounts), Bytes(sendDisplacements), receivew, Bytes(receiveCounts), Bytes(receiveDisplacements)),
                () => s.Inter.IAlltoallw(sendw, Bytes(sendCounts), Bytes(sendDisplacements), receivew, Bytes(receiveCounts), Bytes(receiveDisplacements)));
            for (int r = 0; r < s.RemoteSize; r++)
            {
                Assert.Equal(receivev.AsSpan(receiveDisplacements[r], receiveCounts[r]).ToArray(),
                    MemoryMarshal.Cast<byte, int>(receivew).Slice(receiveDisplacements[r], receiveCounts[r]).ToArray());
            }
        });
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task IReduceAndIAllreduce_CombineTheRemoteGroupInRankOrder(int ranks, int low, bool awaited)
    {
        await RunAsync(ranks, low, async s =>
        {
            foreach (int count in BlockCounts)
            {
                var mine = Values(s.Color, s.Inter.Rank, count);
                var sum = new int[count];
                await Complete(awaited, () => s.Inter.AllreduceAsync(mine, sum, Op.Sum), () => s.Inter.IAllreduce(mine, sum, Op.Sum));
                Assert.Equal(SumOf(s.RemoteColor, s.RemoteSize, count), sum);

                var matrices = Matrices(s.Color, s.Inter.Rank, count);
                var product = new Mat2[count];
                await Complete(awaited, () => s.Inter.AllreduceAsync<Mat2, MatMul>(matrices, product), () => s.Inter.IAllreduce<Mat2, MatMul>(matrices, product));
                Assert.Equal(ProductOf(s.RemoteColor, s.RemoteSize, count), product);
                var lambdaProduct = new Mat2[count];
                await Complete(awaited, () => s.Inter.AllreduceAsync(matrices, lambdaProduct, (a, b) => a * b, commutative: false),
                    () => s.Inter.IAllreduce(matrices, lambdaProduct, (a, b) => a * b, commutative: false));
                Assert.Equal(product, lambdaProduct);

                for (int rootColor = 0; rootColor < 2; rootColor++)
                {
                    int arg = RootArg(s, rootColor, rootColor == s.Color ? s.LocalSize - 1 : s.RemoteSize - 1);
                    int[] send = arg >= 0 ? mine : [];
                    var result = new int[count];
                    await Complete(awaited, () => s.Inter.ReduceAsync(send, result, Op.Sum, arg), () => s.Inter.IReduce(send, result, Op.Sum, arg));
                    Assert.Equal(arg == Communicator.Root ? SumOf(s.RemoteColor, s.RemoteSize, count) : new int[count], result);
                }
            }
            // In place is accepted too.
            var buffer = Values(s.Color, s.Inter.Rank, 5);
            await Complete(awaited, () => s.Inter.AllreduceAsync(buffer, Op.Sum), () => s.Inter.IAllreduce(buffer, Op.Sum));
            Assert.Equal(SumOf(s.RemoteColor, s.RemoteSize, 5), buffer);
        });
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task IReduceScatter_OtherGroupsReductionSplitOverThisGroup(int ranks, int low, bool awaited)
    {
        await RunAsync(ranks, low, async s =>
        {
            // Both groups reduce vectors of the same length n (above the eager limit); group g splits the other group's sum by its counts.
            const int n = 6000;
            var counts = new int[s.LocalSize];
            for (int i = 0; i < s.LocalSize; i++)
                counts[i] = n / s.LocalSize + (i < n % s.LocalSize ? 1 : 0);
            int offset = counts.AsSpan(0, s.Inter.Rank).ToArray().Sum();
            var send = Values(s.Color, s.Inter.Rank, n);
            var mine = new int[counts[s.Inter.Rank]];
            await Complete(awaited, () => s.Inter.ReduceScatterAsync(send, mine, counts, Op.Sum), () => s.Inter.IReduceScatter(send, mine, counts, Op.Sum));
            Assert.Equal(SumOf(s.RemoteColor, s.RemoteSize, n).AsSpan(offset, counts[s.Inter.Rank]).ToArray(), mine);

            // Block form: block · local size must agree across the groups: 420 = 2²·3·5·7.
            const int total = 420;
            int block = total / s.LocalSize;
            var blockSend = Values(s.Color, s.Inter.Rank, total);
            var blockResult = new int[block];
            await Complete(awaited, () => s.Inter.ReduceScatterBlockAsync(blockSend, blockResult, Op.Sum),
                () => s.Inter.IReduceScatterBlock(blockSend, blockResult, Op.Sum));
            Assert.Equal(SumOf(s.RemoteColor, s.RemoteSize, total).AsSpan(s.Inter.Rank * block, block).ToArray(), blockResult);
        });
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task SeveralOutstanding_OfDifferentKinds_CompleteInOrderOfPosting(int ranks, int low, bool awaited)
    {
        await RunAsync(ranks, low, async s =>
        {
            // Posted back to back on the same intercommunicator, every rank in the same order, then completed in that order.
            const int count = 5000;
            var mine = Values(s.Color, s.Inter.Rank, count);
            var sum = new int[count];
            int broadcastArg = RootArg(s, 0, 0);
            var broadcast = broadcastArg == Communicator.Root ? Values(0, 0, 37) : new int[37];
            int gatherArg = RootArg(s, 1, ranks - low - 1);
            var gathered = new int[gatherArg == Communicator.Root ? s.RemoteSize : 0];
            int[] gatherSend = gatherArg >= 0 ? [s.Inter.Rank * 10 + s.Color] : [];
            var allgathered = new int[count * s.RemoteSize];
            var product = new Mat2[3];
            var sums = new int[10][];

            if (awaited)
            {
                var posted = new List<Task>
                {
                    s.Inter.AllreduceAsync(mine, sum, Op.Sum),
                    s.Inter.BroadcastAsync(broadcast, broadcastArg),
                    s.Inter.GatherAsync(gatherSend, gathered, gatherArg),
                    s.Inter.BarrierAsync(),
                    s.Inter.AllgatherAsync(mine, allgathered),
                    s.Inter.AllreduceAsync<Mat2, MatMul>(Matrices(s.Color, s.Inter.Rank, 3), product),
                };
                for (int i = 0; i < sums.Length; i++)
                {
                    sums[i] = new int[i * 997];
                    posted.Add(s.Inter.AllreduceAsync(Values(s.Color, s.Inter.Rank, i * 997), sums[i], Op.Sum));
                }
                foreach (var t in posted)
                    await t;
            }
            else
            {
                var posted = new List<Request>
                {
                    s.Inter.IAllreduce(mine, sum, Op.Sum),
                    s.Inter.IBroadcast(broadcast, broadcastArg),
                    s.Inter.IGather(gatherSend, gathered, gatherArg),
                    s.Inter.IBarrier(),
                    s.Inter.IAllgather(mine, allgathered),
                    s.Inter.IAllreduce<Mat2, MatMul>(Matrices(s.Color, s.Inter.Rank, 3), product),
                };
                for (int i = 0; i < sums.Length; i++)
                {
                    sums[i] = new int[i * 997];
                    posted.Add(s.Inter.IAllreduce(Values(s.Color, s.Inter.Rank, i * 997), sums[i], Op.Sum));
                }
                foreach (var r in posted)
                    r.Wait();
            }
            Assert.Equal(SumOf(s.RemoteColor, s.RemoteSize, count), sum);
            Assert.Equal(broadcastArg == Communicator.ProcNull ? new int[37] : Values(0, 0, 37), broadcast);
            if (gatherArg == Communicator.Root)
                Assert.Equal(Enumerable.Range(0, s.RemoteSize).Select(r => r * 10).ToArray(), gathered);
            for (int r = 0; r < s.RemoteSize; r++)
                Assert.Equal(Values(s.RemoteColor, r, count), allgathered.AsSpan(r * count, count).ToArray());
            Assert.Equal(ProductOf(s.RemoteColor, s.RemoteSize, 3), product);
            for (int i = 0; i < sums.Length; i++)
                Assert.Equal(SumOf(s.RemoteColor, s.RemoteSize, i * 997), sums[i]);
            // Blocking collectives after nonblocking ones keep matching.
            s.Inter.Barrier();
        });
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task IAllreduce_ReturnsBeforeTheRemoteGroupHasCalledIt(int ranks, int low, bool awaited)
    {
        // Group 1 starts only after every rank of group 0 has posted and got its call back: a call that waited
        // for the remote group (or held its thread until the collective completed) would never return.
        int posted = 0;
        var allPosted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await RunAsync(ranks, low, async s =>
        {
            var mine = Values(s.Color, s.Inter.Rank, 5000);
            var sum = new int[mine.Length];
            if (s.Color == 1)
                await allPosted.Task.WaitAsync(TimeSpan.FromSeconds(60));
            Task? task = null;
            Request request = default;
            if (awaited)
                task = s.Inter.AllreduceAsync(mine, sum, Op.Sum);
            else
                request = s.Inter.IAllreduce(mine, sum, Op.Sum);
            if (s.Color == 0 && Interlocked.Increment(ref posted) == low)
                allPosted.SetResult();
            if (awaited)
                await task!;
            else
                request.Wait();
            Assert.Equal(SumOf(s.RemoteColor, s.RemoteSize, mine.Length), sum);
        });
    }
}
