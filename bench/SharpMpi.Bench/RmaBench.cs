using System.Runtime.CompilerServices;

namespace SharpMpi.Bench;

/// <summary>
/// One-sided benchmarks in OSU's format (osu_put_latency, osu_put_bw): rank 0 puts into rank 1's window,
/// synchronized by <c>-s lock</c> (an exclusive Lock/Unlock around each iteration, the default),
/// <c>-s fence</c> (Fence on both ranks after each iteration) or <c>-s flush</c> (one LockAll per size, Flush
/// after each iteration), on a window from <c>-w allocate</c> (AllocateWindow, the default), <c>-w shared</c>
/// (AllocateSharedWindow) or <c>-w create</c> (CreateWindow on an array: data and locks travel as messages). An iteration is one Put (put-latency) or -W Puts to consecutive offsets (put-bw).
/// bench/native/osu_rma.c runs the same with MPI_Put.
/// </summary>
internal static class RmaBench
{
    public static void Put(Communicator world, OsuOptions o, string sync, string windowKind, BenchResults results)
    {
        if (world.Size < 2)
            throw new BenchUsageException($"{o.Verb} needs at least 2 ranks (got {world.Size})");
        bool bandwidth = o.Verb == "put-bw";
        int puts = bandwidth ? o.Window : 1;
        long minSize = Math.Max(1, o.MinSize), maxSize = o.MaxSize;
        long windowBytes = checked(maxSize * puts);
        var source = GC.AllocateArray<byte>(checked((int)windowBytes), pinned: true);
        source.AsSpan().Fill(1);
        var memory = windowKind == "create" ? GC.AllocateArray<byte>(checked((int)windowBytes), pinned: true) : null;
        using Window<byte> win = windowKind switch
        {
            "shared" => world.AllocateSharedWindow<byte>(windowBytes),
            "create" => world.CreateWindow<byte>(memory),
            _ => world.AllocateWindow<byte>(windowBytes),
        };
        if (world.Rank == 0)
        {
            Console.WriteLine($"# OSU MPI_Put {(bandwidth ? "Bandwidth" : "Latency")} Test (SharpMPI)");
            Console.WriteLine($"# Window: {windowKind}, synchronization: {sync}.");
            Console.WriteLine(PointToPointBench.Header(bandwidth ? "Bandwidth (MB/s)" : "Latency (us)"));
        }
        bool fence = sync == "fence", flush = sync == "flush";
        JitWarmup.Run(world, () => TimedPuts(world, win, source, minSize, puts, iters: 20, warmup: 0, fence, flush), batch: 10);
        for (long size = minSize; size <= maxSize; size *= 2)
        {
            var (iters, warmup) = o.IterationsFor(size, bandwidth);
            double seconds = TimedPuts(world, win, source, size, puts, iters, warmup, fence, flush);
            world.Barrier();
            if (world.Rank == 1 && win.Local[(int)size - 1] != 1)
                throw new InvalidOperationException($"{o.Verb}: the Put of {size} bytes did not arrive");
            if (world.Rank == 0)
            {
                double value = bandwidth ? size * puts * (double)iters / seconds / 1e6 : seconds * 1e6 / iters;
                Console.WriteLine(PointToPointBench.Row(size, value));
                results.Add(new OsuRow(size, value));
            }
        }
    }

    /// <summary>
    /// One measurement: <paramref name="warmup"/> + <paramref name="iters"/> epochs of puts from rank 0 to rank 1
    /// under the synchronization asked for; the seconds the timed epochs took at rank 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double TimedPuts(Communicator world, Window<byte> win, byte[] source, long size, int puts, int iters, int warmup, bool fence, bool flush)
    {
        world.Barrier();
        if (fence)
            win.Fence();
        if (flush && world.Rank == 0)
            win.LockAll();
        double t0 = 0;
        for (int i = 0; i < iters + warmup; i++)
        {
            if (i == warmup)
                t0 = MpiEnvironment.WTime();
            if (fence)
            {
                if (world.Rank == 0)
                    PutWindow(win, source, size, puts);
                win.Fence();
            }
            else if (world.Rank == 0)
            {
                if (!flush)
                    win.Lock(1, LockType.Exclusive);
                PutWindow(win, source, size, puts);
                if (flush)
                    win.Flush(1);
                else
                    win.Unlock(1);
            }
        }
        double seconds = MpiEnvironment.WTime() - t0;
        if (flush && world.Rank == 0)
            win.UnlockAll();
        return seconds;
    }

    private static void PutWindow(Window<byte> win, byte[] source, long size, int puts)
    {
        for (int j = 0; j < puts; j++)
            win.Put(source.AsSpan((int)(j * size), (int)size), 1, j * size);
    }
}
