using System.Runtime.InteropServices;
using SharpMpi.Transport.SharedMemory;
using Xunit;

namespace SharpMpi.Transport.Tests.SharedMemory;

/// <summary>
/// Split copies between two transports of one process (threads as ranks; process_vm_readv/writev work on the
/// own process too): the receiver's and the sender's shares, a sender that comes late or never, and reuse.
/// </summary>
public sealed class SplitCopyTests
{
    [Theory(Timeout = 60_000)]
    [InlineData(512 * 1024)]
    [InlineData((1 << 20) + 4093)]
    [InlineData((8 << 20) + 1)]
    public async Task SplitCopy_SenderFirst_CopiesWhatIsLeftAndReceiverWaitsForNothing(int length)
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using ShmJob job = await ShmJob.StartAsync([0, 1], ct);
        using var buffers = new Buffers(length, seed: length);
        SharedMemoryTransport receiver = job[1], sender = job[0];
        Assert.True(receiver.TryOpenSplitCopy(0, length, out int slot, out int generation));
        // The sender gets there before the receiver starts: it takes every chunk, from the back.
        var helper = Threads.Start(() => buffers.Push(sender, 1, slot, generation), ct);
        await helper;
        await Threads.Start(() => buffers.Pull(receiver, 0, slot, generation), ct);
        buffers.AssertEqual();
    }

    [Fact(Timeout = 60_000)]
    public async Task SplitCopy_SenderConcurrent_BytesIntactEveryRound()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using ShmJob job = await ShmJob.StartAsync([0, 1], ct);
        const int Length = (3 << 20) + 123;
        using var buffers = new Buffers(Length, seed: 7);
        SharedMemoryTransport receiver = job[1], sender = job[0];
        for (int round = 0; round < 50; round++)
        {
            buffers.FillDestination(0);
            Assert.True(receiver.TryOpenSplitCopy(0, Length, out int slot, out int generation));
            using var start = new Barrier(2);
            var push = Threads.Start(() =>
            {
                start.SignalAndWait(ct);
                buffers.Push(sender, 1, slot, generation);
            }, ct);
            var pull = Threads.Start(() =>
            {
                start.SignalAndWait(ct);
                buffers.Pull(receiver, 0, slot, generation);
            }, ct);
            await Task.WhenAll(push, pull);
            buffers.AssertEqual();
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task SplitCopy_SenderLateAfterReuse_TouchesNothing()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using ShmJob job = await ShmJob.StartAsync([0, 1], ct);
        const int Length = 2 << 20;
        using var first = new Buffers(Length, seed: 1);
        using var second = new Buffers(Length, seed: 2);
        SharedMemoryTransport receiver = job[1], sender = job[0];
        await Threads.Start(() =>
        {
            // The receiver copies the first message alone, then reuses the slot for the second.
            Assert.True(receiver.TryOpenSplitCopy(0, Length, out int slot1, out int generation1));
            first.Pull(receiver, 0, slot1, generation1);
            Assert.True(receiver.TryOpenSplitCopy(0, Length, out int slot2, out int generation2));
            Assert.Equal(slot1, slot2);
            Assert.NotEqual(generation1, generation2);
            // The first message's invitation arrives now: wrong generation, so the sender claims nothing and
            // does not write into the first message's buffer.
            first.FillDestination(0xEE);
            first.Push(sender, 1, slot1, generation1);
            Assert.True(first.DestinationIsAll(0xEE));
            second.Pull(receiver, 0, slot2, generation2);
        }, ct);
        second.AssertEqual();
    }

    [Fact(Timeout = 60_000)]
    public async Task SplitCopy_AllSlotsTaken_FallsBackUntilOneIsFree()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        using ShmJob job = await ShmJob.StartAsync([0, 1], ct);
        SharedMemoryTransport receiver = job[1];
        const int Length = 1 << 20;
        using var buffers = new Buffers(Length, seed: 3);
        await Threads.Start(() =>
        {
            var open = new List<(int Slot, int Generation)>();
            while (receiver.TryOpenSplitCopy(0, Length, out int slot, out int generation))
                open.Add((slot, generation));
            Assert.Equal(SplitCopySlots.Count, open.Count);
            // Finishing one (alone) frees its slot for the next message.
            buffers.Pull(receiver, 0, open[5].Slot, open[5].Generation);
            Assert.True(receiver.TryOpenSplitCopy(0, Length, out int again, out _));
            Assert.Equal(open[5].Slot, again);
        }, ct);
        buffers.AssertEqual();
    }

    [Fact]
    public void ChunkSize_AtMostEightChunksOfWhole64KiB()
    {
        Assert.Equal(1, SplitCopySlots.ChunkCount(SplitCopySlots.MinChunk));
        Assert.Equal(2, SplitCopySlots.ChunkCount(512 * 1024));
        foreach (long length in (long[])[(1 << 20) + 1, 8 << 20, (64 << 20) + 12345, 3L << 30])
        {
            Assert.InRange(SplitCopySlots.ChunkCount(length), 2, 8);
            Assert.Equal(0, SplitCopySlots.ChunkSize(length) % (64 * 1024));
        }
    }

    /// <summary>A source with a pattern and a destination, in native memory (so both are fixed).</summary>
    private sealed unsafe class Buffers : IDisposable
    {
        private readonly int _length;
        private readonly byte* _source;
        private readonly byte* _destination;

        public Buffers(int length, long seed)
        {
            _length = length;
            _source = (byte*)NativeMemory.Alloc((nuint)length);
            _destination = (byte*)NativeMemory.AllocZeroed((nuint)length);
            Pattern.Fill(new Span<byte>(_source, length), seed);
        }

        /// <summary>The sender's share: its source into our destination, as the receiver's peer.</summary>
        public void Push(SharedMemoryTransport sender, int receiver, int slot, int generation) =>
            sender.PushSplitCopy(receiver, slot, generation, _source, (ulong)_destination, _length);

        /// <summary>The receiver's share and the wait for the sender's.</summary>
        public void Pull(SharedMemoryTransport receiver, int sender, int slot, int generation) =>
            receiver.PullSplitCopy(sender, slot, generation, (ulong)_source, _destination, _length);

        public void FillDestination(byte value) => new Span<byte>(_destination, _length).Fill(value);

        public bool DestinationIsAll(byte value) => new ReadOnlySpan<byte>(_destination, _length).IndexOfAnyExcept(value) < 0;

        public void AssertEqual() =>
            Assert.True(new ReadOnlySpan<byte>(_source, _length).SequenceEqual(new ReadOnlySpan<byte>(_destination, _length)), "destination differs from source");

        public void Dispose()
        {
            NativeMemory.Free(_source);
            NativeMemory.Free(_destination);
        }
    }
}
