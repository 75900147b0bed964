namespace SharpMpi.Tests;

/// <summary>One-sided communication on in-process ranks: epochs, locks, atomics, errors, shared windows.</summary>
public class RmaTests
{
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public async Task Fence_PutGet_RingExchange(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            int me = world.Rank, p = world.Size;
            using var win = world.AllocateWindow<int>(p);
            win.Fence();
            win.Put(me * 10, (me + 1) % p, me);
            win.Fence();
            int left = (me + p - 1) % p;
            Assert.Equal(left * 10, win.Local[left]);
            win.Fence();
            var got = new int[p];
            win.Get(got, (me + 1) % p, 0);
            win.Fence();
            Assert.Equal(me * 10, got[me]);
        });
    }

    [Fact]
    public async Task LargePutAndGet_Chunked()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            const int N = 300_000;
            using var win = world.AllocateWindow<double>(N);
            win.Fence();
            if (world.Rank == 0)
            {
                var data = new double[N];
                for (int i = 0; i < N; i++)
                    data[i] = i * 0.5;
                win.Put(data, 1, 0);
            }
            win.Fence();
            if (world.Rank == 1)
                Assert.Equal(12345 * 0.5, win.Local[12345]);
            if (world.Rank == 0)
            {
                var back = new double[N - 7];
                win.Get(back, 1, 7);
                Assert.Equal((N - 1) * 0.5, back[^1]);
                Assert.Equal(7 * 0.5, back[0]);
            }
            win.Fence();
        });
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public async Task ExclusiveLock_GetPutIncrement_IsExact(int ranks)
    {
        const int Rounds = 50;
        await MpiTestHost.RunAsync(ranks, world =>
        {
            using var win = world.AllocateWindow<long>(1);
            for (int i = 0; i < Rounds; i++)
            {
                using (win.Lock(0, LockType.Exclusive))
                {
                    long v = win.Get(0, 0);
                    win.Put(v + 1, 0, 0);
                }
            }
            world.Barrier();
            if (world.Rank == 0)
            {
                using (win.Lock(0, LockType.Shared))
                    Assert.Equal(Rounds * world.Size, win.Get(0, 0));
            }
        });
    }

    [Fact]
    public async Task FetchAndOp_DistributedCounter_10000()
    {
        await MpiTestHost.RunAsync(4, world =>
        {
            using var win = world.AllocateWindow<long>(1);
            int mine = 10_000 / world.Size;
            var seen = new List<long>(mine);
            using (win.LockAll())
            {
                for (int i = 0; i < mine; i++)
                    seen.Add(win.FetchAndOp(1L, 0, 0, Op.Sum));
            }
            world.Barrier();
            var all = world.Gather(seen.Count, 0);
            var values = new long[10_000];
            world.Gather<long>(seen.ToArray(), values, 0);
            if (world.Rank == 0)
            {
                using (win.Lock(0, LockType.Shared))
                    Assert.Equal(10_000, win.Get(0, 0));
                // Every fetched value is distinct: each increment was atomic.
                Array.Sort(values);
                for (int i = 0; i < values.Length; i++)
                    Assert.Equal(i, values[i]);
            }
        });
    }

    [Fact]
    public async Task Accumulate_SumAndReplace_InOrder()
    {
        await MpiTestHost.RunAsync(3, world =>
        {
            using var win = world.AllocateWindow<int>(4);
            win.Fence();
            win.Accumulate([1, 2, 3, 4], 0, 0, Op.Sum);
            win.Fence();
            if (world.Rank == 0)
                Assert.Equal([3, 6, 9, 12], win.Local.ToArray());
            win.Fence();
            // Operations of one origin to one target are applied in order.
            if (world.Rank == 1)
            {
                win.Accumulate(100, 2, 0, Op.Replace);
                win.Accumulate(5, 2, 0, Op.Sum);
                win.Accumulate(3, 2, 0, Op.Max);
            }
            win.Fence();
            if (world.Rank == 2)
                Assert.Equal(105, win.Local[0]);
            win.Fence();
            var old = new int[2];
            if (world.Rank == 2)
            {
                using (win.Lock(0))
                    win.GetAccumulate([10, 10], old, 0, 2, Op.Sum);
                Assert.Equal([9, 12], old);
            }
            Assert.Throws<ArgumentException>(() => win.Accumulate(1, 0, 0, Op.MinLoc));
        });
    }

    [Fact]
    public async Task CompareAndSwap_OnlyOneWinner()
    {
        await MpiTestHost.RunAsync(4, world =>
        {
            using var win = world.AllocateWindow<int>(1);
            win.Fence();
            int old = win.CompareAndSwap(-0, world.Rank + 1, 0, 0);
            win.Fence();
            int winners = world.Allreduce(old == 0 ? 1 : 0, Op.Sum);
            Assert.Equal(1, winners);
            if (world.Rank == 0)
                Assert.InRange(win.Local[0], 1, 4);
        });
    }

    [Fact]
    public async Task WrongUse_Throws()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            using var win = world.AllocateWindow<int>(4);
            var e = Assert.Throws<MpiException>(() => win.Put(1, 1, 0));
            Assert.Equal(ErrorClass.RmaSync, e.ErrorClass);
            win.Fence();
            e = Assert.Throws<MpiException>(() => win.Put([1, 2], 1, 3));
            Assert.Equal(ErrorClass.RmaRange, e.ErrorClass);
            e = Assert.Throws<MpiException>(() => win.Get(1, -1));
            Assert.Equal(ErrorClass.RmaRange, e.ErrorClass);
            Assert.Throws<ArgumentOutOfRangeException>(() => win.Put(1, 2, 0));
            win.Fence();
            e = Assert.Throws<MpiException>(() => win.Unlock(1));
            Assert.Equal(ErrorClass.RmaSync, e.ErrorClass);
        });
    }

    [Fact]
    public async Task Pscw_PostStartCompleteWait()
    {
        await MpiTestHost.RunAsync(3, world =>
        {
            using var win = world.AllocateWindow<int>(3);
            var g = world.Group;
            for (int round = 1; round <= 3; round++)
            {
                if (world.Rank == 0)
                {
                    win.Post(g.Include(1, 2));
                    win.WaitForCompletion();
                    Assert.Equal([0, round * 1, round * 2], win.Local.ToArray());
                }
                else
                {
                    win.Start(g.Include(0));
                    win.Put(round * world.Rank, 0, world.Rank);
                    win.Complete();
                }
                world.Barrier();
            }
        });
    }

    [Fact]
    public async Task Async_GetAndPut()
    {
        await MpiTestHost.RunAsync(2, async world =>
        {
            using var win = world.AllocateWindow<int>(8);
            win.Fence();
            if (world.Rank == 0)
                await win.PutAsync(new[] { 1, 2, 3 }, 1, 2);
            win.Fence();
            if (world.Rank == 0)
            {
                var dst = new int[4];
                await win.GetAsync(dst, 1, 1);
                Assert.Equal([0, 1, 2, 3], dst);
            }
            win.Fence();
        });
    }

    [Fact]
    public async Task CreateWindow_And_DynamicWindow()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            var mem = new long[4];
            using (var win = world.CreateWindow<long>(mem))
            {
                win.Fence();
                win.Put((long)world.Rank + 7, 1 - world.Rank, 3);
                win.Fence();
            }
            Assert.Equal(1 - world.Rank + 7, mem[3]);

            using var dyn = world.CreateDynamicWindow<long>();
            var region = new long[5];
            long offset = dyn.Attach(region);
            var offsets = world.Allgather(offset);
            using (dyn.Lock(1 - world.Rank))
                dyn.Put(world.Rank + 100L, 1 - world.Rank, offsets[1 - world.Rank] + 2);
            world.Barrier();
            Assert.Equal(1 - world.Rank + 100L, region[2]);
            // Outside the attached region: reported at the end of the epoch.
            var e = Assert.Throws<MpiException>(() =>
            {
                using (dyn.Lock(1 - world.Rank))
                    dyn.Put(1L, 1 - world.Rank, 1000);
            });
            Assert.Equal(ErrorClass.RmaRange, e.ErrorClass);
            world.Barrier();
            dyn.Detach(offset);
        });
    }

    [Fact]
    public async Task PassiveTarget_ServedWhileTargetComputes()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            using var win = world.AllocateWindow<int>(1);
            if (world.Rank == 1)
            {
                // No MPI calls here: the progress thread serves rank 0's lock and put.
                var sw = System.Diagnostics.Stopwatch.StartNew();
                while (Volatile.Read(ref win.Local[0]) != 42 && sw.Elapsed < TimeSpan.FromSeconds(20))
                    Thread.Sleep(1);
                Assert.Equal(42, Volatile.Read(ref win.Local[0]));
            }
            else
            {
                using (win.Lock(1))
                    win.Put(42, 1, 0);
            }
            world.Barrier();
        });
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public async Task SharedWindow_VisibleAcrossRanks(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            using var node = world.SplitShared();
            using var sh = node.AllocateSharedWindow<float>(3);
            var mine = sh.GetSpan(node.Rank);
            for (int i = 0; i < 3; i++)
                mine[i] = node.Rank * 10 + i;
            sh.Fence();
            for (int r = 0; r < node.Size; r++)
            {
                var other = sh.GetSpan(r);
                Assert.Equal(r * 10 + 2, other[2]);
            }
            sh.Fence();
            // RMA calls work on shared windows too.
            sh.Accumulate(1f, 0, 0, Op.Sum);
            sh.Fence();
            Assert.Equal(node.Size, sh.GetSpan(0)[0]);
        });
    }
}
