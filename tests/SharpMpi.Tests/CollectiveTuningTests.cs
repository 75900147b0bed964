using SharpMpi.Collectives;
using static SharpMpi.Tests.CollectiveTestSupport;

namespace SharpMpi.Tests;

/// <summary>Algorithm selection settings, argument checks, and allocation-free blocking collectives.</summary>
public class CollectiveTuningTests
{
    [Fact]
    public void FromEnvironment_ParsesNamesAndRejectsUnknownOnes()
    {
        var env = new Dictionary<string, string?>
        {
            ["SHARPMPI_COLL_ALLREDUCE"] = "ring",
            ["SHARPMPI_COLL_BCAST"] = "Scatter-Ring-Allgather",
            ["SHARPMPI_COLL_ALLTOALL"] = " bruck ",
            ["SHARPMPI_COLL_SCAN"] = "auto",
        };
        var t = CollectiveTuning.FromEnvironment(v => env.GetValueOrDefault(v));
        Assert.Equal(AllreduceAlgorithm.Ring, t.Allreduce);
        Assert.Equal(BroadcastAlgorithm.ScatterRingAllgather, t.Broadcast);
        Assert.Equal(AlltoallAlgorithm.Bruck, t.Alltoall);
        Assert.Equal(ScanAlgorithm.Auto, t.Scan);
        Assert.Equal(GatherAlgorithm.Auto, t.Gather);
        Assert.Equal(CollectiveTuning.Default.RingSegmentBytes, t.RingSegmentBytes);

        env["SHARPMPI_COLL_SEGMENT"] = "16K";
        Assert.Equal(16 * 1024, CollectiveTuning.FromEnvironment(v => env.GetValueOrDefault(v)).RingSegmentBytes);
        env["SHARPMPI_COLL_SEGMENT"] = "lots";
        Assert.Equal("SHARPMPI_COLL_SEGMENT", Assert.Throws<ArgumentException>(() => CollectiveTuning.FromEnvironment(v => env.GetValueOrDefault(v))).ParamName);
        env.Remove("SHARPMPI_COLL_SEGMENT");

        Assert.True(t.SharedMemoryCollectives);
        env["SHARPMPI_COLL_SHM"] = "off";
        env["SHARPMPI_COLL_SHM_PULL"] = "1M";
        var shm = CollectiveTuning.FromEnvironment(v => env.GetValueOrDefault(v));
        Assert.False(shm.SharedMemoryCollectives);
        Assert.Equal(1 << 20, shm.SharedMemoryPullBytes);
        Assert.Equal(1 << 20, shm.SharedMemoryPullBytesTwoRanks);
        env["SHARPMPI_COLL_SHM"] = "maybe";
        Assert.Equal("SHARPMPI_COLL_SHM", Assert.Throws<ArgumentException>(() => CollectiveTuning.FromEnvironment(v => env.GetValueOrDefault(v))).ParamName);
        env.Remove("SHARPMPI_COLL_SHM");
        env.Remove("SHARPMPI_COLL_SHM_PULL");

        env["SHARPMPI_COLL_ALLREDUCE"] = "butterfly";
        var e = Assert.Throws<ArgumentException>(() => CollectiveTuning.FromEnvironment(v => env.GetValueOrDefault(v)));
        Assert.Equal("SHARPMPI_COLL_ALLREDUCE", e.ParamName);
        Assert.Contains("recursive_doubling", e.Message);
        Assert.Contains("butterfly", e.Message);
    }

