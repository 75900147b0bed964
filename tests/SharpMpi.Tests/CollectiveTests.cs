using SharpMpi.Collectives;
using static SharpMpi.Tests.CollectiveTestSupport;

namespace SharpMpi.Tests;

/// <summary>Blocking collectives against sequential references, every algorithm forced in turn.</summary>
public class CollectiveTests
{
    public static TheoryData<int> Ranks => RankCounts;

    [Theory]
    [MemberData(nameof(Ranks))]
    public async Task Barrier_NoRankLeavesBeforeAllArrived(int ranks)
    {
        int arrived = 0;
        await MpiTestHost.RunAsync(ranks, world =>
        {
            int round = 0;
            foreach (var algorithm in All<BarrierAlgorithm>())
            {
                Use(world, new CollectiveTuning { Barrier = algorithm });
                for (int i = 0; i < 5; i++)
                {
                    round++;
                    Interlocked.Increment(ref arrived);
                    if (i % 2 == 0)
                        world.Barrier();
                    else
                        world.IBarrier().Wait();
                    Assert.True(Volatile.Read(ref arrived) >= round * ranks);
                    world.Barrier();
                }
            }
        }, Options);
    }

    [Theory]
    [MemberData(nameof(Ranks))]
    public async Task Broadcast_EveryAlgorithmSizeAndRoot(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            foreach (var algorithm in All<BroadcastAlgorithm>())
            {
                Use(world, new CollectiveTuning { Broadcast = algorithm });
                foreach (int count in Counts)
                {
                    foreach (int root in Roots(ranks))
                    {
                        var buf = world.Rank == root ? Data(root, count) : new int[count];
                        world.Broadcast(buf, root);
                        Assert.Equal(Data(root, count), buf);
                    }
                }
            }
            Assert.Equal(3.5, world.Broadcast(world.Rank == ranks - 1 ? 3.5 : 0, ranks - 1));
        }, Options);
    }

    [Fact]
    public async Task Broadcast_OneMebibyte_ScatterAllgather()
    {
        await MpiTestHost.RunAsync(5, world =>
        {
            var buf = world.Rank == 2 ? Data(2, 256 * 1024) : new int[256 * 1024];
            world.Broadcast(buf, 2);
            Assert.Equal(Data(2, 256 * 1024), buf);
        }, Options);
    }

    [Theory]
    [MemberData(nameof(Ranks))]
    public async Task GatherScatter_EveryAlgorithmSizeAndRoot(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            int p = world.Size, me = world.Rank;
            foreach (var algorithm in All<GatherAlgorithm>())
            {
                Use(world, new CollectiveTuning { Gather = algorithm, Scatter = algorithm });
                foreach (int count in Counts)
                {
                    foreach (int root in Roots(ranks))
                    {
                        var all = world.Rank == root ? new int[p * count] : [];
                        world.Gather(Data(me, count), all, root);
                        if (me == root)
                        {
                            for (int r = 0; r < p; r++)
                                Assert.Equal(Data(r, count), all.AsSpan(r * count, count).ToArray());
                        }

                        // in place: the root's own block is already where it belongs
                        var inPlace = me == root ? new int[p * count] : Data(me, count);
                        if (me == root)
                            Data(me, count).CopyTo(inPlace, me * count);
                        world.GatherInPlace(inPlace, root);
                        if (me == root)
                            Assert.Equal(all, inPlace);

                        var source = me == root ? Reference(p, count) : [];
                        var mine = new int[count];
                        world.Scatter(source, mine, root);
                        Assert.Equal(Data(me, count), mine);

                        var buffer = me == root ? Reference(p, count) : new int[count];
                        world.ScatterInPlace(buffer, root);
                        Assert.Equal(Data(me, count), me == root ? buffer.AsSpan(me * count, count).ToArray() : buffer);
                    }
                }
            }
            var values = world.Gather(me * 10, 0);
            if (me == 0)
                Assert.Equal(Enumerable.Range(0, p).Select(i => i * 10), values!);
            else
                Assert.Null(values);
            Assert.Equal(me * 3, world.Scatter(me == p - 1 ? Enumerable.Range(0, p).Select(i => i * 3).ToArray() : [], p - 1));
        }, Options);
    }

    [Theory]
    [MemberData(nameof(Ranks))]
    public async Task GathervScatterv_IrregularBlocks(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            int p = world.Size, me = world.Rank;
            foreach (int scale in new[] { 1, 2000 })
            {
                var counts = Enumerable.Range(0, p).Select(i => (i * 3 + 1) % 4 * scale).ToArray();
                // reversed order with gaps
                var displs = new int[p];
                int next = 3;
                for (int i = p - 1; i >= 0; i--)
                {
                    displs[i] = next;
                    next += counts[i] + 2;
                }
                foreach (int root in Roots(ranks))
                {
                    var receive = new int[next];
                    world.Gatherv(Data(me, counts[me]), receive, counts, displs, root);
                    if (me == root)
                    {
                        for (int r = 0; r < p; r++)
                            Assert.Equal(Data(r, counts[r]), receive.AsSpan(displs[r], counts[r]).ToArray());
                    }
                    var packed = new int[counts.Sum()];
                    world.Gatherv(Data(me, counts[me]), packed, counts, root);
                    if (me == root)
                        Assert.Equal(Enumerable.Range(0, p).SelectMany(r => Data(r, counts[r])), packed);

                    var source = new int[next];
                    if (me == root)
                    {
                        for (int r = 0; r < p; r++)
                            Data(r, counts[r]).CopyTo(source, displs[r]);
                    }
                    var mine = new int[counts[me]];
                    world.Scatterv(source, counts, displs, mine, root);
                    Assert.Equal(Data(me, counts[me]), mine);
                }
            }
        }, Options);
    }

    [Theory]
    [MemberData(nameof(Ranks))]
    public async Task Allgather_EveryAlgorithmAndSize(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            int p = world.Size, me = world.Rank;
            foreach (var algorithm in All<AllgatherAlgorithm>())
            {
                Use(world, new CollectiveTuning { Allgather = algorithm });
                foreach (int count in Counts)
                {
                    var all = new int[p * count];
                    world.Allgather(Data(me, count), all);
                    Assert.Equal(Reference(p, count), all);

                    var inPlace = new int[p * count];
                    Data(me, count).CopyTo(inPlace, me * count);
                    world.AllgatherInPlace(inPlace);
                    Assert.Equal(Reference(p, count), inPlace);

                    var counts = Enumerable.Range(0, p).Select(i => (i + count) % 3 * count).ToArray();
                    var displs = new int[p];
                    int next = 1;
                    for (int i = p - 1; i >= 0; i--)
                    {
                        displs[i] = next;
                        next += counts[i] + 1;
                    }
                    var v = new int[next];
                    world.Allgatherv(Data(me, counts[me]), v, counts, displs);
                    for (int r = 0; r < p; r++)
                        Assert.Equal(Data(r, counts[r]), v.AsSpan(displs[r], counts[r]).ToArray());
                    var packed = new int[counts.Sum()];
                    world.Allgatherv(Data(me, counts[me]), packed, counts);
                    Assert.Equal(Enumerable.Range(0, p).SelectMany(r => Data(r, counts[r])), packed);
                }
            }
            Assert.Equal(Enumerable.Range(0, p).Select(r => r * 2L), world.Allgather(me * 2L));
        }, Options);
    }

    [Theory]
    [MemberData(nameof(Ranks))]
    public async Task Alltoall_EveryAlgorithmAndSize(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            int p = world.Size, me = world.Rank;
            foreach (var algorithm in All<AlltoallAlgorithm>())
            {
                Use(world, new CollectiveTuning { Alltoall = algorithm });
                foreach (int count in new[] { 0, 1, 37, 4200 })
                {
                    // block j of rank i: Data(i * p + j)
                    var send = Enumerable.Range(0, p).SelectMany(j => Data(me * p + j, count)).ToArray();
                    var expected = Enumerable.Range(0, p).SelectMany(i => Data(i * p + me, count)).ToArray();
                    var receive = new int[p * count];
                    world.Alltoall(send, receive);
                    Assert.Equal(expected, receive);
                    world.AlltoallInPlace(send);
                    Assert.Equal(expected, send);

                    // v: rank i sends (i + j) % 3 * count elements to j, blocks placed in reverse order
                    var sc = Enumerable.Range(0, p).Select(j => (me + j) % 3 * count).ToArray();
                    var rc = Enumerable.Range(0, p).Select(i => (i + me) % 3 * count).ToArray();
                    var sd = ReverseDisplacements(sc);
                    var rd = ReverseDisplacements(rc);
                    var vs = new int[sd[0] + sc[0] + 1];
                    for (int j = 0; j < p; j++)
                        Data(me * p + j, sc[j]).CopyTo(vs, sd[j]);
                    var vr = new int[rd[0] + rc[0] + 1];
                    world.Alltoallv(vs, sc, sd, vr, rc, rd);
                    for (int i = 0; i < p; i++)
                        Assert.Equal(Data(i * p + me, rc[i]), vr.AsSpan(rd[i], rc[i]).ToArray());

                    var wsc = sc.Select(c => c * 4).ToArray();
                    var wsd = sd.Select(d => d * 4).ToArray();
                    var wrc = rc.Select(c => c * 4).ToArray();
                    var wrd = rd.Select(d => d * 4).ToArray();
                    var wr = new int[vr.Length];
                    world.Alltoallw(System.Runtime.InteropServices.MemoryMarshal.AsBytes(vs.AsSpan()), wsc, wsd,
                        System.Runtime.InteropServices.MemoryMarshal.AsBytes(wr.AsSpan()), wrc, wrd);
                    Assert.Equal(vr, wr);
                }
            }
        }, Options);
    }

    [Theory]
    [MemberData(nameof(Ranks))]
    public async Task ReduceAllreduce_EveryAlgorithmSizeAndRoot(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            int p = world.Size, me = world.Rank;
            foreach (var algorithm in All<AllreduceAlgorithm>())
            {
                foreach (var reduceAlgorithm in All<ReduceAlgorithm>())
                {
                    Use(world, new CollectiveTuning { Allreduce = algorithm, Reduce = reduceAlgorithm });
                    foreach (int count in Counts)
                    {
                        var sum = SumReference(p, count);
                        var result = new int[count];
                        world.Allreduce(Data(me, count), result, Op.Sum);
                        Assert.Equal(sum, result);
                        var inPlace = Data(me, count);
                        world.Allreduce(inPlace, Op.Sum);
                        Assert.Equal(sum, inPlace);

                        var mats = MatData(me, count);
                        var product = new Mat2[count];
                        world.Allreduce<Mat2, MatMul>(mats, product);
                        Assert.Equal(MatReference(p, count), product);
                        world.Allreduce(mats, product, (a, b) => a * b, commutative: false);
                        Assert.Equal(MatReference(p, count), product);

                        foreach (int root in Roots(ranks))
                        {
                            var atRoot = new int[count];
                            world.Reduce(Data(me, count), atRoot, Op.Sum, root);
                            if (me == root)
                                Assert.Equal(sum, atRoot);
                            var buffer = Data(me, count);
                            world.ReduceInPlace(buffer, Op.Sum, root);
                            if (me == root)
                                Assert.Equal(sum, buffer);
                            var matRoot = new Mat2[count];
                            world.Reduce<Mat2, MatMul>(mats, matRoot, root);
                            if (me == root)
                                Assert.Equal(MatReference(p, count), matRoot);
                        }
                    }
                }
            }
            Assert.Equal(p - 1, world.Allreduce(me, Op.Max));
            Assert.Equal(-(p - 1) * 1.5, world.Allreduce<double, MaxAbs>(-me * 1.5) * -1);
            Assert.Equal(me == 0 ? p * (p - 1) / 2 : 0, world.Reduce(me, Op.Sum, 0));
        }, Options);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(8)]
    public async Task Allreduce_OneMebibyte_AllAlgorithms(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            foreach (var algorithm in new[] { AllreduceAlgorithm.Auto, AllreduceAlgorithm.RecursiveDoubling, AllreduceAlgorithm.Ring, AllreduceAlgorithm.Rabenseifner })
            {
                Use(world, new CollectiveTuning { Allreduce = algorithm });
                var data = Data(world.Rank, 256 * 1024);
                world.Allreduce(data, Op.Sum);
                Assert.Equal(SumReference(world.Size, 256 * 1024), data);
            }
        }, Options);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(7)]
    public async Task RingAlgorithms_SegmentedBlocks_MatchReference(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            int p = world.Size, me = world.Rank;
            // 100-byte segments: every ring step of these sizes goes in several segments, the last one short.
            foreach (long segment in new long[] { 100, 4096 })
            {
                Use(world, new CollectiveTuning
                {
                    Allreduce = AllreduceAlgorithm.Ring,
                    ReduceScatter = ReduceScatterAlgorithm.Ring,
                    Allgather = AllgatherAlgorithm.Ring,
                    Broadcast = BroadcastAlgorithm.ScatterRingAllgather,
                    RingSegmentBytes = segment,
                });
                foreach (int count in new[] { 37, 5000, 12345 })
                {
                    var data = Data(me, count);
                    world.Allreduce(data, Op.Sum);
                    Assert.Equal(SumReference(p, count), data);
                    world.Environment.CollectiveTuning = world.Environment.CollectiveTuning with { Allreduce = AllreduceAlgorithm.Rabenseifner };
                    data = Data(me, count);
                    world.Allreduce(data, Op.Sum);
                    Assert.Equal(SumReference(p, count), data);
                    world.Environment.CollectiveTuning = world.Environment.CollectiveTuning with { Allreduce = AllreduceAlgorithm.Ring };

                    var counts = Enumerable.Range(0, p).Select(i => count / p + (i < count % p ? 1 : 0)).ToArray();
                    var mine = new int[counts[me]];
                    world.ReduceScatter(Data(me, count), mine, counts, Op.Sum);
                    Assert.Equal(SumReference(p, count).AsSpan(counts.Take(me).Sum(), counts[me]).ToArray(), mine);

                    var all = new int[count * p];
                    world.Allgather(Data(me, count), all);
                    for (int r = 0; r < p; r++)
                        Assert.Equal(Data(r, count), all.AsSpan(r * count, count).ToArray());

                    var broadcast = me == p - 1 ? Data(me, count) : new int[count];
                    world.Broadcast<int>(broadcast, p - 1);
                    Assert.Equal(Data(p - 1, count), broadcast);
                }
            }
        }, Options);
    }

    [Theory]
    [MemberData(nameof(Ranks))]
    public async Task ReduceScatter_EveryAlgorithm(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            int p = world.Size, me = world.Rank;
            foreach (var algorithm in All<ReduceScatterAlgorithm>())
            {
                Use(world, new CollectiveTuning { ReduceScatter = algorithm });
                foreach (int count in Counts)
                {
                    var counts = Enumerable.Range(0, p).Select(i => (i * 2 + 1) % 3 * count).ToArray();
                    int total = counts.Sum();
                    int offset = counts.Take(me).Sum();
                    var sum = SumReference(p, total);
                    var mine = new int[counts[me]];
                    world.ReduceScatter(Data(me, total), mine, counts, Op.Sum);
                    Assert.Equal(sum.AsSpan(offset, counts[me]).ToArray(), mine);
                    var inPlace = Data(me, total);
                    world.ReduceScatterInPlace(inPlace, counts, Op.Sum);
                    Assert.Equal(sum.AsSpan(offset, counts[me]).ToArray(), inPlace.AsSpan(0, counts[me]).ToArray());

                    var mats = MatData(me, total);
                    var matMine = new Mat2[counts[me]];
                    world.ReduceScatter<Mat2, MatMul>(mats, matMine, counts);
                    Assert.Equal(MatReference(p, total).AsSpan(offset, counts[me]).ToArray(), matMine);

                    var block = new int[count];
                    world.ReduceScatterBlock(Data(me, p * count), block, Op.Sum);
                    Assert.Equal(SumReference(p, p * count).AsSpan(me * count, count).ToArray(), block);
                    var blockInPlace = Data(me, p * count);
                    world.ReduceScatterBlockInPlace(blockInPlace, Op.Sum);
                    Assert.Equal(block, blockInPlace.AsSpan(0, count).ToArray());
                }
            }
        }, Options);
    }

    [Theory]
    [MemberData(nameof(Ranks))]
    public async Task Scan_EveryAlgorithm_InclusiveAndExclusive(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            int p = world.Size, me = world.Rank;
            foreach (var algorithm in All<ScanAlgorithm>())
            {
                Use(world, new CollectiveTuning { Scan = algorithm });
                foreach (int count in Counts)
                {
                    var inclusive = SumReference(me + 1, count);
                    var exclusive = SumReference(me, count);
                    var result = new int[count];
                    world.Scan(Data(me, count), result, Op.Sum);
                    Assert.Equal(inclusive, result);
                    var inPlace = Data(me, count);
                    world.Scan(inPlace, Op.Sum);
                    Assert.Equal(inclusive, inPlace);
                    var ex = new int[count];
                    world.ExclusiveScan(Data(me, count), ex, Op.Sum);
                    if (me > 0)
                        Assert.Equal(exclusive, ex);
                    var exInPlace = Data(me, count);
                    world.ExclusiveScan(exInPlace, Op.Sum);
                    if (me > 0)
                        Assert.Equal(exclusive, exInPlace);

                    var mats = MatData(me, count);
                    var matScan = new Mat2[count];
                    world.Scan<Mat2, MatMul>(mats, matScan);
                    Assert.Equal(MatReference(me + 1, count), matScan);
                    var matEx = new Mat2[count];
                    world.ExclusiveScan(mats, matEx, (a, b) => a * b, commutative: false);
                    if (me > 0)
                        Assert.Equal(MatReference(me, count), matEx);
                }
            }
            Assert.Equal(me * (me + 1) / 2, world.Scan(me, Op.Sum));
            Assert.Equal(me * (me - 1) / 2, world.ExclusiveScan(me, Op.Sum));
        }, Options);
    }

    // ------------------------------------------------------------------ references

    internal static int[] Roots(int ranks) => ranks == 1 ? [0] : ranks == 2 ? [0, 1] : [0, ranks - 1, ranks / 2];

    /// <summary>Rank r's Data(r) blocks back to back.</summary>
    internal static int[] Reference(int ranks, int count) => Enumerable.Range(0, ranks).SelectMany(r => Data(r, count)).ToArray();

    /// <summary>Element-wise sum of Data over ranks 0 … ranks−1.</summary>
    internal static int[] SumReference(int ranks, int count)
    {
        var s = new int[count];
        for (int r = 0; r < ranks; r++)
        {
            for (int i = 0; i < count; i++)
                s[i] = unchecked(s[i] + Val(r, i));
        }
        return s;
    }

    internal static Mat2[] MatData(int rank, int count) => Enumerable.Range(0, count).Select(i => Mat2.For(rank, i)).ToArray();

    /// <summary>Rank-ordered product of MatData over ranks 0 … ranks−1.</summary>
    internal static Mat2[] MatReference(int ranks, int count)
    {
        var m = MatData(0, count);
        for (int r = 1; r < ranks; r++)
        {
            for (int i = 0; i < count; i++)
                m[i] *= Mat2.For(r, i);
        }
        return m;
    }

    private static int[] ReverseDisplacements(int[] counts)
    {
        var d = new int[counts.Length];
        int next = 1;
        for (int i = counts.Length - 1; i >= 0; i--)
        {
            d[i] = next;
            next += counts[i] + 1;
        }
        return d;
    }
}
