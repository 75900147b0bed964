using SharpMpi.Collectives;
using static SharpMpi.Tests.CollectiveTestSupport;

namespace SharpMpi.Tests;

/// <summary>
/// The shared-memory collectives (<see cref="SharedMemoryCollectives"/>) with in-process ranks: set-up by the
/// default threshold, reuse of the per-parity lines under ranks that run ahead, interleaving with message-based and
/// nonblocking collectives, and mismatch reports. (Between processes: LaunchedJobTests, "shm-collectives".)
/// </summary>
public class SharedMemoryCollectivesTests
{
    /// <summary>
    /// The suite also runs with every rank's peers over TCP (SHARPMPI_TRANSPORT=tcp): ranks that do not share
    /// memory keep to the message algorithms, which the other tests check give the same results.
    /// </summary>
    private static bool PeersShareMemory => !Bootstrap.TransportChoice.ForceTcp(Environment.GetEnvironmentVariable(Bootstrap.TransportChoice.Variable));

    private static readonly CollectiveTuning Forced = new()
    {
        Barrier = BarrierAlgorithm.SharedMemory,
        Broadcast = BroadcastAlgorithm.SharedMemory,
        Reduce = ReduceAlgorithm.SharedMemory,
        Allreduce = AllreduceAlgorithm.SharedMemory,
    };

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public async Task DefaultTuning_SwitchesAfterThreshold_ResultsStayExact(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            var tuning = world.Environment.CollectiveTuning;
            Assert.True(tuning.SharedMemoryCollectives);
            for (int call = 0; call < 3 * tuning.SharedMemoryAfterCalls; call++)
            {
                bool before = world.SharedCollectives is { IsSetUp: true };
                Assert.Equal(ranks * (ranks - 1) / 2 + call * ranks, world.Allreduce(world.Rank + call, Op.Sum));
                // Every rank switches at the same call.
                bool after = world.SharedCollectives is { IsSetUp: true };
                Assert.Equal(after ? ranks : 0, world.Allreduce(after ? 1 : 0, Op.Sum));
                Assert.True(!before || after);
            }
            Assert.Equal(PeersShareMemory, world.SharedCollectives is { IsSetUp: true });
        }, Options);
    }

    [Fact]
    public async Task SwitchedOff_StaysOnMessages()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            Use(world, new CollectiveTuning { SharedMemoryCollectives = false });
            for (int i = 0; i < 20; i++)
                world.Barrier();
            Assert.False(world.SharedCollectives is { IsSetUp: true });
        }, Options);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public async Task RootRunsAhead_ReusedLinesNeverOverwriteUnreadData(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            Use(world, Forced);
            var rng = new Random(world.Rank);
            foreach (int count in new[] { 1, 14, 1000 }) // in the line, at its limit (56 B), in a slot
            {
                for (int i = 0; i < 300; i++)
                {
                    if (world.Rank != 0 && rng.Next(16) == 0)
                        Thread.Sleep(1); // a slow reader while rank 0 broadcasts on
                    var buf = world.Rank == 0 ? Data(i, count) : new int[count];
                    world.Broadcast<int>(buf, 0);
                    Assert.Equal(Data(i, count), buf);
                    if (i % 7 == 0)
                    {
                        var sum = new int[count];
                        world.Reduce<int>(buf, sum, Op.Sum, i % ranks);
                        if (world.Rank == i % ranks)
                            Assert.Equal(Data(i, count).Select(v => unchecked(v * ranks)), sum);
                    }
                }
            }
        }, Options);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task PulledReductions_RankOrderInPlaceAndToEveryRoot(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            Use(world, Forced with { SharedMemoryPullBytes = 8 * 1024, SharedMemoryPullBytesTwoRanks = 8 * 1024 });
            foreach (int count in new[] { 2500, 7001 }) // 3 of 4 parts uneven, and more than one pulled chunk
            {
                var mats = new Mat2[count];
                for (int i = 0; i < count; i++)
                    mats[i] = Mat2.For(world.Rank, i);
                var product = new Mat2[count];
                world.Allreduce<Mat2>(mats, product, (a, b) => a * b, commutative: false);
                for (int i = 0; i < count; i++)
                {
                    var expected = Mat2.For(0, i);
                    for (int r = 1; r < ranks; r++)
                        expected *= Mat2.For(r, i);
                    Assert.Equal(expected, product[i]);
                }

                var inPlace = Data(world.Rank, count);
                world.Allreduce<int>(inPlace, Op.Sum);
                for (int i = 0; i < count; i += 97)
                    Assert.Equal(Enumerable.Range(0, ranks).Sum(r => Val(r, i)), inPlace[i]);

                for (int root = 0; root < ranks; root++)
                {
                    var max = new int[world.Rank == root ? count : 0];
                    world.Reduce<int>(Data(world.Rank, count), max, Op.Max, root);
                    if (world.Rank == root)
                        Assert.Equal(Data(ranks - 1, count), max);
                }
            }
        }, Options);
    }

    [Fact]
    public async Task InterleavedWithMessageAndNonblockingCollectives()
    {
        await MpiTestHost.RunAsync(3, world =>
        {
            Use(world, Forced);
            for (int i = 0; i < 50; i++)
            {
                var pending = world.IAllreduce(new[] { i }, new int[1], Op.Sum);
                Assert.Equal(3 * i + 3, world.Allreduce(i + 1, Op.Sum));
                var big = new int[5000]; // beyond the slots: messages
                world.Allreduce<int>(Enumerable.Repeat(1, 5000).ToArray(), big, Op.Sum);
                Assert.All(big, v => Assert.Equal(3, v));
                world.Barrier();
                pending.Wait();
            }
        }, Options);
    }

    [Fact]
    public async Task MismatchedCollectives_AreReportedNotSilentlyMixed()
    {
        // Over messages the same mistake is a deadlock, which the launcher's detector reports (DeadlockDetectorTests).
        Assert.SkipUnless(PeersShareMemory, "Ranks whose peers are over TCP use no shared memory.");
        await MpiTestHost.RunAsync(2, world =>
        {
            Use(world, Forced);
            world.Barrier();
            var e = Assert.Throws<MpiException>(() =>
            {
                if (world.Rank == 0)
                    world.Barrier();
                else
                    world.Allreduce(1, Op.Sum);
            });
            Assert.Contains("mismatch", e.Message, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("Barrier", e.Message);
            Assert.Contains("Allreduce of 4 B", e.Message);
            world.Barrier(); // both counted the failed call: still in step
        }, Options);
    }

    [Fact]
    public async Task SplitCommunicators_EachGetTheirOwnMemory()
    {
        await MpiTestHost.RunAsync(4, world =>
        {
            Use(world, Forced);
            using var half = world.Split(world.Rank / 2, world.Rank)!;
            for (int i = 0; i < 20; i++)
            {
                Assert.Equal(6 + 4 * i, world.Allreduce(world.Rank + i, Op.Sum));
                int first = world.Rank / 2 * 2;
                Assert.Equal(2 * first + 1 + 2 * i, half.Allreduce(world.Rank + i, Op.Sum));
            }
        }, Options);
    }
}
