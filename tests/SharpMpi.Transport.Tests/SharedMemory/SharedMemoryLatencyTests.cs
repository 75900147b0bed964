using System.Diagnostics;
using SharpMpi.Engine;
using SharpMpi.Transport.SharedMemory;
using Xunit;

namespace SharpMpi.Transport.Tests.SharedMemory;

[CollectionDefinition(nameof(MeasurementCollection), DisableParallelization = true)]
public sealed class MeasurementCollection;

/// <summary>
/// Prints (never asserts) what the ring costs between two threads of one process: round-trip latency of
/// small frames and streaming bandwidth, the receiver copying every payload out of the ring. Threads share one process here; two processes add little (the
/// memory is the same /dev/shm mapping either way).
/// </summary>
[Collection(nameof(MeasurementCollection))]
public sealed class SharedMemoryLatencyTests
{
    [Fact(Timeout = 120_000)]
    public async Task Measure_PingPongAndStreaming_PrintsNumbers()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using ShmJob job = await ShmJob.StartAsync([0, 1], ct);
        ITestOutputHelper? output = TestContext.Current.TestOutputHelper;
        SharedMemoryTransport a = job[0], b = job[1];

        foreach (int size in (int[])[8, 1024, 16 * 1024])
        {
            (double p50, double mean, double p99) = await PingPong(a, b, size, size <= 1024 ? 20_000 : 5_000, ct);
            output?.WriteLine($"shm ring ping-pong {size,6} B: one-way p50 {p50:F3} us, mean {mean:F3} us, p99 {p99:F3} us");
        }

        foreach (int size in (int[])[64, 16 * 1024, a.MaxFramePayload])
        {
            (double frames, double gbps) = await Stream(a, b, size, TimeSpan.FromMilliseconds(250), ct);
            output?.WriteLine($"shm ring streaming {size,6} B frames: {frames / 1e6:F2} M frames/s, {gbps:F2} GB/s");
        }

        byte[] source = GC.AllocateArray<byte>(16 << 20, pinned: true);
        byte[] destination = new byte[source.Length];
        ulong address;
        unsafe
        {
            fixed (byte* p = source)
                address = (ulong)p;
        }

        foreach (int size in (int[])[64 * 1024, 1 << 20, 16 << 20])
        {
            int iterations = (int)Math.Max(20, (64L << 20) / size);
            b.Pull(0, address, destination.AsSpan(0, size));
            var watch = Stopwatch.StartNew();
            for (int i = 0; i < iterations; i++)
                b.Pull(0, address, destination.AsSpan(0, size));
            double seconds = watch.Elapsed.TotalSeconds;
            output?.WriteLine($"process_vm_readv pull {size,9} B: {seconds / iterations * 1e6:F1} us, {(double)size * iterations / seconds / 1e9:F2} GB/s");
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task Measure_CrossProcessPingPong_PrintsNumbers()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        ITestOutputHelper? output = TestContext.Current.TestOutputHelper;
        foreach (string mode in (string[])["spin", "echo"])
        {
            using var peer = PeerProcess.Start(mode);
            using SharedMemoryTransport t = await Threads.Start(() => peer.Connect(), ct);
            int iterations = mode == "spin" ? 20_000 : 2_000;
            double[] halves = await Threads.Start(() =>
            {
                var sink = new CountingSink();
                var samples = new double[iterations];
                byte[] payload = new byte[8];
                FrameHeader header = Pattern.Header(8, 0);
                for (int i = -1000; i < iterations; i++)
                {
                    long before = sink.Count;
                    long start = Stopwatch.GetTimestamp();
                    while (!t.TrySend(1, header, payload))
                        ct.ThrowIfCancellationRequested();
                    while (sink.Count == before)
                    {
                        t.Poll(sink);
                        ct.ThrowIfCancellationRequested();
                    }

                    if (i >= 0)
                        samples[i] = (Stopwatch.GetTimestamp() - start) * 1e6 / Stopwatch.Frequency / 2;
                }

                Assert.True(t.TrySend(1, new FrameHeader { Kind = FrameKind.Goodbye }, []));
                return samples;
            }, ct);
            await peer.WaitForExitAsync(ct);
            Array.Sort(halves);
            output?.WriteLine($"shm cross-process ping-pong 8 B, peer {(mode == "spin" ? "spinning" : "sleeping on its doorbell")}: one-way p50 {halves[iterations / 2]:F3} us, mean {halves.Average():F3} us, p99 {halves[iterations * 99 / 100]:F3} us");
        }
    }

