using System.Diagnostics;
using System.Runtime.CompilerServices;
using SharpMpi.Engine;

namespace SharpMpi.Transport.SharedMemory;

/// <summary>
/// A single-producer single-consumer byte ring of frames over raw (shared) memory. Each process keeps its
/// own copy of this struct over the same memory: the sender uses the producer half
/// (<see cref="TryWrite"/>), the receiver the consumer half (<see cref="Drain"/>).
/// </summary>
/// <remarks>
/// <para>Memory at the ring's address (see <see cref="SharedSegment"/>): a 128-byte region the producer
/// writes its tail counter to (for diagnostics; the consumer never reads it), the consumer-owned head in
/// the next one, then <c>capacity</c> data bytes. Head and tail are 64-bit byte counters that only grow
/// (they never wrap in practice: 2^63 bytes); the position in the data area is
/// <c>counter &amp; (capacity − 1)</c>.</para>
/// <para>A frame is an 8-byte stamp, a <see cref="FrameHeader"/>, then the payload, padded to whole 64-byte
/// cache lines and always contiguous; a frame with up to 8 payload bytes is exactly one line. When a frame
/// does not fit before the end of the data area, the producer writes a <see cref="FrameKind.Wrap"/> frame
/// and continues at offset 0. A frame is at most half the ring, so an empty ring always has room for it
/// wherever the counters stand.</para>
/// <para>Publication is by the stamp, not by a shared tail: the stamp of the frame at counter <c>c</c> is
/// <c>c + 1</c>, stored last with a release store. A waiting consumer therefore polls the very line the
/// next frame arrives in, and a small message costs one cache-line transfer between the cores instead of
/// two (tail, then frame) read one after the other. Stale bytes cannot pass for a stamp: before the
/// producer publishes a frame it zeroes the stamp word where the next frame will start (so payload left
/// there from an earlier lap is never read as one), and a stamp of an earlier lap differs by a multiple of
/// the capacity. To zero that word safely the producer always leaves one line free.</para>
/// <para>Ordering: the consumer reads the stamp with an acquire load before it reads the frame, and
/// publishes the head with a release store only after the sink returned, so the producer never
/// overwrites a frame being read. The producer caches the head and re-reads the shared one only when the
/// cached value says "full".</para>
/// </remarks>
internal unsafe struct SpscRing
{
    /// <summary>Smallest data area.</summary>
    public const int MinCapacity = 4096;

    /// <summary>Largest data area (1 GiB).</summary>
    public const int MaxCapacity = 1 << 30;

    /// <summary>Offset of the tail counter from the ring's address.</summary>
    public const int TailOffset = 0;

    /// <summary>Offset of the head counter from the ring's address.</summary>
    public const int HeadOffset = 128;

    /// <summary>Offset of the data area from the ring's address.</summary>
    public const int DataOffset = 256;

    /// <summary>Bytes of a frame before its payload: the stamp and the header.</summary>
    public const int FrameOverhead = StampSize + FrameHeader.Size;

    private const int StampSize = 8;
    private const int LineSize = 64;

    private readonly long* _tail;
    private readonly long* _head;
    private readonly byte* _data;
    private readonly int _capacity;

    /// <summary>Producer: the counter where its next frame goes.</summary>
    private long _producerTail;

    /// <summary>Producer: the last head read from shared memory; a lower bound of the real one.</summary>
    private long _cachedHead;

    /// <summary>Consumer: the head as this side last published it.</summary>
    private long _consumerHead;

    /// <summary>A view of the ring at <paramref name="ring"/> (tail, head, data) with a data area of <paramref name="capacity"/> bytes.</summary>
    public SpscRing(byte* ring, int capacity)
    {
        Debug.Assert(((nuint)ring & 127) == 0, "ring must be 128-byte aligned");
        Debug.Assert(capacity >= MinCapacity && (capacity & (capacity - 1)) == 0);
        _tail = (long*)(ring + TailOffset);
        _head = (long*)(ring + HeadOffset);
        _data = ring + DataOffset;
        _capacity = capacity;
        _producerTail = Volatile.Read(ref *_tail);
        _cachedHead = Volatile.Read(ref *_head);
        _consumerHead = _cachedHead;
    }

    /// <summary>Bytes the ring's memory takes: tail and head regions plus the data area.</summary>
    public static long Footprint(int capacity) => DataOffset + (long)capacity;

