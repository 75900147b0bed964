using System.Buffers;
using SharpMpi.Engine;

namespace SharpMpi.Transport.InProcess;

/// <summary>
/// One rank's end of an <see cref="InProcessHub"/>. Sending copies the payload into a pooled array and
/// enqueues it on the peer's inbox; "pulling" is a memcpy, since both ranks share the address space.
/// </summary>
internal sealed unsafe class InProcessTransport : ITransport
{
    private const int PollBatch = 64;
    private readonly InProcessHub _hub;
    private readonly InProcessHub.Inbox _inbox;
    private readonly int _worldRank;

    public InProcessTransport(InProcessHub hub, int worldRank)
    {
        _hub = hub;
        _inbox = hub.InboxOf(worldRank);
        _worldRank = worldRank;
    }

    public string Name => "inproc";

    public int MaxFramePayload => _hub.Options.MaxFramePayload;

    public int EagerLimit => _hub.Options.EagerLimit;

    public Doorbell Doorbell => _inbox.Doorbell;

    public bool HasPendingInput => !_inbox.Frames.IsEmpty;

    public bool MayHaveInput => HasPendingInput;

    public bool TrySend(int peer, in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        byte[]? copy = null;
        if (payload.Length > 0)
        {
            copy = ArrayPool<byte>.Shared.Rent(payload.Length);
            payload.CopyTo(copy);
        }
        var target = _hub.InboxOf(peer);
        target.Frames.Enqueue(new InProcessHub.Frame(_worldRank, header, copy));
        target.Doorbell.Ring();
        return true;
    }

    public bool CanWake => true;

    public void Wake(int peer) => _hub.InboxOf(peer).Doorbell.Ring();

    public int Poll(IFrameSink sink)
    {
        int n = 0;
        while (n < PollBatch && _inbox.Frames.TryDequeue(out var frame))
        {
            var payload = frame.Payload is null ? ReadOnlySpan<byte>.Empty : frame.Payload.AsSpan(0, frame.Header.PayloadLength);
            try
            {
                sink.OnFrame(frame.Peer, frame.Header, payload);
            }
            finally
            {
                if (frame.Payload is not null)
                    ArrayPool<byte>.Shared.Return(frame.Payload);
            }
            n++;
        }
        return n;
    }

    public bool CanPull(int peer) => _hub.Options.SingleCopy;

    public void Pull(int peer, ulong address, Span<byte> destination) =>
        new ReadOnlySpan<byte>((void*)address, destination.Length).CopyTo(destination);

    public void Dispose()
    {
    }
}
