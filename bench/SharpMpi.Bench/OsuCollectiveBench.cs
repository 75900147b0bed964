using System.Globalization;
using System.Runtime.CompilerServices;

namespace SharpMpi.Bench;

/// <summary>
/// OSU collective latency (osu_allreduce, osu_allgather, osu_bcast, osu_reduce, osu_alltoall, osu_barrier): each
/// rank times every call, with a barrier between calls as OSU does; the row shows the average over ranks of
/// each rank's mean, and with <c>-f</c> the minimum and maximum over ranks and the iteration count.
/// </summary>
internal static class OsuCollectiveBench
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(Communicator world, OsuOptions o, BenchResults results)
    {
        string name = o.Verb["osu-".Length..];
        bool floats = name is "allreduce" or "reduce";
        if (world.Rank == 0)
        {
            string title = name switch
            {
                "allreduce" => "Allreduce",
                "allgather" => "Allgather",
                "bcast" => "Broadcast",
                "reduce" => "Reduce",
                "alltoall" => "All-to-All Personalized Exchange",
                _ => "Barrier",
            };
            Console.WriteLine($"# OSU MPI {title} Latency Test (SharpMPI)");
            if (name != "barrier")
                Console.WriteLine(floats ? "# Datatype: MPI_FLOAT." : "# Datatype: MPI_CHAR.");
            string header = name == "barrier"
                ? string.Create(CultureInfo.InvariantCulture, $"{"# Avg Latency(us)",-20}")
                : string.Create(CultureInfo.InvariantCulture, $"{"# Size",-10}{"Avg Latency(us)",20}");
            if (o.Full)
                header += string.Create(CultureInfo.InvariantCulture, $"{"Min Latency(us)",20}{"Max Latency(us)",20}{"Iterations",12}");
            Console.WriteLine(header);
        }

        int n = world.Size;
        long max = name == "barrier" ? 0 : o.MaxSize;
        // Blocks per rank: allgather receives n blocks, alltoall sends and receives n blocks.
        int blocks = name is "allgather" or "alltoall" ? n : 1;
        var send = GC.AllocateArray<byte>((int)Math.Max(4, max * blocks), pinned: true);
        var recv = GC.AllocateArray<byte>((int)Math.Max(4, max * blocks), pinned: true);
        send.AsSpan().Fill(1);
        IEnumerable<long> sizes = name == "barrier" ? [0L] : o.Sizes().Where(s => s > 0 && (!floats || s >= sizeof(float)));
        bool warmedUp = false;
        foreach (long size in sizes)
        {
            var (iters, warmup) = o.IterationsFor(size, bandwidth: false, collective: true);
            int bytes = (int)size;
            Action call = name switch
            {
                "allreduce" => () => world.Allreduce<float>(Floats(send, bytes), Floats(recv, bytes), Op.Sum),
                "reduce" => () => world.Reduce<float>(Floats(send, bytes), Floats(recv, bytes), Op.Sum, 0),
                "bcast" => () => world.Broadcast(recv.AsSpan(0, bytes), 0),
                "allgather" => () => world.Allgather<byte>(send.AsSpan(0, bytes), recv.AsSpan(0, bytes * n)),
                "alltoall" => () => world.Alltoall<byte>(send.AsSpan(0, bytes * n), recv.AsSpan(0, bytes * n)),
                _ => world.Barrier,
            };
            if (!warmedUp)
            {
                JitWarmup.Run(world, call);
                warmedUp = true;
            }
            world.Barrier();
            double total = 0;
            for (int i = 0; i < iters + warmup; i++)
            {
                double t0 = MpiEnvironment.WTime();
                call();
                double t = MpiEnvironment.WTime() - t0;
                if (i >= warmup)
                    total += t;
                world.Barrier();
            }
            double latency = total * 1e6 / iters;
            double minimum = world.Allreduce(latency, Op.Min);
            double maximum = world.Allreduce(latency, Op.Max);
            double average = world.Allreduce(latency, Op.Sum) / n;
            if (world.Rank != 0)
                continue;
            string row = name == "barrier"
                ? string.Create(CultureInfo.InvariantCulture, $"{average,20:F2}")
                : string.Create(CultureInfo.InvariantCulture, $"{size,-10}{average,20:F2}");
            if (o.Full)
                row += string.Create(CultureInfo.InvariantCulture, $"{minimum,20:F2}{maximum,20:F2}{iters,12}");
            Console.WriteLine(row);
            results.Add(new OsuRow(size, average, minimum, maximum, iters));
        }
    }

    private static Span<float> Floats(byte[] buffer, int bytes) =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(buffer.AsSpan(0, bytes / sizeof(float) * sizeof(float)));
}
