using SharpMpi.Collectives;
using static SharpMpi.Tests.CollectiveTestSupport;

namespace SharpMpi.Tests;

/// <summary>Nonblocking collectives: Task and Request forms, several outstanding on one communicator.</summary>
public class CollectiveAsyncTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(7)]
    public async Task ManyOutstandingIAllreduce_EachGetsItsOwnResult(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            int p = world.Size, me = world.Rank;
            int[] counts = [1, 37, 0, 5000, 3, 60_000, 2, 1000];
            foreach (var algorithm in new[] { AllreduceAlgorithm.Auto, AllreduceAlgorithm.RecursiveDoubling, AllreduceAlgorithm.Ring, AllreduceAlgorithm.ReduceBroadcast, AllreduceAlgorithm.Rabenseifner })
            {
                Use(world, new CollectiveTuning { Allreduce = algorithm });
                var sends = counts.Select((c, k) => Data(me + k, c)).ToArray();
                var results = counts.Select(c => new int[c]).ToArray();
                var requests = new Request[counts.Length];
                for (int k = 0; k < counts.Length; k++)
                    requests[k] = world.IAllreduce(sends[k], results[k], Op.Sum);
                // a blocking collective in between, while the others are in flight
                Assert.Equal(p * (p - 1) / 2, world.Allreduce(me, Op.Sum));
                Request.WaitAll(requests);
                for (int k = 0; k < counts.Length; k++)
                {
                    var expected = new int[counts[k]];
                    for (int r = 0; r < p; r++)
                    {
                        for (int i = 0; i < counts[k]; i++)
                            expected[i] = unchecked(expected[i] + Val(r + k, i));
                    }
                    Assert.Equal(expected, results[k]);
                }
            }
        }, Options);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(8)]
    public async Task AsyncForms_MatchBlockingResults(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, async world =>
        {
            int p = world.Size, me = world.Rank;
            const int n = 40;
            await world.BarrierAsync();
            await world.IBarrier();

            var b = me == 1 ? Data(1, 5000) : new int[5000];
            await world.BroadcastAsync(b, 1);
            Assert.Equal(Data(1, 5000), b);
            var b2 = me == 0 ? Data(0, n) : new int[n];
            world.IBroadcast(b2, 0).Wait();
            Assert.Equal(Data(0, n), b2);

            var gathered = me == 0 ? new int[p * n] : null;
            await world.GatherAsync(Data(me, n), gathered, 0);
            if (me == 0)
                Assert.Equal(CollectiveTests.Reference(p, n), gathered!);
            var mine = new int[n];
            await world.IScatter(me == p - 1 ? CollectiveTests.Reference(p, n) : null, mine, p - 1);
            Assert.Equal(Data(me, n), mine);

            var counts = Enumerable.Range(0, p).Select(i => i % 3).ToArray();
            var displs = Enumerable.Range(0, p).Select(i => 3 * i).ToArray();
            var gv = new int[3 * p];
            await world.GathervAsync(Data(me, counts[me]), gv, counts, displs, 0);
            if (me == 0)
            {
                for (int r = 0; r < p; r++)
                    Assert.Equal(Data(r, counts[r]), gv.AsSpan(displs[r], counts[r]).ToArray());
            }
            var sv = new int[counts[me]];
            await world.ScattervAsync(gv, counts, displs, sv, 0);
            Assert.Equal(Data(me, counts[me]), sv);

            var all = new int[p * n];
            await world.AllgatherAsync(Data(me, n), all);
            Assert.Equal(CollectiveTests.Reference(p, n), all);
            var allv = new int[3 * p];
            await world.IAllgatherv(Data(me, counts[me]), allv, counts, displs);
            for (int r = 0; r < p; r++)
                Assert.Equal(Data(r, counts[r]), allv.AsSpan(displs[r], counts[r]).ToArray());

            var send = Enumerable.Range(0, p).SelectMany(j => Data(me * p + j, 3)).ToArray();
            var received = new int[p * 3];
            await world.AlltoallAsync(send, received);
            Assert.Equal(Enumerable.Range(0, p).SelectMany(i => Data(i * p + me, 3)), received);
            var ones = Enumerable.Repeat(1, p).ToArray();
            var seq = Enumerable.Range(0, p).ToArray();
            var av = new int[p];
            await world.AlltoallvAsync(Enumerable.Range(0, p).Select(j => me * 100 + j).ToArray(), ones, seq, av, ones, seq);
            Assert.Equal(Enumerable.Range(0, p).Select(i => i * 100 + me), av);

            var sum = CollectiveTests.SumReference(p, n);
            var reduced = new int[n];
            await world.ReduceAsync(Data(me, n), reduced, Op.Sum, p / 2);
            if (me == p / 2)
                Assert.Equal(sum, reduced);
            var ar = new int[n];
            await world.AllreduceAsync(Data(me, n), ar, Op.Sum);
            Assert.Equal(sum, ar);
            var inPlace = Data(me, n);
            await world.IAllreduce(inPlace, Op.Sum);
            Assert.Equal(sum, inPlace);
            var mats = CollectiveTests.MatData(me, n);
            var prod = new Mat2[n];
            await world.AllreduceAsync<Mat2, MatMul>(mats, prod);
            Assert.Equal(CollectiveTests.MatReference(p, n), prod);
            var prod2 = new Mat2[n];
            await world.IAllreduce<Mat2>(mats, prod2, (x, y) => x * y, commutative: false);
            Assert.Equal(CollectiveTests.MatReference(p, n), prod2);

            var block = new int[n];
            await world.ReduceScatterBlockAsync(Data(me, p * n), block, Op.Sum);
            Assert.Equal(CollectiveTests.SumReference(p, p * n).AsSpan(me * n, n).ToArray(), block);
            var rs = new int[counts[me]];
            await world.IReduceScatter(Data(me, counts.Sum()), rs, counts, Op.Sum);
            Assert.Equal(CollectiveTests.SumReference(p, counts.Sum()).AsSpan(counts.Take(me).Sum(), counts[me]).ToArray(), rs);

            var scan = new int[n];
            await world.ScanAsync(Data(me, n), scan, Op.Sum);
            Assert.Equal(CollectiveTests.SumReference(me + 1, n), scan);
            var exscan = new int[n];
            await world.IExclusiveScan(Data(me, n), exscan, Op.Sum);
            if (me > 0)
                Assert.Equal(CollectiveTests.SumReference(me, n), exscan);
        }, Options);
    }

    [Fact]
    public async Task OutstandingCollectivesOfDifferentKinds_DoNotMix()
    {
        await MpiTestHost.RunAsync(4, world =>
        {
            int p = world.Size, me = world.Rank;
            var bcast = me == 2 ? Data(2, 9000) : new int[9000];
            var gathered = new int[p * 100];
            var sum = new int[100];
            var reqs = new[]
            {
                world.IBroadcast(bcast, 2),
                world.IAllgather(Data(me, 100), gathered),
                world.IAllreduce(Data(me, 100), sum, Op.Sum),
                world.IBarrier(),
            };
            Request.WaitAll(reqs);
            Assert.Equal(Data(2, 9000), bcast);
            Assert.Equal(CollectiveTests.Reference(p, 100), gathered);
            Assert.Equal(CollectiveTests.SumReference(p, 100), sum);
        }, Options);
    }
}
