using System.Diagnostics;
using SharpMpi.Engine;

namespace SharpMpi.Transport.Tcp.Tests;

/// <summary>Frames between TCP transports of one in-process job on 127.0.0.1.</summary>
public sealed class TcpTransportTests
{
    private static readonly int[] s_sizes =
    [
        0, 1, 47, 48, 49, 1000, 16 * 1024 - 1, 16 * 1024, 64 * 1024, 64 * 1024 + 1, 256 * 1024 - 48, 256 * 1024, 256 * 1024 + 7,
        1 << 20, 3 * 1024 * 1024 + 5, 4 * 1024 * 1024,
    ];

    [Theory(Timeout = 120_000)]
    [InlineData(256 * 1024, 256 * 1024)]
    [InlineData(4096, 4096)]
    public async Task Frames_OfEverySize_ArriveIntactAndInOrder_FromSeveralPeers(int sendBuffer, int receiveBuffer)
    {
        using var job = await TcpJob.StartAsync(3, new TcpOptions { SendBufferSize = sendBuffer, ReceiveBufferSize = receiveBuffer }, TestContext.Current.CancellationToken);
        var frames = new List<(FrameHeader Header, byte[] Payload)>();
        int tag = 0;
        foreach (int size in s_sizes)
        {
            frames.Add((Pattern.Eager(size, tag), Pattern.Bytes(size, tag)));
            tag++;
            frames.Add((Pattern.Data(size, tag, cookie: 1000 + tag), Pattern.Bytes(size, tag)));
            tag++;
        }

        var sink = new AssemblingSink();
        Task senders = Task.WhenAll(
            Threads.Start(() => SendAll(job[1], 0, frames)),
            Threads.Start(() => SendAll(job[2], 0, frames)));
        Pump(job[0], job.Doorbells[0], sink, () => sink.Count == 2 * frames.Count, TimeSpan.FromSeconds(60));
        await senders;

        foreach (int peer in (int[])[1, 2])
        {
            var got = sink.Frames.Where(f => f.Peer == peer).ToList();
            Assert.Equal(frames.Count, got.Count);
            for (int i = 0; i < frames.Count; i++)
            {
                Assert.Equal(frames[i].Header.Kind, got[i].Header.Kind);
                Assert.Equal(frames[i].Header.Tag, got[i].Header.Tag);
                Assert.Equal(frames[i].Header.Cookie, got[i].Header.Cookie);
                Assert.Equal(frames[i].Payload.Length, got[i].Payload.Length);
                Assert.True(frames[i].Payload.AsSpan().SequenceEqual(got[i].Payload), $"payload of frame {i} ({frames[i].Payload.Length} bytes) from rank {peer} differs");
            }
        }

        Assert.False(job[0].IsPeerFailed(1) || job[0].IsPeerFailed(2));
    }

