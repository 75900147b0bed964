using System.Diagnostics;
using System.Runtime.InteropServices;
using SharpMpi.Engine;
using SharpMpi.Transport.SharedMemory;
using SharpMpi.Transport.Tests.Peer;
using Xunit;

namespace SharpMpi.Transport.Tests.SharedMemory;

/// <summary>Rank 0 in the test process, rank 1 in a child process (SharpMpi.Transport.Tests.Peer).</summary>
public sealed class SharedMemoryCrossProcessTests
{
    [Fact(Timeout = 120_000)]
    public async Task CrossProcess_EchoAndPull_BytesIntactAndNothingLeft()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using var peer = PeerProcess.Start("echo");
        using SharedMemoryTransport t = await Threads.Start(() => peer.Connect(), ct);
        Assert.Empty(ShmJob.Leftovers(peer.JobId));
        Assert.True(t.IsPeerAlive(1));

        await Threads.Start(() =>
        {
            var random = new Random(7);
            var sink = new RecordingSink();
            for (int seq = 0; seq < 2000; seq++)
            {
                int length = random.Next(4) == 0 ? random.Next(t.MaxFramePayload + 1) : random.Next(256);
                byte[] payload = Pattern.Make(length, seq);
                while (!t.TrySend(1, Pattern.Header(length, seq), payload))
                    Drain(t, sink, ct);
                // Pauses now and then let the peer fall asleep on its doorbell, so sends must wake it.
                if (seq % 100 == 0)
                    Thread.Sleep(5);
            }

            while (sink.Frames.Count < 2000)
                Drain(t, sink, ct);
            for (int seq = 0; seq < 2000; seq++)
            {
                Assert.Equal(seq, sink.Frames[seq].Header.Cookie);
                Assert.Equal(Pattern.Make(sink.Frames[seq].Payload.Length, seq), sink.Frames[seq].Payload);
            }

            // Single copy: the peer pulls a pinned buffer of ours and returns its hash.
            byte[] buffer = GC.AllocateArray<byte>((4 << 20) + 3, pinned: true);
            Pattern.Fill(buffer, 42);
            var rts = new FrameHeader { Kind = FrameKind.Rts, MessageLength = buffer.Length, Address = (ulong)Marshal.UnsafeAddrOfPinnedArrayElement(buffer, 0) };
            Assert.True(t.TrySend(1, rts, []));
            sink.Frames.Clear();
            while (sink.Frames.Count == 0)
                Drain(t, sink, ct);
            Assert.Equal(FrameKind.Ack, sink.Frames[0].Header.Kind);
            Assert.Equal(1, sink.Frames[0].Header.Tag); // the peer's probe allowed pulling from us
            Assert.Equal((long)Fnv(buffer), sink.Frames[0].Header.Cookie);
            GC.KeepAlive(buffer);

            Assert.True(t.TrySend(1, new FrameHeader { Kind = FrameKind.Goodbye }, []));
        }, ct);

        (int exitCode, string errors) = await peer.WaitForExitAsync(ct);
        Assert.True(exitCode == 0, $"peer exited with {exitCode}: {errors}");
        Assert.False(t.IsPeerAlive(1));
        Assert.Empty(ShmJob.Leftovers(peer.JobId));
    }

    [Fact(Timeout = 120_000)]
    public async Task CrossProcess_PeerKilled_NotAliveAndNothingLeft()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using var peer = PeerProcess.Start("hang");
        using SharedMemoryTransport t = await Threads.Start(() => peer.Connect(), ct);
        Assert.True(t.CanPull(1));
        Assert.True(t.IsPeerAlive(1));
        peer.Process.Kill();
        await peer.WaitForExitAsync(ct);
        Assert.False(t.IsPeerAlive(1));
        // The dead peer's segment stays mapped here: sending still works until its ring is full.
        Assert.True(t.TrySend(1, Pattern.Header(0, 0), []));
        Assert.Empty(ShmJob.Leftovers(peer.JobId));
    }

    private static void Drain(SharedMemoryTransport t, RecordingSink sink, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        if (t.Poll(sink) == 0)
            Thread.SpinWait(20);
    }

    private static ulong Fnv(byte[] bytes)
    {
        ulong hash = 14695981039346656037;
        foreach (byte b in bytes)
            hash = (hash ^ b) * 1099511628211;
        return hash;
    }
}