    private static async Task<(double P50, double Mean, double P99)> PingPong(SharedMemoryTransport a, SharedMemoryTransport b, int size, int iterations, CancellationToken ct)
    {
        const int Warmup = 5_000;
        var samples = new long[iterations];
        using var stop = new CancellationTokenSource();
        Task pong = Threads.Start(() =>
        {
            var sink = new CountingSink();
            byte[] payload = new byte[size];
            FrameHeader header = Pattern.Header(size, 0);
            for (int i = 0; i < Warmup + iterations; i++)
            {
                while (sink.Count == i)
                {
                    b.Poll(sink);
                    ct.ThrowIfCancellationRequested();
                }

                while (!b.TrySend(0, header, payload))
                    ct.ThrowIfCancellationRequested();
            }
        }, ct);

        await Threads.Start(() =>
        {
            var sink = new CountingSink();
            byte[] payload = new byte[size];
            FrameHeader header = Pattern.Header(size, 0);
            for (int i = 0; i < Warmup + iterations; i++)
            {
                long start = Stopwatch.GetTimestamp();
                while (!a.TrySend(1, header, payload))
                    ct.ThrowIfCancellationRequested();

                while (sink.Count == i)
                {
                    a.Poll(sink);
                    ct.ThrowIfCancellationRequested();
                }

                if (i >= Warmup)
                    samples[i - Warmup] = Stopwatch.GetTimestamp() - start;
            }
        }, ct);
        await pong;

        Array.Sort(samples);
        double toHalfMicroseconds = 1e6 / Stopwatch.Frequency / 2;
        double sum = 0;
        foreach (long s in samples)
            sum += s;
        return (samples[iterations / 2] * toHalfMicroseconds, sum / iterations * toHalfMicroseconds, samples[iterations * 99 / 100] * toHalfMicroseconds);
    }

    private static async Task<(double FramesPerSecond, double GigabytesPerSecond)> Stream(SharedMemoryTransport a, SharedMemoryTransport b, int size, TimeSpan duration, CancellationToken ct)
    {
        long sent = 0;
        bool done = false;
        var sink = new CountingSink();
        Task consume = Threads.Start(() =>
        {
            while (!Volatile.Read(ref done) || sink.Count < Volatile.Read(ref sent))
            {
                b.Poll(sink);
                ct.ThrowIfCancellationRequested();
            }
        }, ct);

        var watch = Stopwatch.StartNew();
        await Threads.Start(() =>
        {
            byte[] payload = new byte[size];
            FrameHeader header = Pattern.Header(size, 0);
            long count = 0;
            while (watch.Elapsed < duration)
            {
                for (int i = 0; i < 256; i++)
                {
                    while (!a.TrySend(1, header, payload))
                        ct.ThrowIfCancellationRequested();

                    count++;
                }
            }

            Volatile.Write(ref sent, count);
            Volatile.Write(ref done, true);
        }, ct);
        await consume;
        double seconds = watch.Elapsed.TotalSeconds;
        return (sink.Count / seconds, (double)sink.Count * size / seconds / 1e9);
    }

    /// <summary>Counts frames and copies each payload out, as the engine does into a receive buffer.</summary>
    private sealed class CountingSink : IFrameSink
    {
        private readonly byte[] _destination = new byte[64 * 1024];
        private long _count;

        public long Count => Volatile.Read(ref _count);

        public void OnFrame(int peer, in FrameHeader header, ReadOnlySpan<byte> payload)
        {
            payload.CopyTo(_destination);
            Volatile.Write(ref _count, _count + 1);
        }
    }
}