    [Fact(Timeout = 120_000)]
    public async Task FullBuffers_TrySendSaysNo_UntilThePeerPolls()
    {
        using var job = await TcpJob.StartAsync(2, null, TestContext.Current.CancellationToken);
        const int Size = 64 * 1024;
        byte[] payload = Pattern.Bytes(Size, 7);
        int accepted = 0;
        while (job[1].TrySend(0, Pattern.Eager(Size, accepted), payload))
        {
            accepted++;
            Assert.True(accepted < 100_000, "TrySend never refused although nobody reads");
        }

        Assert.True(accepted > 0);
        // Still refused a moment later: nothing drains while rank 0 does not poll.
        Thread.Sleep(50);
        Assert.False(job[1].TrySend(0, Pattern.Eager(Size, accepted), payload));

        var sink = new AssemblingSink();
        Task receiver = Threads.Start(() => Pump(job[0], job.Doorbells[0], sink, () => sink.Count == accepted + 10, TimeSpan.FromSeconds(60)));
        var watch = Stopwatch.StartNew();
        for (int i = accepted; i < accepted + 10; i++)
        {
            while (!job[1].TrySend(0, Pattern.Eager(Size, i), payload))
            {
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), "TrySend kept refusing while the peer polled");
                Thread.Yield();
            }
        }

        // The last frames may still sit in rank 1's send buffer: like the engine, keep polling it so it flushes.
        var nothing = new AssemblingSink();
        while (!receiver.IsCompleted)
        {
            job[1].Poll(nothing);
            Thread.Yield();
        }
        await receiver;
        Assert.Equal(Enumerable.Range(0, accepted + 10), sink.Frames.Select(f => f.Header.Tag));
        Assert.All(sink.Frames, f => Assert.True(f.Payload.AsSpan().SequenceEqual(payload)));
    }

    [Fact(Timeout = 60_000)]
    public async Task Goodbye_IsACleanEnd_NotAFailure()
    {
        using var job = await TcpJob.StartAsync(3, new TcpOptions { LingerTimeout = TimeSpan.FromSeconds(1) }, TestContext.Current.CancellationToken);
        var failures = new List<string>();
        job[0].PeerFailed += (peer, reason) => failures.Add($"{peer}: {reason}");

        Assert.True(job[2].TrySend(0, Pattern.Eager(10, 1), Pattern.Bytes(10, 1)));
        Task leaving = Threads.Start(job[2].Dispose);
        var sink = new AssemblingSink();
        Pump(job[0], job.Doorbells[0], sink, () => job[0].HasPeerSaidGoodbye(2), TimeSpan.FromSeconds(20));
        await leaving.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        // Read on to the EOF that follows the goodbye: still no failure.
        Pump(job[0], job.Doorbells[0], sink, () => false, TimeSpan.FromMilliseconds(300));

        Assert.Single(sink.Frames);
        Assert.Empty(failures);
        Assert.False(job[0].IsPeerFailed(2));
        Assert.True(job[0].TrySend(2, Pattern.Eager(3, 2), new byte[3])); // dropped: the rank left
        AssertFramesFlow(job, 1, 0);
    }

    [Fact(Timeout = 60_000)]
    public async Task AbruptClose_RaisesPeerFailed_AndTheOthersCarryOn()
    {
        using var job = await TcpJob.StartAsync(3, null, TestContext.Current.CancellationToken);
        var failures = new List<(int Peer, string Reason)>();
        job[0].PeerFailed += (peer, reason) => failures.Add((peer, reason));

        job[2].SimulateCrash();
        var sink = new AssemblingSink();
        Pump(job[0], job.Doorbells[0], sink, () => failures.Count > 0, TimeSpan.FromSeconds(20));

        var failure = Assert.Single(failures);
        Assert.Equal(2, failure.Peer);
        Assert.True(failure.Reason.Contains("without a goodbye") || failure.Reason.Contains("ConnectionReset"), failure.Reason); // EOF or reset
        Assert.True(job[0].IsPeerFailed(2));
        Assert.True(job[0].TrySend(2, Pattern.Eager(3, 2), new byte[3])); // dropped, never blocks
        Pump(job[0], job.Doorbells[0], sink, () => false, TimeSpan.FromMilliseconds(200));
        Assert.Single(failures); // raised once
        AssertFramesFlow(job, 1, 0);
        AssertFramesFlow(job, 0, 1);
    }

    [Fact(Timeout = 60_000)]
    public async Task Poller_RingsTheDoorbell_OfASleepingRank()
    {
        using var job = await TcpJob.StartAsync(2, null, TestContext.Current.CancellationToken);
        var sink = new AssemblingSink();
        // Rank 0 sleeps on its doorbell with a long timeout; the frame must wake it well before.
        Task sender = Threads.Start(() =>
        {
            Thread.Sleep(200);
            Assert.True(job[1].TrySend(0, Pattern.Eager(8, 1), Pattern.Bytes(8, 1)));
        });
        var watch = Stopwatch.StartNew();
        while (sink.Count == 0)
        {
            if (job[0].Poll(sink) == 0)
                job.Doorbells[0].Sleep(static t => t.HasPendingInput, job[0], 10_000_000);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), "the frame did not wake the sleeping rank");
        }

        await sender;
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5));
    }

    // ---------------------------------------------------------------- helpers

    internal static void SendAll(TcpTransport transport, int peer, List<(FrameHeader Header, byte[] Payload)> frames)
    {
        var watch = Stopwatch.StartNew();
        foreach (var (header, payload) in frames)
        {
            while (!transport.TrySend(peer, header, payload))
            {
                if (watch.Elapsed > TimeSpan.FromSeconds(60))
                    throw new TimeoutException("TrySend kept refusing");
                Thread.Yield();
            }
        }

        // Whatever is still buffered goes out through polls.
        var discard = new AssemblingSink();
        while (watch.Elapsed < TimeSpan.FromSeconds(60) && transport.HasBufferedOutput)
        {
            transport.Poll(discard);
            Thread.Yield();
        }
    }

    /// <summary>Polls (sleeping on the doorbell when idle, as the engine does) until <paramref name="done"/> or the time is up.</summary>
    internal static void Pump(TcpTransport transport, Doorbell doorbell, IFrameSink sink, Func<bool> done, TimeSpan limit)
    {
        var watch = Stopwatch.StartNew();
        while (!done())
        {
            if (watch.Elapsed > limit)
            {
                if (limit < TimeSpan.FromSeconds(1))
                    return; // a short pump just drains
                throw new TimeoutException($"condition not reached within {limit.TotalSeconds} s");
            }

            if (transport.Poll(sink) == 0)
                doorbell.Sleep(static t => t.HasPendingInput, transport, 20_000);
        }
    }

    /// <summary>Sends a few frames from <paramref name="from"/> to <paramref name="to"/> and checks that they arrive.</summary>
    internal static void AssertFramesFlow(TcpJob job, int from, int to)
    {
        var frames = Enumerable.Range(0, 5).Select(i => (Pattern.Eager(1000 * i, i), Pattern.Bytes(1000 * i, i))).ToList();
        var sink = new AssemblingSink();
        Task sender = Threads.Start(() => SendAll(job[from], to, frames));
        Pump(job[to], job.Doorbells[to], sink, () => sink.Count >= frames.Count, TimeSpan.FromSeconds(20));
        Assert.True(sender.Wait(TimeSpan.FromSeconds(20)));
        Assert.Equal(Enumerable.Range(0, 5), sink.Frames.Where(f => f.Peer == from).Select(f => f.Header.Tag));
    }
}
