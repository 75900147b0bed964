using SharpMpi.Engine;

namespace SharpMpi.Transport;

/// <summary>Receives the frames a transport reads. Called by the engine's progress thread only.</summary>
internal interface IFrameSink
{
    /// <summary>
    /// Handles one frame from world rank <paramref name="peer"/>. <paramref name="payload"/> is valid only
    /// during the call (it may point into a shared-memory ring): copy what must outlive it.
    /// </summary>
    void OnFrame(int peer, in FrameHeader header, ReadOnlySpan<byte> payload);

    /// <summary>
    /// Where the next <paramref name="length"/> bytes of the streamed <see cref="FrameKind.Data"/> frame
    /// <paramref name="header"/> from <paramref name="peer"/> belong (the receiver's own buffer), or null when
    /// they must go through <see cref="OnFrame"/> as a copy. A transport that can read straight into it
    /// (TCP) does, then calls <see cref="OnFrame"/> with a payload that points at this very memory.
    /// </summary>
    unsafe byte* StreamDestination(int peer, in FrameHeader header, int length) => null;
}

/// <summary>
/// Moves frames between ranks. The contract (like MPICH's shm/netmod split): transports never block
/// and never queue — <see cref="TrySend"/> says "no room" and the engine keeps the frame and retries;
/// frames from one peer are delivered in the order they were sent. All calls on one instance are
/// serialized by the engine (one progress lock), so a transport needs no locking of its own except
/// for state that its own background threads touch.
/// </summary>
internal interface ITransport : IDisposable
{
    /// <summary>Short name for diagnostics ("shm", "tcp", "inproc").</summary>
    string Name { get; }

    /// <summary>Largest payload that one frame may carry; messages above the eager limit are chunked to this.</summary>
    int MaxFramePayload { get; }

    /// <summary>Messages up to this many bytes go eagerly (header and payload in one frame).</summary>
    int EagerLimit { get; }

    /// <summary>
    /// Writes one frame to <paramref name="peer"/> (a world rank this transport serves) if there is room.
    /// <paramref name="payload"/> is at most <see cref="MaxFramePayload"/> bytes and
    /// <c>header.PayloadLength == payload.Length</c>. Returns false when the peer's queue is full.
    /// </summary>
    bool TrySend(int peer, in FrameHeader header, ReadOnlySpan<byte> payload);

    /// <summary>Delivers waiting frames to <paramref name="sink"/>; returns how many.</summary>
    int Poll(IFrameSink sink);

    /// <summary>True when this rank may read <paramref name="peer"/>'s memory directly (process_vm_readv).</summary>
    bool CanPull(int peer);

    /// <summary>Smallest message worth a <see cref="Pull(int, ulong, Span{byte})"/>; smaller rendezvous messages are streamed.</summary>
    long PullThreshold => 0;

    /// <summary>Copies <paramref name="destination"/>.Length bytes from <paramref name="address"/> in <paramref name="peer"/>'s address space.</summary>
    void Pull(int peer, ulong address, Span<byte> destination);

    /// <summary>
    /// Copies <paramref name="length"/> bytes (any length, also above the 2 GiB a span can hold) from
    /// <paramref name="address"/> in <paramref name="peer"/>'s address space to <paramref name="destination"/>.
    /// The default splits it into <see cref="Pull(int, ulong, Span{byte})"/> calls of at most 1 GiB.
    /// </summary>
    unsafe void Pull(int peer, ulong address, byte* destination, long length)
    {
        const int Chunk = 1 << 30;
        for (long done = 0; done < length; done += Chunk)
            Pull(peer, address + (ulong)done, new Span<byte>(destination + done, (int)Math.Min(Chunk, length - done)));
    }

    /// <summary>
    /// True when a frame may be waiting (cheap check used before the progress engine goes to sleep on
    /// its doorbell; a false positive only costs one more poll).
    /// </summary>
    bool HasPendingInput { get; }

    /// <summary>
    /// False only when a poll would certainly find nothing to do; read in the spin loop of every wait, so it
    /// must be a few plain memory reads with no side effects. Transports that cannot tell cheaply (or have
    /// output of their own to push) keep the default, true: they are polled on every spin.
    /// </summary>
    bool MayHaveInput => true;

    /// <summary>
    /// True when <see cref="Wake"/> works: a peer that sleeps on its doorbell can be woken without a frame. When
    /// false, whoever needs a peer woken must send it a frame instead.
    /// </summary>
    bool CanWake => false;

    /// <summary>
    /// Wakes <paramref name="peer"/> if it sleeps on its doorbell, after this rank changed memory the peer waits
    /// on without a frame (a shared-window barrier). Does nothing unless <see cref="CanWake"/>.
    /// </summary>
    void Wake(int peer)
    {
    }

    /// <summary>
    /// Checks whether a peer died (called rarely: when a waiting rank wakes from a long sleep). Returns
    /// true with the peer's world rank and a reason when one did.
    /// </summary>
    bool TryFindFailedPeer(out int peer, out string reason)
    {
        peer = -1;
        reason = "";
        return false;
    }
}