    /// <summary>
    /// Largest payload of one frame in a ring of <paramref name="capacity"/> bytes, a multiple of 8: two of the
    /// largest frames plus the line kept free fit at once, so a stream of them is pipelined (the producer
    /// writes the next while the consumer reads one).
    /// </summary>
    public static int MaxPayload(int capacity) => (capacity / 2 - LineSize - FrameOverhead) & ~7;

    /// <summary>
    /// Bytes a frame with <paramref name="payloadLength"/> payload bytes occupies: rounded up to whole
    /// 64-byte cache lines, so the producer never writes into a line the consumer is still reading (the
    /// previous frame's tail end).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int FrameSize(int payloadLength) => (FrameOverhead + payloadLength + LineSize - 1) & ~(LineSize - 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly long* StampAt(long counter) => (long*)(_data + ((int)counter & (_capacity - 1)));

    /// <summary>Consumer: true when a frame (or wrap padding) is waiting.</summary>
    public readonly bool HasInput
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Volatile.Read(ref *StampAt(_consumerHead)) == _consumerHead + 1;
    }

    /// <summary>
    /// Producer: copies one frame into the ring and publishes it, or returns false when there is no room.
    /// The frame's <see cref="FrameHeader.PayloadLength"/> is set to <paramref name="payload"/>'s length.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryWrite(in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        Debug.Assert(payload.Length <= MaxPayload(_capacity), "payload exceeds MaxFramePayload");
        int frame = FrameSize(payload.Length);
        long tail = _producerTail;
        int position = (int)tail & (_capacity - 1);
        int toEnd = _capacity - position;
        // One line more than the frame: the stamp word after the frame is zeroed before it is published.
        int needed = (toEnd >= frame ? frame : toEnd + frame) + LineSize;
        if (needed > _capacity - (tail - _cachedHead) && !Refresh(tail, needed))
            return false;

        long wrapAt = -1;
        if (toEnd < frame)
        {
            // Padding to the end of the data area; published after the frame that follows it at offset 0.
            var wrap = (FrameHeader*)(_data + position + StampSize);
            *wrap = default;
            wrap->Kind = FrameKind.Wrap;
            wrapAt = tail;
            tail += toEnd;
            position = 0;
        }

        byte* destination = _data + position;
        var written = (FrameHeader*)(destination + StampSize);
        *written = header;
        written->PayloadLength = payload.Length;
        payload.CopyTo(new Span<byte>(destination + FrameOverhead, payload.Length));
        long next = tail + frame;
        *StampAt(next) = 0;
        Volatile.Write(ref *(long*)destination, tail + 1);
        if (wrapAt >= 0)
            Volatile.Write(ref *StampAt(wrapAt), wrapAt + 1);
        _producerTail = next;
        Volatile.Write(ref *_tail, next);
        return true;
    }

    /// <summary>Producer: re-reads the consumer's head; true when <paramref name="needed"/> bytes are now free.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool Refresh(long tail, int needed)
    {
        _cachedHead = Volatile.Read(ref *_head);
        return needed <= _capacity - (tail - _cachedHead);
    }

    /// <summary>
    /// Consumer: hands up to <paramref name="maxFrames"/> waiting frames to <paramref name="sink"/> as coming
    /// from <paramref name="peer"/>, releasing each one's space after the sink returns. A frame whose sink
    /// call throws stays in the ring and is delivered again by the next call.
    /// </summary>
    /// <returns>Frames delivered (wrap padding is not counted).</returns>
    /// <exception cref="InvalidDataException">The ring holds a frame that cannot be valid (memory corrupted).</exception>
    public int Drain(IFrameSink sink, int peer, int maxFrames)
    {
        long head = _consumerHead;
        int delivered = 0;
        while (delivered < maxFrames && Volatile.Read(ref *StampAt(head)) == head + 1)
        {
            int position = (int)head & (_capacity - 1);
            int toEnd = _capacity - position;
            var frame = (FrameHeader*)(_data + position + StampSize);
            if (frame->Kind == FrameKind.Wrap)
            {
                head += toEnd;
            }
            else
            {
                int length = frame->PayloadLength;
                if ((uint)length > (uint)(toEnd - FrameOverhead))
                    ThrowCorrupt(peer, head, length);
                sink.OnFrame(peer, in *frame, new ReadOnlySpan<byte>((byte*)frame + FrameHeader.Size, length));
                head += FrameSize(length);
                delivered++;
            }

            _consumerHead = head;
            Volatile.Write(ref *_head, head);
        }

        return delivered;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowCorrupt(int peer, long head, int length) =>
        throw new InvalidDataException($"shared-memory ring from rank {peer} is corrupt: frame at byte {head} claims a payload of {length} bytes.");
}
