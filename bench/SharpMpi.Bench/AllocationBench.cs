using System.Globalization;

namespace SharpMpi.Bench;

/// <summary>
/// Managed allocations in steady state: bytes allocated per blocking 8-byte Send/Receive (ranks 0 and 1, a
/// ping-pong) and per Allreduce of 8 doubles, measured with <see cref="GC.GetAllocatedBytesForCurrentThread"/>
/// (the calling thread) and <see cref="GC.GetTotalAllocatedBytes"/> (the whole process, every thread) around
/// the loop after a warm-up. Each rank prints its own line.
/// </summary>
internal static class AllocationBench
{
    public static void Run(Communicator world, int sends, int allreduces, string? json)
    {
        var message = GC.AllocateArray<byte>(8, pinned: true);
        var input = new double[8];
        var output = new double[8];
        int rank = world.Rank;

        // Warm-up: JIT, tiering and first-use pools must not count.
        for (int round = 0; round < 2; round++)
        {
            PingPong(world, message, Math.Min(sends, 20_000));
            for (int i = 0; i < Math.Min(allreduces, 5_000); i++)
                world.Allreduce<double>(input, output, Op.Sum);
        }

        world.Barrier();
        long thread0 = GC.GetAllocatedBytesForCurrentThread(), total0 = GC.GetTotalAllocatedBytes(precise: true);
        PingPong(world, message, sends);
        long thread1 = GC.GetAllocatedBytesForCurrentThread(), total1 = GC.GetTotalAllocatedBytes(precise: true);
        world.Barrier();
        long thread2 = GC.GetAllocatedBytesForCurrentThread(), total2 = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < allreduces; i++)
            world.Allreduce<double>(input, output, Op.Sum);
        long thread3 = GC.GetAllocatedBytesForCurrentThread(), total3 = GC.GetTotalAllocatedBytes(precise: true);

        // A ping-pong iteration is one Send and one Receive on each of ranks 0 and 1.
        int p2pOps = rank < 2 ? 2 * sends : 0;
        double sendThread = p2pOps > 0 ? (double)(thread1 - thread0) / p2pOps : 0;
        double sendTotal = p2pOps > 0 ? (double)(total1 - total0) / p2pOps : 0;
        double allreduceThread = (double)(thread3 - thread2) / allreduces;
        double allreduceTotal = (double)(total3 - total2) / allreduces;

        var lines = world.GatherObject(string.Create(CultureInfo.InvariantCulture,
            $"rank {rank}: Send/Receive 8 B: {sendThread:F3} B/op (thread), {sendTotal:F3} B/op (process); Allreduce 8 doubles: {allreduceThread:F3} B/op (thread), {allreduceTotal:F3} B/op (process)"), 0);
        var values = world.Gather(new AllocationRow(rank, sendThread, sendTotal, allreduceThread, allreduceTotal), 0);
        if (rank != 0)
            return;
        Console.WriteLine($"# SharpMPI steady-state allocations ({sends} Send/Receive round trips of 8 B between ranks 0 and 1, {allreduces} Allreduce of 8 doubles, {world.Size} ranks)");
        Console.WriteLine("# bytes per operation; thread = GC.GetAllocatedBytesForCurrentThread, process = GC.GetTotalAllocatedBytes(precise)");
        foreach (string? line in lines!)
            Console.WriteLine(line);
        if (json is not null)
        {
            BenchJson.Write(json, new
            {
                benchmark = "alloc",
                implementation = "SharpMPI",
                ranks = world.Size,
                sends,
                allreduces,
                results = values!.Select(v => new
                {
                    rank = v.Rank,
                    send_receive_thread = v.SendThread,
                    send_receive_process = v.SendTotal,
                    allreduce_thread = v.AllreduceThread,
                    allreduce_process = v.AllreduceTotal,
                }),
            });
        }
    }

    private static void PingPong(Communicator world, byte[] message, int iterations)
    {
        if (world.Rank > 1)
            return;
        int other = 1 - world.Rank;
        for (int i = 0; i < iterations; i++)
        {
            if (world.Rank == 0)
            {
                world.Send<byte>(message, other, 7);
                world.Receive<byte>(message, other, 7);
            }
            else
            {
                world.Receive<byte>(message, other, 7);
                world.Send<byte>(message, other, 7);
            }
        }
    }

    private readonly record struct AllocationRow(int Rank, double SendThread, double SendTotal, double AllreduceThread, double AllreduceTotal);
}
