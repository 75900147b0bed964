using System.Globalization;
using System.Runtime.CompilerServices;

namespace SharpMpi.Bench;

/// <summary>OSU point-to-point micro-benchmarks: latency (ping-pong), bw (windowed), bibw, multi-lat.</summary>
internal static class PointToPointBench
{
    private const int Tag = 1;

    /// <summary>OSU's header and row formats: <c>"%-10s%20s"</c> and <c>"%-10d%20.2f"</c>.</summary>
    internal static string Header(string column) => string.Create(CultureInfo.InvariantCulture, $"{"# Size",-10}{column,20}");

    internal static string Row(long size, double value) => string.Create(CultureInfo.InvariantCulture, $"{size,-10}{value,20:F2}");

    private static void RequireRanks(Communicator world, int minimum, string verb)
    {
        if (world.Size < minimum)
            throw new BenchUsageException($"{verb} needs at least {minimum} ranks (got {world.Size})");
    }

    public static void Latency(Communicator world, OsuOptions o, BenchResults results)
    {
        RequireRanks(world, 2, o.Verb);
        if (world.Rank == 0)
        {
            Console.WriteLine("# OSU MPI Latency Test (SharpMPI)");
            Console.WriteLine("# Datatype: MPI_CHAR.");
            Console.WriteLine(Header("Latency (us)"));
        }
        var buffers = new PingPongBuffers(o.MaxSize);
        WarmUpPingPong(world, o, buffers, 0, 1);
        foreach (long size in o.Sizes())
        {
            var (iters, warmup) = o.IterationsFor(size, bandwidth: false);
            double latency = PingPong(world, buffers, (int)size, 0, 1, iters, warmup);
            if (world.Rank == 0)
            {
                Console.WriteLine(Row(size, latency));
                results.Add(new OsuRow(size, latency));
            }
        }
    }

    /// <summary>Ping-pong between <paramref name="a"/> and <paramref name="b"/> after a barrier; one-way latency in us at <paramref name="a"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double PingPong(Communicator world, PingPongBuffers buffers, int size, int a, int b, int iters, int warmup)
    {
        ReadOnlySpan<byte> send = buffers.Send.AsSpan(0, size);
        Span<byte> receive = buffers.Receive.AsSpan(0, size);
        world.Barrier();
        double t0 = 0;
        int rank = world.Rank;
        for (int i = 0; i < iters + warmup; i++)
        {
            if (i == warmup)
                t0 = MpiEnvironment.WTime();
            PingPongOnce(world, rank, send, receive, a, b);
        }
        return (MpiEnvironment.WTime() - t0) * 1e6 / (2.0 * iters);
    }

    private static void PingPongOnce(Communicator world, int rank, ReadOnlySpan<byte> send, Span<byte> receive, int a, int b)
    {
        if (rank == a)
        {
            world.Send(send, b, Tag);
            world.Receive(receive, b, Tag);
        }
        else if (rank == b)
        {
            world.Receive(receive, a, Tag);
            world.Send(send, a, Tag);
        }
    }

    /// <summary>
    /// A send and a receive buffer, as osu_latency has: with one buffer for both, each message would be read
    /// from lines the other rank's copy just dirtied, which measures cache-line ping-pong (it doubled the 1 MiB
    /// single-copy time here) instead of the transport, and no longer compares with the C benchmark.
    /// </summary>
    private sealed class PingPongBuffers(long maxSize)
    {
        public byte[] Send { get; } = Filled((int)Math.Max(1, maxSize), 1);

        public byte[] Receive { get; } = Filled((int)Math.Max(1, maxSize), 2);

        private static byte[] Filled(int length, byte value)
        {
            var array = GC.AllocateArray<byte>(length, pinned: true);
            array.AsSpan().Fill(value);
            return array;
        }
    }

    /// <summary>Ping-pongs the smallest size for <see cref="JitWarmup.Seconds"/> so the table starts on optimized code.</summary>
    private static void WarmUpPingPong(Communicator world, OsuOptions o, PingPongBuffers buffers, int a, int b)
    {
        int size = (int)o.MinSize;
        // The measuring loop itself, so that it too runs optimized code (not a first, unoptimized compile
        // that is replaced mid-measurement).
        JitWarmup.Run(world, () => PingPong(world, buffers, size, a, b, 20, 0), batch: 10);
    }

    /// <summary>osu_multi_lat: pairs (i, i + n/2) ping-pong at once; the average of the senders' latencies.</summary>
    public static void MultiLatency(Communicator world, OsuOptions o, BenchResults results)
    {
        RequireRanks(world, 2, o.Verb);
        if (world.Size % 2 != 0)
            throw new BenchUsageException($"multi-lat needs an even number of ranks (got {world.Size})");
        int half = world.Size / 2;
        int a = world.Rank < half ? world.Rank : world.Rank - half, b = a + half;
        if (world.Rank == 0)
        {
            Console.WriteLine("# OSU MPI Multi Latency Test (SharpMPI)");
            Console.WriteLine(Header("Latency (us)"));
        }
        var buffers = new PingPongBuffers(o.MaxSize);
        WarmUpPingPong(world, o, buffers, a, b);
        foreach (long size in o.Sizes())
        {
            var (iters, warmup) = o.IterationsFor(size, bandwidth: false);
            double latency = PingPong(world, buffers, (int)size, a, b, iters, warmup);
            double sum = world.Allreduce(world.Rank < half ? latency : 0.0, Op.Sum);
            if (world.Rank == 0)
            {
                Console.WriteLine(Row(size, sum / half));
                results.Add(new OsuRow(size, sum / half));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Bandwidth(Communicator world, OsuOptions o, bool bidirectional, BenchResults results)
    {
        RequireRanks(world, 2, o.Verb);
        results.Unit = "MB/s";
        if (world.Rank == 0)
        {
            Console.WriteLine(bidirectional ? "# OSU MPI Bi-Directional Bandwidth Test (SharpMPI)" : "# OSU MPI Bandwidth Test (SharpMPI)");
            Console.WriteLine("# Datatype: MPI_CHAR.");
            Console.WriteLine(Header("Bandwidth (MB/s)"));
        }
        int window = o.Window;
        var send = GC.AllocateArray<byte>((int)Math.Max(1, o.MaxSize), pinned: true);
        var recv = GC.AllocateArray<byte>((int)Math.Max(1, o.MaxSize), pinned: true);
        var requests = new Request[window * 2];
        var ack = new byte[1];
        int first = (int)o.MinSize;
        JitWarmup.Run(world, () => BandwidthWindow(world, send.AsMemory(0, first), recv.AsMemory(0, first), requests, ack, window, bidirectional), batch: 10);
        foreach (long size in o.Sizes())
        {
            var (iters, warmup) = o.IterationsFor(size, bandwidth: true);
            world.Barrier();
            double t0 = 0;
            var sendMem = send.AsMemory(0, (int)size);
            var recvMem = recv.AsMemory(0, (int)size);
            for (int i = 0; i < iters + warmup; i++)
            {
                if (i == warmup)
                    t0 = MpiEnvironment.WTime();
                BandwidthWindow(world, sendMem, recvMem, requests, ack, window, bidirectional);
            }
            double seconds = MpiEnvironment.WTime() - t0;
            double bytes = (double)size * window * iters * (bidirectional ? 2 : 1);
            if (world.Rank == 0)
            {
                Console.WriteLine(Row(size, bytes / seconds / 1e6));
                results.Add(new OsuRow(size, bytes / seconds / 1e6));
            }
        }
    }

    /// <summary>One window of nonblocking sends (and receives, bidirectional), then the receiver's acknowledgement.</summary>
    private static void BandwidthWindow(Communicator world, Memory<byte> sendMem, Memory<byte> recvMem, Request[] requests, byte[] ack,
        int window, bool bidirectional)
    {
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
}
