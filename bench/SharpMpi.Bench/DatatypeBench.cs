using System.Runtime.CompilerServices;

namespace SharpMpi.Bench;

/// <summary>
/// Derived datatypes: ping-pong of one column of an N x N row-major double matrix, sent and received with
/// <c>Datatype.Vector&lt;double&gt;(N, 1, N)</c> (bench/native/osu_ddt.c does the same with MPI_Type_vector).
/// OSU latency format; the size column is N (the column holds 8 N bytes).
/// </summary>
internal static class DatatypeBench
{
    private const int Tag = 1;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Column(Communicator world, OsuOptions o, BenchResults results)
    {
        if (world.Size < 2)
            throw new BenchUsageException($"column needs at least 2 ranks (got {world.Size})");
        long minN = Math.Max(1, o.MinSize), maxN = o.MaxSize;
        if (world.Rank == 0)
        {
            Console.WriteLine("# OSU MPI Derived Datatype Column Test (SharpMPI)");
            Console.WriteLine("# Datatype: Datatype.Vector<double>(N, 1, N); Size = N.");
            Console.WriteLine(PointToPointBench.Header("Latency (us)"));
        }
        var matrix = GC.AllocateUninitializedArray<double>(checked((int)(maxN * maxN)), pinned: true);
        for (int i = 0; i < matrix.Length; i++)
            matrix[i] = i;
        for (long n = minN; n <= maxN; n *= 2)
        {
            using var column = Datatype.Vector<double>(count: (int)n, blockLength: 1, stride: (int)n).Commit();
            int iters = o.Iterations ?? 1000, warmup = o.Warmup ?? 100;
            var whole = matrix.AsSpan(0, (int)(n * n));
            var shifted = matrix.AsSpan(1, (int)(n * n) - 1); // column 1: receive into a different column than sent
            world.Barrier();
            double t0 = 0;
            for (int i = 0; i < iters + warmup; i++)
            {
                if (i == warmup)
                    t0 = MpiEnvironment.WTime();
                if (world.Rank == 0)
                {
                    world.Send((ReadOnlySpan<double>)whole, column, 1, 1, Tag);
                    world.Receive(shifted, column, 1, 1, Tag);
                }
                else if (world.Rank == 1)
                {
                    world.Receive(shifted, column, 1, 0, Tag);
                    world.Send((ReadOnlySpan<double>)whole, column, 1, 0, Tag);
                }
            }
            double latency = (MpiEnvironment.WTime() - t0) * 1e6 / (2.0 * iters);
            if (world.Rank == 1 && matrix[1] != 0.0)
                throw new InvalidOperationException("column: wrong column received");
            if (world.Rank == 0)
            {
                Console.WriteLine(PointToPointBench.Row(n, latency));
                results.Add(new OsuRow(n, latency));
            }
        }
    }
}
