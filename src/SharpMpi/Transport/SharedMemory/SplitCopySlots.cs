using System.Diagnostics;
using System.Numerics;

namespace SharpMpi.Transport.SharedMemory;

/// <summary>
/// The split-copy slots in a rank's segment: shared counters through which the receiver and the sender of one
/// large single-copy message divide its chunks between them, so that both cores copy at once.
/// </summary>
/// <remarks>
/// <para>One process_vm_readv moves about as much per second as one core can copy; two processes copying
/// disjoint halves of a message (the receiver reading with process_vm_readv, the sender writing with
/// process_vm_writev) moved 1.7–1.9× as much here. The sender is usually idle anyway, waiting in Send or
/// Wait for the receiver to finish.</para>
/// <para>The receiver owns the slots of its own segment. For each large message it takes a free slot, gives
/// it a new generation, tells the sender (slot and generation) and starts copying at once. Each side claims
/// a chunk by a compare-and-swap of the slot's claim word (generation in the high half; the next chunk from
/// the front and the end of the unclaimed chunks at the back in the low half) and adds the bytes it copied
/// to the done word. A sender that arrives late finds every chunk
/// claimed, or a newer generation if the slot was reused meanwhile, and claims nothing: the receiver never
/// depends on the sender showing up. The receiver waits only for chunks the sender has claimed, which the
/// sender is copying at that moment, then frees the slot.</para>
/// <para>Layout: <see cref="Count"/> slots of <see cref="SlotSize"/> bytes; in each, the claim word at 0 and,
/// on its own cache line, the done word at 64 and the failed flag at 72.</para>
/// </remarks>
internal sealed unsafe class SplitCopySlots
{
    /// <summary>Slots per segment: split copies one receiver can have under way at once (more pull alone).</summary>
    public const int Count = 64;

    /// <summary>Bytes per slot (two cache lines).</summary>
    public const int SlotSize = 128;

    /// <summary>Bytes of the slot area in a segment.</summary>
    public const int AreaSize = Count * SlotSize;

    /// <summary>Smallest chunk: below it the system call and the claim cost more than splitting saves.</summary>
    public const long MinChunk = 256 * 1024;

    private const int DoneOffset = 64;
    private const int FailedOffset = 72;

    private readonly byte* _area;
    // Receiver side only (the owner's process): which slots are free, and the last generation of each.
    private ulong _used;
    private readonly int[] _generations = new int[Count];

    /// <summary>A view of the slot area at <paramref name="area"/> (zeroed by the segment's creation).</summary>
    public SplitCopySlots(byte* area) => _area = area;

    /// <summary>Bytes per chunk for a message of <paramref name="length"/> bytes: an eighth, at least <see cref="MinChunk"/>, whole 64 KiB.</summary>
    public static long ChunkSize(long length)
    {
        const long Align = 64 * 1024;
        long eighth = (length / 8 + Align - 1) & ~(Align - 1);
        return Math.Max(MinChunk, eighth);
    }

    /// <summary>Chunks of a message of <paramref name="length"/> bytes (at most 8, and 1 below 2 × <see cref="MinChunk"/>).</summary>
    public static int ChunkCount(long length)
    {
        long chunk = ChunkSize(length);
        return (int)((length + chunk - 1) / chunk);
    }

    /// <summary>Owner: takes a free slot for a message of <paramref name="length"/> bytes; false when all are in use.</summary>
    public bool TryOpen(long length, out int slot, out int generation)
    {
        slot = BitOperations.TrailingZeroCount(~_used);
        generation = 0;
        if (slot >= Count)
            return false;
        _used |= 1UL << slot;
        generation = _generations[slot] = _generations[slot] == int.MaxValue ? 1 : _generations[slot] + 1;
        byte* s = _area + slot * SlotSize;
        Volatile.Write(ref *(long*)(s + DoneOffset), 0);
        Volatile.Write(ref *(int*)(s + FailedOffset), 0);
        // Published last: a claim can only succeed once the done word and the flag are reset.
        Volatile.Write(ref *(long*)s, ClaimWord(generation, 0, ChunkCount(length)));
        return true;
    }

    /// <summary>Owner: the slot is done with (every chunk copied and waited for).</summary>
    public void Close(int slot) => _used &= ~(1UL << slot);

    /// <summary>
    /// Either side: claims chunks of the slot's message and copies each with <paramref name="copy"/>
    /// (offset, bytes) until none is left or the slot belongs to another generation. The receiver claims from
    /// the front, the sender from the back, so each copies one contiguous range: with the two interleaved
    /// (chunk by chunk) the pair moved 20 GB/s here, with a range each 37 GB/s. A copy that returns false
    /// marks the slot failed (the receiver then copies the whole message itself) and stops this side.
    /// </summary>
    public static void CopyChunks<TCopy>(byte* area, int slot, int generation, long length, bool fromFront, ref TCopy copy)
        where TCopy : struct, IChunkCopy
    {
        byte* s = area + slot * SlotSize;
        long* claim = (long*)s;
        long chunk = ChunkSize(length);
        while (true)
        {
            long word = Volatile.Read(ref *claim);
            if ((int)(word >> 32) != generation)
                return;
            int front = (int)(word >> 16) & 0xFFFF, back = (int)word & 0xFFFF;
            if (front >= back)
                return;
            int taken = fromFront ? front : back - 1;
            long next = fromFront ? ClaimWord(generation, front + 1, back) : ClaimWord(generation, front, back - 1);
            if (Interlocked.CompareExchange(ref *claim, next, word) != word)
                continue;
            long offset = taken * chunk;
            long bytes = Math.Min(chunk, length - offset);
            if (!copy.Copy(offset, bytes))
                Volatile.Write(ref *(int*)(s + FailedOffset), 1);
            Interlocked.Add(ref *(long*)(s + DoneOffset), bytes);
            if (Volatile.Read(ref *(int*)(s + FailedOffset)) != 0)
                return;
        }
    }

    /// <summary>The claim word: generation, next chunk from the front, one past the last unclaimed chunk from the back.</summary>
    private static long ClaimWord(int generation, int front, int back) => ((long)generation << 32) | ((long)front << 16) | (uint)back;

    /// <summary>The slot area's address in this process.</summary>
    public byte* Area => _area;

    /// <summary>
    /// Owner: waits until all <paramref name="length"/> bytes of the slot's message are copied (the other side
    /// may be finishing a chunk it claimed); false when a copy of the other side failed.
    /// </summary>
    /// <exception cref="IOException">The peer died before finishing its chunk.</exception>
    public bool WaitDone(int slot, long length, SharedMemoryTransport transport, int peer)
    {
        byte* s = _area + slot * SlotSize;
        long* done = (long*)(s + DoneOffset);
        var spin = new SpinWait();
        long started = 0;
        while (Volatile.Read(ref *done) < length)
        {
            spin.SpinOnce(sleep1Threshold: -1);
            // A chunk takes microseconds; a peer that died in the middle of one never adds it.
            if (spin.Count % 1024 == 0)
            {
                if (started == 0)
                    started = Stopwatch.GetTimestamp();
                else if (Stopwatch.GetElapsedTime(started).TotalMilliseconds > 100 && !transport.IsPeerAlive(peer))
                    throw new IOException($"rank {peer} died during a split copy of a {length}-byte message to this rank.");
            }
        }
        return Volatile.Read(ref *(int*)(s + FailedOffset)) == 0;
    }
}

/// <summary>Copies one chunk of a split copy: <c>bytes</c> at <c>offset</c> of the message; false when the system call failed.</summary>
internal interface IChunkCopy
{
    bool Copy(long offset, long bytes);
}
