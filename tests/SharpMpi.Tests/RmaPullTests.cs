namespace SharpMpi.Tests;

/// <summary>
/// Puts larger than one active message: by the pull path (the target copies straight from the origin's buffer)
/// when single copy is on, in eager-sized chunks when it is off; both must land the same bytes.
/// </summary>
public class RmaPullTests
{
    private const int Large = 100_000; // 800 KB of doubles: far above the 16 KiB eager limit

    private static MpiTestHostOptions Options(bool singleCopy) => new() { SingleCopy = singleCopy };

    private static double[] Ramp(int n, double scale)
    {
        var data = new double[n];
        for (int i = 0; i < n; i++)
            data[i] = i * scale;
        return data;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Put_LargeUnderLock_ArrivesWhole(bool singleCopy)
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            using var win = world.AllocateWindow<double>(Large + 3);
            if (world.Rank == 0)
            {
                var data = Ramp(Large, 0.25);
                using (win.Lock(1))
                    win.Put(data, 1, 3);
                // The source may be reused at once: overwrite it, then check the target kept the old values.
                Array.Fill(data, -1);
            }
            world.Barrier();
            if (world.Rank == 1)
            {
                Assert.Equal(0, win.Local[2]);
                Assert.Equal(0, win.Local[3]);
                Assert.Equal((Large - 1) * 0.25, win.Local[Large + 2]);
                Assert.Equal(Ramp(Large, 0.25), win.Local.Slice(3).ToArray());
            }
            world.Barrier();
        }, Options(singleCopy));
    }

    [Theory]
    [InlineData(3, true)]
    [InlineData(3, false)]
    public async Task Put_LargeFromEveryRankUnderFence_EachLandsInItsSlot(int ranks, bool singleCopy)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            const int Slot = 20_000;
            using var win = world.AllocateWindow<double>((long)Slot * world.Size);
            win.Fence();
            for (int target = 0; target < world.Size; target++)
                win.Put(Ramp(Slot, world.Rank + 1), target, (long)world.Rank * Slot);
            win.Fence();
            for (int origin = 0; origin < world.Size; origin++)
                Assert.Equal(Ramp(Slot, origin + 1), win.Local.Slice(origin * Slot, Slot).ToArray());
            win.Fence();
        }, Options(singleCopy));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task PutAsync_Large_CompletesAndLands(bool singleCopy)
    {
        await MpiTestHost.RunAsync(2, async world =>
        {
            using var win = world.AllocateWindow<double>(Large);
            if (world.Rank == 0)
            {
                var data = Ramp(Large, 2);
                var lockScope = win.Lock(1, LockType.Shared);
                var first = win.PutAsync(data.AsMemory(0, Large / 2), 1, 0);
                var second = win.PutAsync(data.AsMemory(Large / 2), 1, Large / 2);
                await first;
                await second;
                lockScope.Dispose();
            }
            world.Barrier();
            if (world.Rank == 1)
                Assert.Equal(Ramp(Large, 2), win.Local.ToArray());
            world.Barrier();
        }, Options(singleCopy));
    }

    [Fact]
    public async Task Put_LargeToUnattachedDynamicMemory_ThrowsRmaRange()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            using var win = world.CreateDynamicWindow<double>();
            var region = new double[10];
            long offset = win.Attach(region);
            long far = world.Allreduce(offset, Op.Max) + 1_000;
            if (world.Rank == 0)
            {
                // The pull path checks the target's regions before copying: the Put itself fails.
                var e = Assert.Throws<MpiException>(() =>
                {
                    using (win.Lock(1))
                        win.Put(new double[Large], 1, far);
                });
                Assert.Equal(ErrorClass.RmaRange, e.ErrorClass);
            }
            world.Barrier();
            win.Detach(offset);
        });
    }
}
