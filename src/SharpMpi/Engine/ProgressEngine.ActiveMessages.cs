using System.Buffers;

namespace SharpMpi.Engine;

/// <summary>
/// Receives the eager frames of one context as they arrive, instead of matching them with posted receives:
/// one-sided communication (RMA) is built on this. Runs under the engine lock, on whichever thread makes
/// progress (an MPI call of this rank, or the progress thread): it must not block, and may send.
/// </summary>
internal interface IActiveMessageHandler
{
    /// <summary>Handles one frame; <paramref name="payload"/> is valid only during the call.</summary>
    void OnActiveMessage(int peerWorld, in FrameHeader header, ReadOnlySpan<byte> payload);
}

/// <summary>
/// Active messages: frames on a registered context go to its handler (the hook is the first line of the
/// <see cref="FrameKind.Eager"/> case in OnFrame). They travel as eager frames whose header fields
/// Tag, Cookie, Address and MessageLength belong to the handler; frames from one peer stay in order.
/// </summary>
internal sealed unsafe partial class ProgressEngine
{
    private IActiveMessageHandler?[] _activeMessageHandlers = [];

    private static readonly Action<RequestCore> s_noCallback = static _ => { };

    /// <summary>Routes eager frames on <paramref name="context"/> to <paramref name="handler"/>.</summary>
    public void RegisterActiveMessages(int context, IActiveMessageHandler handler)
    {
        using (_lock.EnterScope())
        {
            var handlers = _activeMessageHandlers;
            if (context >= handlers.Length)
                Array.Resize(ref handlers, Math.Max(context + 1, handlers.Length * 2));
            handlers[context] = handler;
            _activeMessageHandlers = handlers;
        }
    }

    /// <summary>Stops routing <paramref name="context"/> to a handler.</summary>
    public void UnregisterActiveMessages(int context)
    {
        using (_lock.EnterScope())
        {
            if (context < _activeMessageHandlers.Length)
                _activeMessageHandlers[context] = null;
        }
    }

    /// <summary>Largest payload of one active message to <paramref name="destinationWorld"/>.</summary>
    public int ActiveMessageLimit(int destinationWorld)
    {
        var t = _routes[destinationWorld];
        return Math.Min(t.EagerLimit, t.MaxFramePayload);
    }

    /// <summary>
    /// Sends one active message (at most <see cref="ActiveMessageLimit"/> bytes): written to the transport now
    /// when there is room, else copied and queued behind earlier frames to the same peer. The caller's
    /// payload may be reused on return.
    /// </summary>
    public void SendActiveMessage(int destinationWorld, FrameHeader header, ReadOnlySpan<byte> payload)
    {
        header.Kind = FrameKind.Eager;
        header.Flags = FrameFlags.None;
        header.PayloadLength = payload.Length;
        using (_lock.EnterScope())
        {
            ThrowIfAborted();
            if (TrySendInOrder(destinationWorld, header, payload))
                return;
            var copy = ArrayPool<byte>.Shared.Rent(Math.Max(1, payload.Length));
            payload.CopyTo(copy);
            var pin = copy.AsMemory().Pin();
            var r = RentLocked();
            r.Kind = RequestKind.Send;
            r.PeerWorld = destinationWorld;
            r.Buffer = (byte*)pin.Pointer;
            r.Length = payload.Length;
            r.Pin = pin;
            r.HasPin = true;
            r.OwnedBuffer = copy;
            Attach(r, s_noCallback, null);
            Enqueue(destinationWorld, new OutItem { Kind = OutKind.Eager, Header = header, Request = r });
        }
    }

    /// <summary>
    /// True when this rank may read <paramref name="peerWorld"/>'s memory directly (the rendezvous pull path):
    /// a handler may then copy a large payload with <see cref="PullFrom"/> instead of receiving it in frames.
    /// </summary>
    public bool CanPullFrom(int peerWorld) => _routes[peerWorld].CanPull(peerWorld);

    /// <summary>True when <see cref="Wake"/> reaches <paramref name="peerWorld"/> (see <see cref="Transport.ITransport.CanWake"/>).</summary>
    public bool CanWake(int peerWorld) => peerWorld == WorldRank || _routes[peerWorld].CanWake;

    /// <summary>
    /// Wakes <paramref name="peerWorld"/> if it sleeps on its doorbell, for memory it waits on that this rank
    /// changed without a frame; this rank itself too (another thread of it may wait).
    /// </summary>
    public void Wake(int peerWorld)
    {
        if (peerWorld == WorldRank)
            Doorbell.Ring();
        else
            _routes[peerWorld].Wake(peerWorld);
    }

    /// <summary>
    /// Copies <paramref name="length"/> bytes at <paramref name="address"/> in <paramref name="peerWorld"/>'s
    /// address space to <paramref name="destination"/> (process_vm_readv on shared memory). For handlers, which
    /// run under the engine lock: the peer must keep the range valid until told it was read.
    /// </summary>
    public void PullFrom(int peerWorld, ulong address, byte* destination, long length) =>
        _routes[peerWorld].Pull(peerWorld, address, destination, length);

    /// <summary>The RMA hook of OnFrame: true when a handler took the frame.</summary>
    private bool TryDispatchActiveMessage(int peer, in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        var handlers = _activeMessageHandlers;
        if ((uint)header.Context < (uint)handlers.Length && handlers[header.Context] is { } handler)
        {
            handler.OnActiveMessage(peer, header, payload);
            return true;
        }
        return false;
    }
}
