using System.Globalization;

namespace SharpMpi.Bench;

/// <summary>OSU micro-benchmarks for two ranks: latency (ping-pong), bw (windowed), bibw.</summary>
internal static class PointToPointBench
{
    private const int Tag = 1;

    /// <summary>Lines ranks 0 and 1 up before a timed section.</summary>
    private static void Sync(Communicator world)
    {
        if (world.Rank > 1)
            return;
        int other = 1 - world.Rank;
        world.SendReceive(ReadOnlySpan<byte>.Empty, other, 99, Span<byte>.Empty, other, 99);
    }

    public static void Latency(Communicator world, BenchOptions o)
    {
        if (world.Rank == 0)
        {
            Console.WriteLine("# OSU MPI Latency Test (SharpMPI)");
            Console.WriteLine("# Size          Latency (us)");
        }
        var buffer = GC.AllocateArray<byte>((int)Math.Max(1, o.MaxSize), pinned: true);
        foreach (long size in o.Sizes())
        {
            var (iters, warmup) = o.IterationsFor(size, bandwidth: false);
            var span = buffer.AsSpan(0, (int)size);
            Sync(world);
            double t0 = 0;
            for (int i = 0; i < iters + warmup; i++)
            {
                if (i == warmup)
                    t0 = MpiEnvironment.WTime();
                if (world.Rank == 0)
                {
                    world.Send((ReadOnlySpan<byte>)span, 1, Tag);
                    world.Receive(span, 1, Tag);
                }
                else if (world.Rank == 1)
                {
                    world.Receive(span, 0, Tag);
                    world.Send((ReadOnlySpan<byte>)span, 0, Tag);
                }
            }
            double latency = (MpiEnvironment.WTime() - t0) * 1e6 / (2.0 * iters);
            if (world.Rank == 0)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{size,-10}{latency,18:F2}"));
        }
    }

    public static void Bandwidth(Communicator world, BenchOptions o, bool bidirectional)
    {
        if (world.Rank == 0)
        {
            Console.WriteLine(bidirectional ? "# OSU MPI Bi-Directional Bandwidth Test (SharpMPI)" : "# OSU MPI Bandwidth Test (SharpMPI)");
            Console.WriteLine("# Size      Bandwidth (MB/s)");
        }
        int window = o.Window;
        var send = GC.AllocateArray<byte>((int)Math.Max(1, o.MaxSize), pinned: true);
        var recv = GC.AllocateArray<byte>((int)Math.Max(1, o.MaxSize) * Math.Min(window, 1), pinned: true);
        var requests = new Request[window * 2];
        var ack = new byte[1];
        foreach (long size in o.Sizes())
        {
            var (iters, warmup) = o.IterationsFor(size, bandwidth: true);
            Sync(world);
            double t0 = 0;
            var sendMem = send.AsMemory(0, (int)size);
            var recvMem = recv.AsMemory(0, (int)size);
            for (int i = 0; i < iters + warmup; i++)
            {
                if (i == warmup)
                    t0 = MpiEnvironment.WTime();
                if (world.Rank == 0)
                {
                    int n = 0;
                    if (bidirectional)
                    {
                        for (int w = 0; w < window; w++)
                            requests[n++] = world.IReceive(recvMem, 1, Tag + 1);
                    }
                    for (int w = 0; w < window; w++)
                        requests[n++] = world.ISend((ReadOnlyMemory<byte>)sendMem, 1, Tag);
                    Request.WaitAll(requests.AsSpan(0, n));
                    world.Receive(ack, 1, Tag + 2);
                }
                else if (world.Rank == 1)
                {
                    int n = 0;
                    for (int w = 0; w < window; w++)
                        requests[n++] = world.IReceive(recvMem, 0, Tag);
                    if (bidirectional)
                    {
                        for (int w = 0; w < window; w++)
                            requests[n++] = world.ISend((ReadOnlyMemory<byte>)sendMem, 0, Tag + 1);
                    }
                    Request.WaitAll(requests.AsSpan(0, n));
                    world.Send(ack, 0, Tag + 2);
                }
            }
            double seconds = MpiEnvironment.WTime() - t0;
            double bytes = (double)size * window * iters * (bidirectional ? 2 : 1);
            if (world.Rank == 0)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{size,-10}{bytes / seconds / 1e6,18:F2}"));
        }
    }
}