    [Fact]
    public async Task ArgumentErrors_NameTheParameter()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            var one = new int[1];
            Assert.Equal("root", Assert.Throws<ArgumentOutOfRangeException>(() => world.Broadcast(one, 2)).ParamName);
            Assert.Equal("root", Assert.Throws<ArgumentOutOfRangeException>(() => world.Reduce(one, one, Op.Sum, -1)).ParamName);
            Assert.Equal("root", Assert.Throws<ArgumentOutOfRangeException>(() => world.GatherObject("x", 5)).ParamName);
            Assert.Equal("op", Assert.Throws<ArgumentNullException>(() => world.Allreduce(one, one, (Func<int, int, int>)null!)).ParamName);
            Assert.Equal("receive", Assert.Throws<ArgumentException>(() => world.Allreduce(new int[3], new int[2], Op.Sum)).ParamName);
            Assert.Equal("receive", Assert.Throws<ArgumentException>(() => world.Allgather(new int[3], new int[5])).ParamName);
            Assert.Equal("send", Assert.Throws<ArgumentException>(() => world.Alltoall(new int[3], new int[3])).ParamName);
            Assert.Equal("receive", Assert.Throws<ArgumentException>(() => world.Gather(new int[3], new int[5], world.Rank)).ParamName);
            Assert.Equal("counts", Assert.Throws<ArgumentException>(() => world.Allgatherv(one, new int[4], [1], [0])).ParamName);
            Assert.Equal("counts", Assert.Throws<ArgumentOutOfRangeException>(() => world.Allgatherv(one, new int[4], [1, -1], [0, 1])).ParamName);
            Assert.Equal("receive", Assert.Throws<ArgumentException>(() => world.Allgatherv(one, new int[4], [1, 1], [0, 4])).ParamName);
            Assert.Equal("counts", Assert.Throws<ArgumentException>(() => world.ReduceScatter(new int[2], new int[1], [1, 1, 1], Op.Sum)).ParamName);
            Assert.Equal("receive", Assert.Throws<ArgumentException>(() => world.IAllreduce(new int[3], new int[2], Op.Sum)).ParamName);
            // the communicator is still usable: argument errors happen before anything is sent
            Assert.Equal(1, world.Allreduce(world.Rank, Op.Max));
        }, Options);
    }

    [Theory]
    [InlineData(4, 64)]
    [InlineData(3, 20_000)]
    public async Task BlockingCollectives_DoNotAllocateInSteadyState(int ranks, int count)
    {
#if DEBUG
        // Debug builds compile async state machines as classes (for the debugger), so the algorithms' state
        // machines are heap objects there; Release builds keep them on the stack.
        Assert.Skip("Allocation-free only in Release builds (dotnet run -c Release).");
#endif
        var allocated = await MpiTestHost.RunAsync(ranks, world =>
        {
            var send = new double[count];
            var receive = new double[count];
            var all = new double[count * ranks];
            void Round()
            {
                world.Allreduce(send, receive, Op.Sum);
                world.Allreduce<double, MaxAbs>(send, receive);
                world.Broadcast(receive, 0);
                world.Allgather(send, all);
                world.Reduce(send, receive, Op.Max, ranks - 1);
                world.Scan(send, receive, Op.Sum);
                world.Barrier();
            }
            for (int i = 0; i < 30; i++)
                Round();
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20; i++)
                Round();
            return Task.FromResult(GC.GetAllocatedBytesForCurrentThread() - before);
        }, Options);
        Assert.All(allocated, bytes => Assert.Equal(0, bytes));
    }

    [Fact]
    public async Task CollectiveTrace_EnterAndExit_DoNotAllocate()
    {
        // The deadlock detector is on in every launched job, so every blocking collective enters the trace;
        // unlike the algorithms (async state machines), this holds in Debug builds too.
        var allocated = await MpiTestHost.RunAsync(1, world =>
        {
            void Round()
            {
                SharpMpi.Diagnostics.CollectiveTrace.Enter(world, "AllreduceCore", 1, isAsync: false);
                SharpMpi.Diagnostics.CollectiveTrace.Enter(world, "GatherInPlace", 2, isAsync: false);
                SharpMpi.Diagnostics.CollectiveTrace.Exit();
                SharpMpi.Diagnostics.CollectiveTrace.Exit();
            }
            Round();
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 1000; i++)
                Round();
            long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.False(SharpMpi.Diagnostics.CollectiveTrace.TryCurrent(out _));
            return Task.FromResult(bytes);
        }, Options);
        Assert.Equal(0, allocated[0]);
    }
}
