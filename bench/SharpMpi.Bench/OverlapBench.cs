using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace SharpMpi.Bench;

/// <summary>
/// Compute/communication overlap of one large point-to-point message, in the manner of OSU's nonblocking
/// benchmarks (osu_iallreduce & co.): rank 0 <c>ISend</c>s, rank 1 <c>IReceive</c>s, both compute for about
/// as long as the transfer takes, then wait. Overlap = 100 × (1 − (overall − compute) / pure), clamped to
/// 0..100, where pure is post + wait without compute and overall is post + compute + wait.
/// </summary>
/// <remarks>
/// The compute is a fixed amount of work calibrated beforehand (not "spin until the clock says so", as OSU's
/// dummy compute does): a progress thread that steals the computing core makes the compute itself slower,
/// and that must show as lost overlap, not be hidden. bench/native/osu_p2p.c <c>overlap</c> is the same.
/// </remarks>
internal static class OverlapBench
{
    private const int Tag = 11;

    /// <summary>Sink that keeps the compute loop from being optimized away.</summary>
    private static double s_sink;

    public static void Run(Communicator world, OsuOptions o, BenchResults results)
    {
        if (world.Size < 2)
            throw new BenchUsageException($"overlap needs at least 2 ranks (got {world.Size})");
        int rank = world.Rank;
        if (rank == 0)
        {
            Console.WriteLine("# OSU-style MPI Overlap Test (SharpMPI): rank 0 ISend, rank 1 IReceive, compute ~ pure transfer time");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{"# Size",-10}{"Overall(us)",16}{"Compute(us)",16}{"Pure Comm.(us)",16}{"Overlap(%)",12}{"Sender(%)",12}{"Receiver(%)",12}"));
        }
        results.Unit = "%";
        var buffer = GC.AllocateArray<byte>((int)Math.Max(1, o.MaxSize), pinned: true);
        buffer.AsSpan().Fill((byte)(rank + 1));
        long workPerMicrosecond = Calibrate();
        var all = new double[world.Size * 4];
        foreach (long size in o.Sizes())
        {
            if (size == 0)
                continue;
            int iters = o.Iterations ?? 20, warmup = o.Warmup ?? 2;
            var memory = buffer.AsMemory(0, (int)size);

            // Pure: post and wait, nothing else (rank 0 sends, rank 1 receives; others idle).
            double pure = Measure(world, memory, iters, warmup, work: 0);
            // Every rank computes for the job's mean pure time, so both sides compute the same amount.
            double target = world.Allreduce(rank < 2 ? pure : 0.0, Op.Sum) / 2;
            long work = (long)(target * 1e6 * workPerMicrosecond);
            double compute = MeasureCompute(world, work, iters);
            double overall = Measure(world, memory, iters, warmup, work);

            double mine = Overlap(overall, compute, pure);
            world.Allgather([overall, compute, pure, mine], all);
            if (rank == 0)
            {
                double avgOverall = (all[0] + all[4]) / 2, avgCompute = (all[1] + all[5]) / 2, avgPure = (all[2] + all[6]) / 2;
                double overlap = Overlap(avgOverall, avgCompute, avgPure);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{size,-10}{avgOverall * 1e6,16:F2}{avgCompute * 1e6,16:F2}{avgPure * 1e6,16:F2}{overlap,12:F2}{all[3],12:F2}{all[7],12:F2}"));
                results.Add(new OsuRow(size, overlap));
            }
        }
    }

    private static double Overlap(double overall, double compute, double pure) =>
        pure <= 0 ? 0 : Math.Clamp(100 * (1 - (overall - compute) / pure), 0, 100);

    /// <summary>Mean seconds per iteration of post + <paramref name="work"/> + wait, at this rank.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double Measure(Communicator world, Memory<byte> memory, int iters, int warmup, long work)
    {
        double total = 0;
        for (int i = 0; i < iters + warmup; i++)
        {
            world.Barrier();
            long t0 = Stopwatch.GetTimestamp();
            Request r = world.Rank switch
            {
                0 => world.ISend((ReadOnlyMemory<byte>)memory, 1, Tag),
                1 => world.IReceive(memory, 0, Tag),
                _ => default,
            };
            if (work > 0)
                Compute(work);
            if (world.Rank < 2)
                r.Wait();
            if (i >= warmup)
                total += Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        return total / iters;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double MeasureCompute(Communicator world, long work, int iters)
    {
        double total = 0;
        for (int i = 0; i < iters; i++)
        {
            world.Barrier();
            long t0 = Stopwatch.GetTimestamp();
            Compute(work);
            total += Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        return total / iters;
    }

    /// <summary>Work units per microsecond on this core (best of a few 20 ms runs, after a JIT warm-up).</summary>
    private static long Calibrate()
    {
        const long probe = 1 << 20;
        Compute(probe);
        double best = double.MaxValue;
        for (int i = 0; i < 5; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Compute(probe * 8);
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        return Math.Max(1, (long)(probe * 8 / (best * 1e6)));
    }

    /// <summary>A dependent floating-point chain: pure CPU, no memory traffic, not vectorizable.</summary>
    private static void Compute(long work)
    {
        double x = 1.0;
        for (long i = 0; i < work; i++)
            x = x * 1.0000001 + 1e-9;
        s_sink += x;
    }
}
