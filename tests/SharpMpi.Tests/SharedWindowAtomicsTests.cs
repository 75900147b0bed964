namespace SharpMpi.Tests;

/// <summary>
/// Shared windows move data without messages: Put/Get are copies by the origin and accumulates on 4- and
/// 8-byte elements are interlocked updates of the target's memory. These check that results stay exact and
/// atomic under contention, for the single-instruction paths (Sum/Replace/NoOp on int, long, double) and the
/// compare-exchange loop (other operators, float), and elements of other sizes under the target's accumulate
/// lock; that the lock words in the shared memory, which replace lock messages on such windows, exclude and
/// admit as MPI's exclusive and shared locks do; and that the fence, a barrier in the shared memory, orders
/// every epoch's operations.
/// </summary>
public class SharedWindowAtomicsTests
{
    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public async Task FetchAndOp_LongCounterFromEveryRank_ExactAndDistinct(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            using var node = world.SplitShared();
            using var win = node.AllocateSharedWindow<long>(1);
            const int PerRank = 2_000;
            var seen = new long[PerRank];
            using (win.LockAll())
            {
                for (int i = 0; i < PerRank; i++)
                    seen[i] = win.FetchAndOp(1L, 0, 0, Op.Sum);
            }
            var all = new long[PerRank * node.Size];
            node.Allgather<long>(seen, all);
            Array.Sort(all);
            for (int i = 0; i < all.Length; i++)
                Assert.Equal(i, all[i]);
            node.Barrier();
            Assert.Equal(PerRank * node.Size, win.GetSpan(0)[0]);
            node.Barrier();
        });
    }

    [Fact]
    public async Task Accumulate_IntAndDoubleSumFromEveryRank_Exact()
    {
        await MpiTestHost.RunAsync(4, world =>
        {
            using var ints = world.AllocateSharedWindow<int>(3);
            using var doubles = world.AllocateSharedWindow<double>(2);
            ints.Fence();
            doubles.Fence();
            for (int i = 0; i < 500; i++)
            {
                ints.Accumulate([1, world.Rank, -2], 1, 0, Op.Sum);
                doubles.Accumulate([0.25, 1.5], 2, 0, Op.Sum);
            }
            ints.Fence();
            doubles.Fence();
            if (world.Rank == 1)
                Assert.Equal([2000, 500 * (0 + 1 + 2 + 3), -4000], ints.Local.ToArray());
            if (world.Rank == 2)
                Assert.Equal([500.0, 3000.0], doubles.Local.ToArray());
            ints.Fence();
            doubles.Fence();
        });
    }

    [Fact]
    public async Task GetAccumulate_ReplaceAndNoOp_ReturnOldValues()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            using var win = world.AllocateSharedWindow<double>(2);
            if (world.Rank == 0)
            {
                using (win.Lock(1))
                {
                    var old = new double[2];
                    win.GetAccumulate([7.5, -1], old, 1, 0, Op.Replace);
                    Assert.Equal([0.0, 0.0], old);
                    win.GetAccumulate([0.0, 0.0], old, 1, 0, Op.NoOp);
                    Assert.Equal([7.5, -1.0], old);
                    Assert.Equal(7.5, win.FetchAndOp(2.5, 1, 0, Op.Sum));
                    Assert.Equal(10.0, win.Get(1, 0));
                }
            }
            world.Barrier();
            if (world.Rank == 1)
                Assert.Equal([10.0, -1.0], win.Local.ToArray());
            world.Barrier();
        });
    }

    [Fact]
    public async Task Accumulate_OtherOperatorsAndFloat_UseTheCompareExchangeLoop()
    {
        await MpiTestHost.RunAsync(3, world =>
        {
            using var ints = world.AllocateSharedWindow<int>(2);
            using var floats = world.AllocateSharedWindow<float>(2);
            ints.Fence();
            floats.Fence();
            for (int i = 0; i < 200; i++)
            {
                ints.Accumulate([world.Rank * 100 + i, 1 << world.Rank], 0, 0, Op.Max);
                ints.Accumulate(0, 0, 1, Op.BitwiseOr);
                floats.Accumulate([1f, 2f], 0, 0, Op.Sum);
            }
            ints.Fence();
            floats.Fence();
            if (world.Rank == 0)
            {
                Assert.Equal(2 * 100 + 199, ints.Local[0]);
                Assert.Equal(4, ints.Local[1]); // Max over 1, 2 and 4
                Assert.Equal([600f, 1200f], floats.Local.ToArray());
            }
            ints.Fence();
            floats.Fence();
        });
    }

    [Theory]
    [InlineData(3)]
    public async Task CompareAndSwap_IntLongDouble_OneWinnerEach(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            using var ints = world.AllocateSharedWindow<int>(1);
            using var longs = world.AllocateSharedWindow<long>(1);
            using var doubles = world.AllocateSharedWindow<double>(1);
            ints.Fence();
            longs.Fence();
            doubles.Fence();
            int a = ints.CompareAndSwap(0, world.Rank + 1, 0, 0);
            long b = longs.CompareAndSwap(0L, world.Rank + 1L, 1, 0);
            double c = doubles.CompareAndSwap(0.0, world.Rank + 1.0, 2, 0);
            ints.Fence();
            longs.Fence();
            doubles.Fence();
            Assert.Equal(1, world.Allreduce(a == 0 ? 1 : 0, Op.Sum));
            Assert.Equal(1, world.Allreduce(b == 0 ? 1 : 0, Op.Sum));
            Assert.Equal(1, world.Allreduce(c == 0 ? 1 : 0, Op.Sum));
            // A failed swap returns the current value and changes nothing.
            Assert.Equal(ints.GetSpan(0)[0], ints.CompareAndSwap(-5, 99, 0, 0));
            ints.Fence();
            Assert.InRange(ints.GetSpan(0)[0], 1, ranks);
            longs.Fence();
            doubles.Fence();
        });
    }

    [Fact]
    public async Task PutGet_Direct_VisibleAfterUnlockAndPutAsyncCompletesAtOnce()
    {
        await MpiTestHost.RunAsync(2, async world =>
        {
            using var win = world.AllocateSharedWindow<double>(50_000);
            if (world.Rank == 0)
            {
                var data = new double[50_000];
                for (int i = 0; i < data.Length; i++)
                    data[i] = i * 3;
                using (win.Lock(1))
                {
                    win.Put(data.AsSpan(0, 10), 1, 0);
                    await win.PutAsync(data.AsMemory(10), 1, 10);
                    var back = new double[5];
                    win.Get(back, 1, 49_995);
                    Assert.Equal(data.AsSpan(49_995).ToArray(), back);
                }
            }
            world.Barrier();
            if (world.Rank == 1)
                Assert.Equal(149_997.0, win.Local[49_999]);
            world.Barrier();
        });
    }

    [Fact]
    public async Task Accumulate_SixteenByteElements_ReplaceUnderTheAccumulateLock()
    {
        await MpiTestHost.RunAsync(3, world =>
        {
            using var win = world.AllocateSharedWindow<decimal>(1);
            win.Fence();
            var old = new decimal[1];
            win.GetAccumulate([world.Rank + 1m], old, 0, 0, Op.Replace);
            win.Fence();
            if (world.Rank == 0)
                Assert.InRange(win.Local[0], 1m, 3m);
            win.Fence();
            Assert.Throws<MpiException>(() => win.Accumulate(1m, 0, 5, Op.Replace));
            win.Fence();
        });
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public async Task Lock_ExclusiveWordUnderContention_ProtectsReadModifyWrite(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            using var win = world.AllocateSharedWindow<long>(2);
            const int Rounds = 300;
            for (int i = 0; i < Rounds; i++)
            {
                using (win.Lock(0, LockType.Exclusive))
                {
                    // Get then Put is not atomic: only mutual exclusion keeps the two counters exact and equal.
                    long a = win.Get(0, 0);
                    Thread.Yield();
                    win.Put([a + 1, a + 1], 0, 0);
                }
            }
            world.Barrier();
            Assert.Equal([(long)Rounds * ranks, (long)Rounds * ranks], win.GetSpan(0).ToArray());
            world.Barrier();
        });
    }

    [Fact]
    public async Task Lock_SharedHoldersThenExclusive_WriterSeesEveryReaderDone()
    {
        await MpiTestHost.RunAsync(3, world =>
        {
            using var win = world.AllocateSharedWindow<int>(1);
            if (world.Rank != 0)
            {
                using (win.Lock(0, LockType.Shared))
                    win.Accumulate(1, 0, 0, Op.Sum);
            }
            world.Barrier();
            if (world.Rank == 0)
            {
                using (win.Lock(0, LockType.Exclusive))
                {
                    Assert.Equal(2, win.Get(0, 0));
                    win.Put(10, 0, 0);
                }
            }
            world.Barrier();
            using (win.LockAll())
            {
                Assert.Equal(10, win.Get(0, 0));
                win.FlushAll();
            }
            world.Barrier();
        });
    }

    [Fact]
    public async Task Lock_NotHeldOrTwice_ThrowsRmaSync()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            using var win = world.AllocateSharedWindow<long>(1);
            var e = Assert.Throws<MpiException>(() => win.Unlock(1));
            Assert.Equal(ErrorClass.RmaSync, e.ErrorClass);
            using (win.Lock(1, LockType.Shared))
            {
                e = Assert.Throws<MpiException>(() => win.Lock(1));
                Assert.Equal(ErrorClass.RmaSync, e.ErrorClass);
            }
            e = Assert.Throws<MpiException>(() => win.Put(1L, 1, 0));
            Assert.Equal(ErrorClass.RmaSync, e.ErrorClass);
            world.Barrier();
        });
    }

    [Fact]
    public async Task Unlock_ByteAccumulates_AppliedBeforeTheLockIsFree()
    {
        await MpiTestHost.RunAsync(3, world =>
        {
            // 1-byte elements: accumulates under the accumulate lock, the passive lock a word in the shared memory.
            using var win = world.AllocateSharedWindow<byte>(4);
            for (int i = 0; i < 20; i++)
            {
                using (win.Lock(0, LockType.Shared))
                    win.Accumulate([1, 2, 0, 0], 0, 0, Op.Sum);
            }
            using (win.Lock(0, LockType.Exclusive))
            {
                // Every rank's Unlock waited for its accumulates, so whoever locks next sees them all once
                // all ranks are done: count them through the lock itself.
                win.Accumulate([0, 0, 1, 0], 0, 0, Op.Sum);
            }
            world.Barrier();
            Assert.Equal(new byte[] { 60, 120, 3, 0 }, win.GetSpan(0).ToArray());
            world.Barrier();
        });
    }

    [Fact]
    public async Task Fence_ByteAccumulatesOnSomeRanks_CompleteAfterFence()
    {
        await MpiTestHost.RunAsync(3, world =>
        {
            using var win = world.AllocateSharedWindow<byte>(2);
            win.Fence();
            win.Put((byte)(world.Rank + 1), world.Rank, 1); // direct: every rank
            win.Fence();
            if (world.Rank == 2)
                win.Accumulate([5, 5], 0, 0, Op.Sum); // one rank only
            win.Fence();
            if (world.Rank == 0)
                Assert.Equal(new byte[] { 5, 6 }, win.Local.ToArray());
            win.Fence(); // no operation in this epoch
            Assert.Equal((byte)(world.Rank == 0 ? 6 : world.Rank + 1), win.Local[1]);
            win.Fence();
        });
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public async Task Accumulate_ShortAndComplexSumFromEveryRank_ExactUnderTheAccumulateLock(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            // 2- and 16-byte elements have no interlocked instruction: the target's accumulate lock keeps the
            // sums exact while every rank adds at once, without an epoch barrier in between.
            using var shorts = world.AllocateSharedWindow<short>(3);
            using var complex = world.AllocateSharedWindow<System.Numerics.Complex>(1);
            const int PerRank = 1_000;
            using (shorts.LockAll())
            using (complex.LockAll())
            {
                for (int i = 0; i < PerRank; i++)
                {
                    shorts.Accumulate([1, 2, -1], 0, 0, Op.Sum);
                    complex.Accumulate(new System.Numerics.Complex(0.5, -1), 0, 0, Op.Sum);
                }
            }
            world.Barrier();
            if (world.Rank == 0)
            {
                Assert.Equal(new short[] { (short)(PerRank * ranks), (short)(2 * PerRank * ranks), (short)(-PerRank * ranks) }, shorts.Local.ToArray());
                Assert.Equal(new System.Numerics.Complex(0.5 * PerRank * ranks, -PerRank * ranks), complex.Local[0]);
            }
            world.Barrier();
        });
    }

    [Fact]
    public async Task CompareAndSwap_SixteenByteElement_OneWinnerAndOldValues()
    {
        await MpiTestHost.RunAsync(4, world =>
        {
            using var win = world.AllocateSharedWindow<System.Numerics.Complex>(1);
            var mine = new System.Numerics.Complex(world.Rank + 1, 0);
            System.Numerics.Complex old;
            using (win.Lock(0, LockType.Shared))
                old = win.CompareAndSwap(System.Numerics.Complex.Zero, mine, 0, 0);
            var olds = world.Allgather(old);
            world.Barrier();
            var winner = win.GetSpan(0)[0];
            Assert.InRange(winner.Real, 1, world.Size);
            // Exactly one rank saw zero (it won); every other saw the winner's value.
            Assert.Single(olds, o => o == System.Numerics.Complex.Zero);
            Assert.Equal(world.Size - 1, Array.FindAll(olds, o => o == winner).Length);
            world.Barrier();
        });
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Fence_ManyEpochs_EachSeesTheEpochBeforeComplete(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            // The fence is a sense-reversing barrier in the shared memory: run it through many epochs (both
            // senses, again and again), each depending on the one before it.
            using var win = world.AllocateSharedWindow<int>(2);
            int right = (world.Rank + 1) % world.Size, left = (world.Rank + world.Size - 1) % world.Size;
            win.Fence();
            for (int epoch = 1; epoch <= 500; epoch++)
            {
                win.Put(epoch * 100 + world.Rank, right, epoch % 2);
                win.Fence();
                Assert.Equal(epoch * 100 + left, win.Local[epoch % 2]);
                // The left neighbour's slot of the previous epoch is not overwritten before every rank read it.
                Assert.Equal(epoch == 1 ? 0 : (epoch - 1) * 100 + left, win.Local[(epoch - 1) % 2]);
                win.Fence();
            }
        });
    }
}
