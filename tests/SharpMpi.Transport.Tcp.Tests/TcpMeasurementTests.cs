using System.Diagnostics;
using SharpMpi.Bootstrap;
using SharpMpi.Engine;
using SharpMpi.Transport.InProcess;

namespace SharpMpi.Transport.Tcp.Tests;

/// <summary>
/// Prints (never asserts) ping-pong latency and streaming bandwidth of two engines over TCP on 127.0.0.1,
/// in one process (two rank threads). Numbers on a shared machine vary; the launcher benchmark
/// (<c>./mpirun -n 2 -x SHARPMPI_TRANSPORT=tcp bench/SharpMpi.Bench latency</c>) is the reference.
/// </summary>
public sealed class TcpMeasurementTests
{
    [Fact(Timeout = 300_000)]
    public async Task Measure_PingPongAndBandwidth_PrintsNumbers()
    {
        using var job = await TcpJob.StartAsync(2, null, TestContext.Current.CancellationToken);
        var envs = new MpiEnvironment[2];
        for (int r = 0; r < 2; r++)
        {
            var loopback = new InProcessHub(2, new InProcessOptions(), job.Doorbells[r]).CreateTransport(r);
            ITransport[] routes = r == 0 ? [loopback, job[0]] : [job[1], loopback];
            envs[r] = new MpiEnvironment(new ProgressEngine(r, routes, job.Doorbells[r], WaitPolicy.ForLocalRanks(2)), r, 2, "localhost", new NoJobControl());
        }

        ITestOutputHelper? output = TestContext.Current.TestOutputHelper;
        int[] sizes = [8, 1024, 65536, 65537, 131072, 262144, 1 << 20, 4 << 20];
        var results = new double[sizes.Length];
        Task[] ranks = [.. envs.Select(env => Threads.Start(() =>
        {
            var world = env.World;
            for (int s = 0; s < sizes.Length; s++)
            {
                byte[] buffer = new byte[sizes[s]];
                int iterations = sizes[s] <= 65536 ? 2000 : 200;
                long start = 0;
                for (int i = -20; i < iterations; i++)
                {
                    if (i == 0)
                        start = Stopwatch.GetTimestamp();
                    if (world.Rank == 0)
                    {
                        world.Send(buffer, 1, 1);
                        world.Receive(buffer, 1, 1);
                    }
                    else
                    {
                        world.Receive(buffer, 0, 1);
                        world.Send(buffer, 0, 1);
                    }
                }

                if (world.Rank == 0)
                    results[s] = Stopwatch.GetElapsedTime(start).TotalMicroseconds / iterations / 2;
            }

            env.Dispose();
        }))];
        await Task.WhenAll(ranks).WaitAsync(TimeSpan.FromSeconds(240), TestContext.Current.CancellationToken);
        for (int s = 0; s < sizes.Length; s++)
            output?.WriteLine($"tcp engine ping-pong {sizes[s],8} B: one-way {results[s],9:F1} us, {sizes[s] / results[s] / 1e3,7:F3} GB/s");
    }

    [Fact(Timeout = 120_000)]
    public async Task Measure_TransportStreaming_PrintsNumbers()
    {
        using var job = await TcpJob.StartAsync(2, null, TestContext.Current.CancellationToken);
        ITestOutputHelper? output = TestContext.Current.TestOutputHelper;
        foreach (int size in (int[])[8, 1024, 16 * 1024, 256 * 1024, 4 << 20])
        {
            byte[] payload = new byte[size];
            var frame = Pattern.Data(size, 0, 0);
            frame.Kind = size <= 65536 ? Engine.FrameKind.Eager : Engine.FrameKind.Data;
            var stop = Stopwatch.StartNew();
            long sent = 0;
            Task sender = Threads.Start(() =>
            {
                var discard = new AssemblingSink();
                while (stop.Elapsed < TimeSpan.FromMilliseconds(500))
                {
                    if (job[1].TrySend(0, frame, payload))
                        sent++;
                    else
                        job[1].Poll(discard);
                }

                while (job[1].HasBufferedOutput)
                    job[1].Poll(discard);
            });
            var sink = new CountingSink();
            while (!sender.IsCompleted || sink.Bytes < sent * size)
            {
                if (job[0].Poll(sink) == 0 && stop.Elapsed > TimeSpan.FromSeconds(5))
                    break;
            }

            double seconds = stop.Elapsed.TotalSeconds;
            output?.WriteLine($"tcp transport streaming {size,8} B frames: {sent / seconds / 1e3,9:F1} k frames/s, {sink.Bytes / seconds / 1e9,6:F3} GB/s");
        }
    }

    private sealed class CountingSink : IFrameSink
    {
        public long Bytes;

        public void OnFrame(int peer, in Engine.FrameHeader header, ReadOnlySpan<byte> payload) => Bytes += payload.Length;
    }

    private sealed class NoJobControl : IJobControl
    {
        public void Abort(int rank, int exitCode, string message) => throw new InvalidOperationException(message);

        public void Fence()
        {
        }

        public void Finalized()
        {
        }

        public void Dispose()
        {
        }
    }
}
