using System.Runtime.InteropServices;
using SharpMpi.Engine;
using SharpMpi.Transport.SharedMemory;
using Xunit;

namespace SharpMpi.Transport.Tests.SharedMemory;

public sealed class SharedMemoryTransportTests
{
    private static readonly SharedMemoryOptions s_smallRing = new() { RingCapacity = SpscRing.MinCapacity, EagerLimit = 1024 };

    [Fact(Timeout = 60_000)]
    public async Task Create_ThreeRanks_UnlinksSegmentsAndReportsLimits()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using ShmJob job = await ShmJob.StartAsync([2, 5, 7], ct);
        Assert.Empty(ShmJob.Leftovers(job.JobId));
        SharedMemoryTransport t = job[5];
        Assert.Equal("shm", t.Name);
        Assert.Equal(SharedMemoryOptions.DefaultEagerLimit, t.EagerLimit);
        Assert.Equal(SpscRing.MaxPayload(SharedMemoryOptions.DefaultRingCapacity), t.MaxFramePayload);
        Assert.Equal([2, 7], t.Peers.ToArray());
        Assert.False(t.HasPendingInput);
        Assert.True(t.CanPull(2));
        Assert.True(t.IsPeerAlive(7));
    }

    [Fact(Timeout = 60_000)]
    public async Task TrySend_AllPairs_ArriveInOrderPerPeer()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        int[] ranks = [1, 4, 6, 9];
        using ShmJob job = await ShmJob.StartAsync(ranks, ct, s_smallRing);
        const int FramesPerPair = 500;
        var sinks = new RecordingSink[ranks.Length];
        for (int i = 0; i < sinks.Length; i++)
            sinks[i] = new RecordingSink();

        await Threads.Start(() =>
        {
            // One thread plays every rank: each sends to every peer in turn and polls when a ring is full.
            var next = new int[ranks.Length, ranks.Length];
            bool pending = true;
            while (pending)
            {
                ct.ThrowIfCancellationRequested();
                pending = false;
                for (int s = 0; s < ranks.Length; s++)
                {
                    for (int d = 0; d < ranks.Length; d++)
                    {
                        if (s == d || next[s, d] == FramesPerPair)
                            continue;
                        int seq = next[s, d];
                        byte[] payload = Pattern.Make(seq % 97, (ranks[s] * 1000) + (ranks[d] * 100_000) + seq);
                        if (job.Transports[s].TrySend(ranks[d], Pattern.Header(payload.Length, seq, tag: ranks[s]), payload))
                            next[s, d]++;
                        pending = true;
                    }
                }

                for (int r = 0; r < ranks.Length; r++)
                    job.Transports[r].Poll(sinks[r]);
            }

            for (int r = 0; r < ranks.Length; r++)
            {
                while (job.Transports[r].Poll(sinks[r]) > 0)
                {
                }
            }
        }, ct);

        for (int d = 0; d < ranks.Length; d++)
        {
            Assert.Equal((ranks.Length - 1) * FramesPerPair, sinks[d].Frames.Count);
            var expected = new Dictionary<int, long>();
            foreach (ReceivedFrame frame in sinks[d].Frames)
            {
                Assert.Equal(frame.Peer, frame.Header.Tag);
                long seq = expected.GetValueOrDefault(frame.Peer);
                Assert.Equal(seq, frame.Header.Cookie);
                Assert.Equal(Pattern.Make((int)(seq % 97), (frame.Peer * 1000) + (ranks[d] * 100_000) + seq), frame.Payload);
                expected[frame.Peer] = seq + 1;
            }
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task TrySend_RandomSizesAcrossWrapAroundOnTwoThreads_EveryByteArrives()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using ShmJob job = await ShmJob.StartAsync([0, 1], ct, s_smallRing);
        SharedMemoryTransport sender = job[0], receiver = job[1];
        const int Frames = 40_000;
        int maxPayload = sender.MaxFramePayload;

        Task produce = Threads.Start(() =>
        {
            var random = new Random(12345);
            var buffer = new byte[maxPayload];
            for (int seq = 0; seq < Frames; seq++)
            {
                // Mostly small frames, sometimes the largest, sometimes empty: every wrap position gets hit.
                int length = random.Next(8) switch
                {
                    0 => 0,
                    1 => maxPayload,
                    2 => random.Next(maxPayload + 1),
                    _ => random.Next(64),
                };
                Span<byte> payload = buffer.AsSpan(0, length);
                Pattern.Fill(payload, seq);
                FrameHeader header = Pattern.Header(length, seq);
                var spin = new SpinWait();
                while (!sender.TrySend(1, header, payload))
                {
                    ct.ThrowIfCancellationRequested();
                    spin.SpinOnce(sleep1Threshold: -1);
                }
            }
        }, ct);

        var sink = new CheckingSink();
        Task consume = Threads.Start(() =>
        {
            var spin = new SpinWait();
            while (sink.Received < Frames)
            {
                if (receiver.Poll(sink) == 0)
                {
                    ct.ThrowIfCancellationRequested();
                    spin.SpinOnce(sleep1Threshold: -1);
                }
            }
        }, ct);

        await Task.WhenAll(produce, consume);
        Assert.Equal(Frames, sink.Received);
        Assert.False(receiver.HasPendingInput);
    }

    [Fact(Timeout = 60_000)]
    public async Task TrySend_RingFull_ReturnsFalseUntilConsumerPolls()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using ShmJob job = await ShmJob.StartAsync([0, 1], ct, s_smallRing);
        SharedMemoryTransport sender = job[0], receiver = job[1];
        byte[] payload = Pattern.Make(8, 1); // one 64-byte line a frame: the 4 KiB ring holds 63 (one line stays free)
        int sent = 0;
        while (sender.TrySend(1, Pattern.Header(payload.Length, sent), payload))
            sent++;

        int frameSize = SpscRing.FrameSize(payload.Length);
        Assert.Equal(64, frameSize);
        Assert.Equal(SpscRing.MinCapacity / frameSize - 1, sent);
        Assert.False(sender.TrySend(1, Pattern.Header(payload.Length, sent), payload));
        Assert.True(receiver.HasPendingInput);

        var sink = new RecordingSink();
        Assert.Equal(SharedMemoryTransport.MaxFramesPerPeerPerPoll, receiver.Poll(sink));
        Assert.True(sender.TrySend(1, Pattern.Header(payload.Length, sent), payload));
        sent++;
        while (receiver.Poll(sink) > 0)
        {
        }

        Assert.False(receiver.HasPendingInput);
        Assert.Equal(sent, sink.Frames.Count);
        for (int i = 0; i < sent; i++)
            Assert.Equal(i, sink.Frames[i].Header.Cookie);
    }

    [Fact(Timeout = 60_000)]
    public async Task TrySend_EmptyAndLargestPayload_Delivered()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using ShmJob job = await ShmJob.StartAsync([0, 1], ct);
        SharedMemoryTransport sender = job[0], receiver = job[1];
        byte[] largest = Pattern.Make(sender.MaxFramePayload, 7);
        Assert.True(sender.TrySend(1, Pattern.Header(0, 0), []));
        Assert.True(sender.TrySend(1, Pattern.Header(largest.Length, 1), largest));
        var sink = new RecordingSink();
        Assert.Equal(2, receiver.Poll(sink));
        Assert.Empty(sink.Frames[0].Payload);
        Assert.Equal(0, sink.Frames[0].Header.PayloadLength);
        Assert.Equal(largest, sink.Frames[1].Payload);
        Assert.Equal(FrameKind.Eager, sink.Frames[1].Header.Kind);
        Assert.Equal(~1UL, sink.Frames[1].Header.Address);
    }

    [Fact(Timeout = 60_000)]
    public async Task Poll_SinkThrows_FrameDeliveredAgain()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using ShmJob job = await ShmJob.StartAsync([0, 1], ct);
        byte[] payload = Pattern.Make(10, 3);
        Assert.True(job[0].TrySend(1, Pattern.Header(10, 0), payload));
        Assert.True(job[0].TrySend(1, Pattern.Header(10, 1), payload));
        var throwing = new ThrowingSink();
        Assert.Throws<InvalidOperationException>(() => job[1].Poll(throwing));
        var sink = new RecordingSink();
        Assert.Equal(2, job[1].Poll(sink));
        Assert.Equal(0, sink.Frames[0].Header.Cookie);
    }

    [Fact(Timeout = 60_000)]
    public async Task Pull_PinnedBuffer_CopiesBytes()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using ShmJob job = await ShmJob.StartAsync([0, 1], ct);
        Assert.True(job[1].CanPull(0));
        byte[] source = GC.AllocateArray<byte>(1 << 20, pinned: true);
        Pattern.Fill(source, 99);
        ulong address = (ulong)Marshal.UnsafeAddrOfPinnedArrayElement(source, 0);
        foreach (int length in (int[])[0, 1, 4095, 1 << 20])
        {
            var destination = new byte[length];
            job[1].Pull(0, address, destination);
            Assert.True(source.AsSpan(0, length).SequenceEqual(destination));
        }

        var tail = new byte[100];
        job[1].Pull(0, address + (ulong)(source.Length - 100), tail);
        Assert.True(source.AsSpan(source.Length - 100).SequenceEqual(tail));
    }

    [Fact(Timeout = 60_000)]
    public async Task Pull_UnmappedAddress_ThrowsIOExceptionWithErrno()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using ShmJob job = await ShmJob.StartAsync([0, 1], ct);
        var destination = new byte[16];
        IOException e = Assert.Throws<IOException>(() => job[1].Pull(0, 8, destination));
        Assert.Contains("errno 14", e.Message); // EFAULT
        Assert.Contains("rank 0", e.Message);
    }

    [Fact(Timeout = 300_000)]
    public async Task Pull_MoreThan2GiB_CopiesBytes()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        const long Length = (2L << 30) + (3 << 20) + 5;
        if (AvailableMemoryBytes() < (2 * Length) + (2L << 30))
            Assert.Skip($"needs {2 * Length >> 20} MiB of free memory plus headroom");
        using ShmJob job = await ShmJob.StartAsync([0, 1], ct);
        ITransport puller = job[1];
        await Threads.Start(() =>
        {
            unsafe
            {
                byte* source = (byte*)NativeMemory.Alloc((nuint)Length);
                byte* destination = (byte*)NativeMemory.Alloc((nuint)Length);
                try
                {
                    long words = Length / 8;
                    for (long i = 0; i < words; i++)
                        ((ulong*)source)[i] = (ulong)i * 0x9E3779B97F4A7C15;
                    for (long i = words * 8; i < Length; i++)
                        source[i] = (byte)i;

                    puller.Pull(0, (ulong)source, destination, Length);

                    for (long done = 0; done < Length; done += 1 << 30)
                    {
                        int chunk = (int)Math.Min(1 << 30, Length - done);
                        Assert.True(new ReadOnlySpan<byte>(source + done, chunk).SequenceEqual(new ReadOnlySpan<byte>(destination + done, chunk)), $"mismatch in the GiB at {done}");
                    }
                }
                finally
                {
                    NativeMemory.Free(source);
                    NativeMemory.Free(destination);
                }
            }
        }, ct);
    }

    [Fact(Timeout = 60_000)]
    public async Task Create_SingleCopyOff_CannotPull()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using ShmJob job = await ShmJob.StartAsync([0, 1], ct, new SharedMemoryOptions { SingleCopy = false });
        Assert.False(job[0].CanPull(1));
        Assert.False(job[1].CanPull(0));
    }

    [Fact(Timeout = 60_000)]
    public async Task Doorbell_ReceiverSleeps_WakesOnEachSend()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using ShmJob job = await ShmJob.StartAsync([0, 1], ct);
        SharedMemoryTransport sender = job[0], receiver = job[1];
        const int Rounds = 20;
        var sink = new CountingSink();
        Task sleeper = Threads.Start(() =>
        {
            while (sink.Count < Rounds)
            {
                // A 30 s futex timeout: if a wake-up were lost the test would hit its own timeout.
                receiver.Doorbell.Sleep(static t => t.HasPendingInput, receiver, 30_000_000);
                receiver.Poll(sink);
            }
        }, ct);

        byte[] payload = Pattern.Make(8, 0);
        for (int i = 0; i < Rounds; i++)
        {
            var spin = new SpinWait();
            while (!receiver.IsSleeping && !sleeper.IsCompleted)
            {
                ct.ThrowIfCancellationRequested();
                spin.SpinOnce();
            }
            Assert.True(sender.TrySend(1, Pattern.Header(8, i), payload));
            while (sink.Count <= i && !sleeper.IsCompleted)
            {
                ct.ThrowIfCancellationRequested();
                spin.SpinOnce();
            }
        }

        await sleeper;
        Assert.Equal(Rounds, sink.Count);
    }

    [Fact(Timeout = 60_000)]
    public async Task Doorbell_InProcessRing_WakesSleeper()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using ShmJob job = await ShmJob.StartAsync([0, 1], ct);
        SharedMemoryTransport t = job[0];
        bool flag = false;
        Task sleeper = Threads.Start(() =>
        {
            while (!Volatile.Read(ref flag))
                t.Doorbell.Sleep(static _ => false, 0, 30_000_000);
        }, ct);
        var spin = new SpinWait();
        while (!t.IsSleeping)
        {
            ct.ThrowIfCancellationRequested();
            spin.SpinOnce();
        }
        Volatile.Write(ref flag, true);
        t.Doorbell.Ring();
        await sleeper;
    }

    [Fact(Timeout = 60_000)]
    public async Task Create_FenceThrows_LeavesNothingInDevShm()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        string jobId = ShmJob.NewJobId();
        await Threads.Start(() =>
            Assert.Throws<TimeoutException>(() => SharedMemoryTransport.Create(new SharedMemoryOptions(), jobId, 0, [0, 1], () => throw new TimeoutException("kvs fence"))), ct);
        Assert.Empty(ShmJob.Leftovers(jobId));
    }

    [Fact(Timeout = 60_000)]
    public async Task Create_PeerNeverCreatesSegment_ThrowsAndLeavesNothing()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        string jobId = ShmJob.NewJobId();
        await Threads.Start(() =>
            Assert.Throws<FileNotFoundException>(() => SharedMemoryTransport.Create(new SharedMemoryOptions(), jobId, 0, [0, 1], () => { })), ct);
        Assert.Empty(ShmJob.Leftovers(jobId));
    }

    [Fact(Timeout = 60_000)]
    public async Task Create_PeerSegmentIsJunk_ThrowsInvalidDataAndRemovesOwnSegment()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        string jobId = ShmJob.NewJobId();
        string junk = SharedSegment.PathFor(jobId, 1);
        await File.WriteAllBytesAsync(junk, new byte[4096], TestContext.Current.CancellationToken);
        try
        {
            await Threads.Start(() =>
                Assert.Throws<InvalidDataException>(() => SharedMemoryTransport.Create(new SharedMemoryOptions(), jobId, 0, [0, 1], () => { })), ct);
            Assert.False(File.Exists(SharedSegment.PathFor(jobId, 0)));
        }
        finally
        {
            File.Delete(junk);
        }

        Assert.Empty(ShmJob.Leftovers(jobId));
    }

    [Fact(Timeout = 60_000)]
    public async Task Create_OwnSegmentExists_ThrowsIOExceptionAndKeepsForeignFile()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        string jobId = ShmJob.NewJobId();
        string stale = SharedSegment.PathFor(jobId, 0);
        await File.WriteAllBytesAsync(stale, [1, 2, 3], TestContext.Current.CancellationToken);
        try
        {
            IOException e = await Threads.Start(() =>
                Assert.Throws<IOException>(() => SharedMemoryTransport.Create(new SharedMemoryOptions(), jobId, 0, [0], () => { })), ct);
            Assert.Contains("exists already", e.Message);
            Assert.Equal([1, 2, 3], await File.ReadAllBytesAsync(stale, TestContext.Current.CancellationToken));
        }
        finally
        {
            File.Delete(stale);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task Create_RanksDisagreeOnRingSize_BothThrowAndOneNamesTheSetting()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        string jobId = ShmJob.NewJobId();
        var barrier = new Barrier(2);
        Task<Exception> Start(int rank, int capacity) => Threads.Start(() =>
            Assert.ThrowsAny<Exception>(() => SharedMemoryTransport.Create(new SharedMemoryOptions { RingCapacity = capacity, EagerLimit = 1024 }, jobId, rank, [0, 1], () => ShmJob.Fence(barrier, ct))), ct);

        Exception[] errors = await Task.WhenAll(Start(0, 4096), Start(1, 8192));

        // Whoever checks first removes its segment on the way out, so the other may find it gone instead.
        Assert.All(errors, e => Assert.True(e is InvalidDataException or FileNotFoundException, e.ToString()));
        Assert.Contains(errors, e => e is InvalidDataException && e.Message.Contains(SharedMemoryOptions.RingSizeVariable, StringComparison.Ordinal));

        Assert.Empty(ShmJob.Leftovers(jobId));
    }

    [Fact(Timeout = 60_000)]
    public async Task Create_SingleRank_WorksWithoutPeers()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        string jobId = ShmJob.NewJobId();
        using SharedMemoryTransport t = await Threads.Start(() => SharedMemoryTransport.Create(new SharedMemoryOptions(), jobId, 3, [3], () => { }), ct);
        Assert.Equal(0, t.Poll(new RecordingSink()));
        Assert.False(t.HasPendingInput);
        Assert.Empty(ShmJob.Leftovers(jobId));
    }

    [Theory(Timeout = 60_000)]
    [InlineData("bad/id", new[] { 0 }, 0)]
    [InlineData("", new[] { 0 }, 0)]
    [InlineData("job", new[] { 1, 0 }, 0)]
    [InlineData("job", new[] { 0, 0 }, 0)]
    [InlineData("job", new[] { 0, 2 }, 1)]
    public async Task Create_BadArguments_ThrowArgumentException(string jobId, int[] ranks, int rank)
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        await Threads.Start(() =>
            Assert.ThrowsAny<ArgumentException>(() => SharedMemoryTransport.Create(new SharedMemoryOptions(), jobId, rank, ranks, () => { })), ct);
        Assert.Empty(ShmJob.Leftovers("job"));
    }

    [Fact(Timeout = 60_000)]
    public async Task Create_BadOptions_ThrowsArgumentExceptionNamingTheSetting()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        ArgumentException e = await Threads.Start(() => Assert.Throws<ArgumentException>(() =>
            SharedMemoryTransport.Create(new SharedMemoryOptions { RingCapacity = 5000 }, "job", 0, [0], () => { })), ct);
        Assert.Contains(SharedMemoryOptions.RingSizeVariable, e.Message);
        Assert.Equal(nameof(SharedMemoryOptions.RingCapacity), e.ParamName);
    }

    private static long AvailableMemoryBytes()
    {
        foreach (string line in File.ReadLines("/proc/meminfo"))
        {
            if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                return long.Parse(line.AsSpan(13).Trim().TrimEnd("kB").Trim(), System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }

        return 0;
    }

    /// <summary>Checks every frame of the wrap-around test as it arrives, without keeping it.</summary>
    private sealed class CheckingSink : IFrameSink
    {
        private byte[] _expected = new byte[64 * 1024];

        public int Received { get; private set; }

        public void OnFrame(int peer, in FrameHeader header, ReadOnlySpan<byte> payload)
        {
            Assert.Equal(0, peer);
            Assert.Equal(Received, header.Cookie);
            Assert.Equal(~(ulong)Received, header.Address);
            Assert.Equal(payload.Length, header.PayloadLength);
            Assert.Equal(payload.Length, header.MessageLength);
            if (_expected.Length < payload.Length)
                _expected = new byte[payload.Length];
            Span<byte> expected = _expected.AsSpan(0, payload.Length);
            Pattern.Fill(expected, Received);
            Assert.True(expected.SequenceEqual(payload), $"payload of frame {Received} differs");
            Received++;
        }
    }

    /// <summary>Counts frames; read from another thread.</summary>
    private sealed class CountingSink : IFrameSink
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public void OnFrame(int peer, in FrameHeader header, ReadOnlySpan<byte> payload) => Interlocked.Increment(ref _count);
    }

    private sealed class ThrowingSink : IFrameSink
    {
        public void OnFrame(int peer, in FrameHeader header, ReadOnlySpan<byte> payload) =>
            throw new InvalidOperationException("sink failed");
    }
}
