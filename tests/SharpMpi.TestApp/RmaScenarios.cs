using SharpMpi;

/// <summary>
/// One-sided communication between processes: atomics on a shared window (interlocked on the mapped memory)
/// and large Puts (the pull path, or chunks when single copy is off).
/// </summary>
internal static class RmaScenarios
{
    public static void Run(Communicator world)
    {
        using var node = world.SplitShared();
        Counter(node);
        DoubleSum(node);
        OneWinner(node);
        LargePut(world);
        AllocatedCounter(world);
        FenceEpochs(world);
    }

    /// <summary>10 000 FetchAndOp(Sum) from all ranks on one long: exact total, every fetched value distinct.</summary>
    private static void Counter(Communicator node)
    {
        using var win = node.AllocateSharedWindow<long>(node.Rank == 0 ? 1 : 0);
        const int Total = 10_000;
        int mine = Total / node.Size + (node.Rank < Total % node.Size ? 1 : 0);
        var seen = new long[mine];
        using (win.LockAll())
        {
            for (int i = 0; i < mine; i++)
                seen[i] = win.FetchAndOp(1L, 0, 0, Op.Sum);
        }
        node.Barrier();
        var counts = new int[node.Size];
        for (int r = 0; r < counts.Length; r++)
            counts[r] = Total / node.Size + (r < Total % node.Size ? 1 : 0);
        var all = new long[Total];
        node.Gatherv<long>(seen, all, counts, 0);
        if (node.Rank == 0)
        {
            Check(win.Local[0] == Total, $"counter is {win.Local[0]}, expected {Total}");
            Array.Sort(all);
            for (int i = 0; i < all.Length; i++)
                Check(all[i] == i, $"fetched values are not 0..{Total - 1}: position {i} holds {all[i]}");
        }
    }

    /// <summary>Accumulate(Sum) of doubles from every rank into rank 0's part, and Max through the compare-exchange loop.</summary>
    private static void DoubleSum(Communicator node)
    {
        using var win = node.AllocateSharedWindow<double>(2);
        win.Fence();
        for (int i = 0; i < 1000; i++)
            win.Accumulate([0.5, node.Rank], 0, 0, Op.Sum);
        win.Fence();
        if (node.Rank == 0)
        {
            double expected = 0;
            for (int r = 0; r < node.Size; r++)
                expected += r * 1000.0;
            Check(win.Local[0] == 500.0 * node.Size, $"sum is {win.Local[0]}");
            Check(win.Local[1] == expected, $"second sum is {win.Local[1]}, expected {expected}");
        }
        win.Fence();
        win.Accumulate(node.Rank * 3.0, node.Size - 1, 0, Op.Max);
        win.Fence();
        if (node.Rank == node.Size - 1)
            Check(win.Local[0] == (node.Size - 1) * 3.0, $"max is {win.Local[0]}");
        win.Fence();
    }

    /// <summary>CompareAndSwap(0 → rank+1) from every rank: exactly one wins.</summary>
    private static void OneWinner(Communicator node)
    {
        using var win = node.AllocateSharedWindow<int>(1);
        win.Fence();
        int old = win.CompareAndSwap(0, node.Rank + 1, 0, 0);
        win.Fence();
        int winners = node.Allreduce(old == 0 ? 1 : 0, Op.Sum);
        Check(winners == 1, $"{winners} ranks won the compare-and-swap");
        if (node.Rank == 0)
            Check(win.GetSpan(0)[0] is > 0 && win.GetSpan(0)[0] <= node.Size, $"winner value {win.GetSpan(0)[0]}");
        win.Fence();
    }

    /// <summary>Rank 0 puts 1 MiB into every other rank's window under an exclusive lock (the pull path, or chunks).</summary>
    private static void LargePut(Communicator world)
    {
        const int N = 1 << 17; // doubles
        // CreateWindow: memory of the program's own, so Puts travel as messages (AllocateWindow on one node
        // would be shared memory, written directly).
        var memory = new double[N];
        using var win = world.CreateWindow<double>(memory);
        if (world.Rank == 0)
        {
            var data = new double[N];
            for (int i = 0; i < N; i++)
                data[i] = i + 0.5;
            for (int target = 1; target < world.Size; target++)
            {
                using (win.Lock(target))
                    win.Put(data, target, 0);
            }
        }
        world.Barrier();
        for (int i = 0; i < N; i++)
            Check(world.Rank == 0 ? win.Local[i] == 0 : win.Local[i] == i + 0.5, $"element {i} is {win.Local[i]}");
        world.Barrier();
    }

    /// <summary>AllocateWindow on one node is shared memory: an exclusive-lock protected read-modify-write from every rank.</summary>
    private static void AllocatedCounter(Communicator world)
    {
        using var win = world.AllocateWindow<long>(2);
        for (int i = 0; i < 300; i++)
        {
            using (win.Lock(0, LockType.Exclusive))
            {
                // Not atomic by itself: only the exclusive lock keeps the two counters equal.
                long a = win.Get(0, 0);
                win.Put(a + 1, 0, 0);
                win.Put(a + 1, 0, 1);
            }
        }
        world.Barrier();
        if (world.Rank == 0)
            Check(win.Local[0] == 300L * world.Size && win.Local[1] == 300L * world.Size, $"counters are {win.Local[0]}, {win.Local[1]}");
        world.Barrier();
    }

    /// <summary>
    /// AllocateWindow of bytes on one node: direct, fenced by the barrier in the shared memory (peers that went to
    /// sleep waiting are woken through their doorbells), and byte accumulates under the accumulate lock.
    /// </summary>
    private static void FenceEpochs(Communicator world)
    {
        using var win = world.AllocateWindow<byte>(2);
        int right = (world.Rank + 1) % world.Size, left = (world.Rank + world.Size - 1) % world.Size;
        win.Fence();
        for (int epoch = 1; epoch <= 2_000; epoch++)
        {
            win.Put((byte)(epoch + world.Rank), right, 0);
            win.Accumulate((byte)1, 0, 1, Op.Sum);
            if (epoch % 500 == 0)
                Thread.Sleep(world.Rank * 20); // the others wait long enough to sleep on their doorbells
            win.Fence();
            Check(win.Local[0] == (byte)(epoch + left), $"epoch {epoch}: byte {win.Local[0]}");
            win.Fence();
        }
        if (world.Rank == 0)
            Check(win.Local[1] == (byte)(2_000 * world.Size), $"byte sum {win.Local[1]}");
        win.Fence();
    }

    private static void Check(bool condition, string message)
    {
        if (!condition)
            throw new InvalidOperationException(message);
    }
}
