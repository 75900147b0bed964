using System.Globalization;

namespace SharpMpi.Bench;

/// <summary>
/// Managed allocations in steady state: bytes allocated per blocking 8-byte Send/Receive and per nonblocking
/// ISend/IReceive + Wait (ranks 0 and 1, ping-pongs) and per Allreduce of 8 doubles, measured with
/// <see cref="GC.GetAllocatedBytesForCurrentThread"/> (the calling thread) and <see cref="GC.GetTotalAllocatedBytes"/>
/// (the whole process, every thread) around each loop after a warm-up. Each rank prints its own line.
/// </summary>
/// <remarks>
/// With <c>check</c> the job fails (exit 1) when any rank's thread allocated in any loop: the steady state of
/// these operations must allocate nothing, and CI runs this on a Release build (./test). The process-wide
/// number is reported, not checked: the runtime's own threads (tiering, the finalizer) may allocate meanwhile.
/// </remarks>
internal static class AllocationBench
{
    /// <returns>The job's exit code: 1 when <paramref name="check"/> is set and some loop allocated on some rank.</returns>
    public static int Run(Communicator world, int sends, int allreduces, string? json, bool check = false)
    {
        var message = GC.AllocateArray<byte>(8, pinned: true);
        var reply = GC.AllocateArray<byte>(8, pinned: true);
        var input = new double[8];
        var output = new double[8];
        int rank = world.Rank;

        // Warm-up: JIT, tiering and first-use pools must not count.
        for (int round = 0; round < 2; round++)
        {
            PingPong(world, message, Math.Min(sends, 20_000));
            NonblockingPingPong(world, message, reply, Math.Min(sends, 20_000));
            for (int i = 0; i < Math.Min(allreduces, 5_000); i++)
                world.Allreduce<double>(input, output, Op.Sum);
        }

        world.Barrier();
        long thread0 = GC.GetAllocatedBytesForCurrentThread(), total0 = GC.GetTotalAllocatedBytes(precise: true);
        PingPong(world, message, sends);
        long thread1 = GC.GetAllocatedBytesForCurrentThread(), total1 = GC.GetTotalAllocatedBytes(precise: true);
        world.Barrier();
        long thread2 = GC.GetAllocatedBytesForCurrentThread(), total2 = GC.GetTotalAllocatedBytes(precise: true);
        NonblockingPingPong(world, message, reply, sends);
        long thread3 = GC.GetAllocatedBytesForCurrentThread(), total3 = GC.GetTotalAllocatedBytes(precise: true);
        world.Barrier();
        long thread4 = GC.GetAllocatedBytesForCurrentThread(), total4 = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < allreduces; i++)
            world.Allreduce<double>(input, output, Op.Sum);
        long thread5 = GC.GetAllocatedBytesForCurrentThread(), total5 = GC.GetTotalAllocatedBytes(precise: true);

        // A ping-pong iteration is one send and one receive on each of ranks 0 and 1.
        int p2pOps = rank < 2 ? 2 * sends : 0;
        var row = new AllocationRow(
            rank,
            PerOp(thread1 - thread0, p2pOps), PerOp(total1 - total0, p2pOps),
            PerOp(thread3 - thread2, p2pOps), PerOp(total3 - total2, p2pOps),
            PerOp(thread5 - thread4, allreduces), PerOp(total5 - total4, allreduces));
        // Steady state means nothing per operation: a one-off allocation (a pool growing once) is below
        // 0.01 B/op and is not counted.
        bool allocated = (thread1 - thread0) * 100 >= sends || (thread3 - thread2) * 100 >= sends || (thread5 - thread4) * 100 >= allreduces;

        var lines = world.GatherObject(string.Create(CultureInfo.InvariantCulture,
            $"rank {rank}: Send/Receive 8 B: {row.SendThread:F3} B/op (thread), {row.SendTotal:F3} B/op (process); "
            + $"ISend/IReceive 8 B: {row.NonblockingThread:F3} B/op (thread), {row.NonblockingTotal:F3} B/op (process); "
            + $"Allreduce 8 doubles: {row.AllreduceThread:F3} B/op (thread), {row.AllreduceTotal:F3} B/op (process)"), 0);
        var values = world.Gather(row, 0);
        // Every rank learns the verdict, so every rank exits with the same code.
        bool anyAllocated = world.Allreduce(allocated ? 1 : 0, Op.Max) != 0;
        int exitCode = check && anyAllocated ? 1 : 0;
        if (rank != 0)
            return exitCode;
        Console.WriteLine($"# SharpMPI steady-state allocations ({sends} Send/Receive and ISend/IReceive round trips of 8 B between ranks 0 and 1, {allreduces} Allreduce of 8 doubles, {world.Size} ranks)");
        Console.WriteLine("# bytes per operation; thread = GC.GetAllocatedBytesForCurrentThread, process = GC.GetTotalAllocatedBytes(precise)");
        foreach (string? line in lines!)
            Console.WriteLine(line);
        if (check)
        {
            Console.WriteLine(anyAllocated
                ? "# check FAILED: a rank's thread allocated in steady state (see the thread columns)"
                : "# check passed: 0 bytes allocated by every rank's thread in every loop");
        }
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
                    isend_ireceive_thread = v.NonblockingThread,
                    isend_ireceive_process = v.NonblockingTotal,
                    allreduce_thread = v.AllreduceThread,
                    allreduce_process = v.AllreduceTotal,
                }),
            });
        }
        return exitCode;
    }

    private static double PerOp(long bytes, int operations) => operations > 0 ? (double)bytes / operations : 0;

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

    // Each side posts its receive before its send, then waits for both: the usual nonblocking exchange.
    private static void NonblockingPingPong(Communicator world, byte[] message, byte[] reply, int iterations)
    {
        if (world.Rank > 1)
            return;
        int other = 1 - world.Rank;
        for (int i = 0; i < iterations; i++)
        {
            Request receive = world.IReceive<byte>(reply, other, 8);
            Request send = world.ISend<byte>(message, other, 8);
            send.Wait();
            receive.Wait();
        }
    }

    private readonly record struct AllocationRow(
        int Rank, double SendThread, double SendTotal, double NonblockingThread, double NonblockingTotal, double AllreduceThread, double AllreduceTotal);
}
