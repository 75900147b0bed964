using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SharpMpi.Transport;

namespace SharpMpi.Engine;

/// <summary>Starting sends and receives, probes, and the matching of posted receives with messages.</summary>
internal sealed unsafe partial class ProgressEngine
{
    /// <summary>
    /// Starts a send of <paramref name="length"/> bytes at <paramref name="buffer"/> (pinned by the caller until
    /// the request completes, or by <paramref name="pin"/>). Returns the request, possibly already complete.
    /// </summary>
    /// <remarks>
    /// With <paramref name="onComplete"/> the request is detached: the engine recycles it after the callback
    /// (which runs under the engine lock and must not block), and the caller must not wait on it.
    /// <paramref name="ownedBuffer"/> (pooled) is returned to the pool at completion.
    /// </remarks>
    public RequestCore StartSend(int context, int sourceRank, int tag, int destinationWorld, byte* buffer, long length,
        SendMode mode, MemoryHandle pin = default, bool hasPin = false,
        Action<RequestCore>? onComplete = null, object? state = null, byte[]? ownedBuffer = null)
    {
        using (_lock.EnterScope())
        {
            var r = RentSendLocked(mode, context, sourceRank, tag, destinationWorld, buffer, length);
            r.Pin = pin;
            r.HasPin = hasPin;
            r.OwnedBuffer = ownedBuffer;
            Attach(r, onComplete, state);
            PostSendLocked(r);
            return r;
        }
    }

    /// <summary>
    /// The blocking standard-mode fast path: a message that fits in one eager frame and for which the
    /// transport has room right now is sent without a request (nothing to wait for afterwards). Returns
    /// false when the caller must take the general path.
    /// </summary>
    public bool TrySendEagerNow(int context, int sourceRank, int tag, int destinationWorld, byte* buffer, long length)
    {
        if (length > _routes[destinationWorld].EagerLimit)
            return false;
        using (_lock.EnterScope())
            return TrySendEagerLocked(context, sourceRank, tag, destinationWorld, buffer, length);
    }

    /// <summary>
    /// The nonblocking form of <see cref="TrySendEagerNow"/>: when the message went out at once, returns a
    /// request that is already complete, so the caller's buffer never needs pinning; null otherwise.
    /// </summary>
    public RequestCore? TryStartEagerSendNow(int context, int sourceRank, int tag, int destinationWorld, byte* buffer, long length)
    {
        if (length > _routes[destinationWorld].EagerLimit)
            return null;
        using (_lock.EnterScope())
        {
            if (!TrySendEagerLocked(context, sourceRank, tag, destinationWorld, buffer, length))
                return null;
            // The payload is already copied out: the request keeps no pointer to the caller's buffer.
            var r = RentSendLocked(SendMode.Standard, context, sourceRank, tag, destinationWorld, null, length);
            r.Complete(new Status(sourceRank, tag, length));
            return r;
        }
    }

    private RequestCore RentSendLocked(SendMode mode, int context, int sourceRank, int tag, int destinationWorld, byte* buffer, long length)
    {
        ThrowIfAborted();
        var r = RentLocked();
        r.Kind = RequestKind.Send;
        r.Mode = mode;
        r.Context = context;
        r.Source = sourceRank;
        r.Tag = tag;
        r.PeerWorld = destinationWorld;
        r.Buffer = buffer;
        r.Length = length;
        return r;
    }

    private bool TrySendEagerLocked(int context, int sourceRank, int tag, int destinationWorld, byte* buffer, long length)
    {
        ThrowIfAborted();
        var q = _outQueues[destinationWorld];
        if (q is not null && q.Count > 0)
            return false;
        var header = new FrameHeader
        {
            Kind = FrameKind.Eager,
            PayloadLength = (int)length,
            Context = context,
            Source = sourceRank,
            Tag = tag,
            MessageLength = length,
        };
        var transport = _routes[destinationWorld];
        bool sent = transport.TrySend(destinationWorld, header, new ReadOnlySpan<byte>(buffer, (int)length));
        if (sent)
        {
            CountSent(transport, length);
            Recorder?.NoteEagerSend(context, destinationWorld, tag);
        }
        return sent;
    }

    /// <summary>
    /// Starts a buffered send: the payload is copied now (into a pooled buffer the request owns) and the
    /// caller's request completes at once, while the engine owns the copy until it is delivered.
    /// </summary>
    public void StartBufferedSend(int context, int sourceRank, int tag, int destinationWorld, ReadOnlySpan<byte> payload,
        BufferedSendAccounting accounting)
    {
        var copy = ArrayPool<byte>.Shared.Rent(Math.Max(1, payload.Length));
        payload.CopyTo(copy);
        var handle = copy.AsMemory().Pin();
        using (_lock.EnterScope())
        {
            var r = RentSendLocked(SendMode.Standard, context, sourceRank, tag, destinationWorld, (byte*)handle.Pointer, payload.Length);
            r.Pin = handle;
            r.HasPin = true;
            r.OwnedBuffer = copy;
            r.Detached = true;
            r.State = accounting;
            r.OnComplete = BufferedSendAccounting.Release;
            PostSendLocked(r);
        }
    }

    private void PostSendLocked(RequestCore r)
    {
        var transport = _routes[r.PeerWorld];
        CountSent(transport, r.Length);
        if (Recorder is { } recorder)
            r.FlowSeq = recorder.NextSend(r.Context, r.PeerWorld, r.Tag);
        var header = new FrameHeader
        {
            Context = r.Context,
            Source = r.Source,
            Tag = r.Tag,
            MessageLength = r.Length,
            Cookie = r.Id,
        };
        if (r.Length <= transport.EagerLimit)
        {
            header.Kind = FrameKind.Eager;
            header.PayloadLength = (int)r.Length;
            header.Flags = r.Mode switch
            {
                SendMode.Synchronous => FrameFlags.Sync,
                SendMode.Ready => FrameFlags.Ready,
                _ => FrameFlags.None,
            };
            bool needsReply = header.Flags != FrameFlags.None;
            if (needsReply)
                _awaitingReply[r.Id] = r;
            if (TrySendInOrder(r.PeerWorld, header, new ReadOnlySpan<byte>(r.Buffer, (int)r.Length)))
            {
                if (!needsReply)
                    r.Complete(new Status(r.Source, r.Tag, r.Length));
            }
            else
            {
                Enqueue(r.PeerWorld, new OutItem { Kind = OutKind.Eager, Header = header, Request = r });
            }
        }
        else
        {
            header.Kind = FrameKind.Rts;
            header.Flags = r.Length >= transport.PullThreshold && transport.CanPull(r.PeerWorld) ? FrameFlags.Pullable : FrameFlags.None;
            if (r.Mode == SendMode.Ready)
                header.Flags |= FrameFlags.Ready;
            header.Address = (ulong)r.Buffer;
            _awaitingReply[r.Id] = r;
            SendControl(r.PeerWorld, header);
        }
    }

    /// <summary>Starts a receive into <paramref name="capacity"/> bytes at <paramref name="buffer"/>.</summary>
    public RequestCore StartReceive(int context, int source, int tag, byte* buffer, long capacity,
        MemoryHandle pin = default, bool hasPin = false, Action<RequestCore>? onComplete = null, object? state = null,
        RequestKind kind = RequestKind.Receive)
    {
        using (_lock.EnterScope())
        {
            var r = RentReceiveLocked(kind, context, source, tag, buffer, capacity);
            r.Pin = pin;
            r.HasPin = hasPin;
            Attach(r, onComplete, state);
            // Pull in whatever has arrived first, so the receive matches the oldest message available now.
            ProgressLocked();
            var q = ContextQueues(context);
            var m = q.FindUnexpected(source, tag);
            if (m is null)
            {
                q.Post(r);
            }
            else
            {
                q.RemoveUnexpected(m);
                if (kind == RequestKind.MatchedProbe)
                    CompleteMatchedProbe(r, m);
                else
                    DeliverUnexpectedLocked(m, r);
            }
            return r;
        }
    }

    /// <summary>
    /// Starts a nonblocking receive into <paramref name="buffer"/>, which the caller holds fixed at
    /// <paramref name="pointer"/> for the duration of the call. The buffer is pinned for longer only when the
    /// receive has to wait: an eager message already here is copied at once and the request returned complete.
    /// </summary>
    public RequestCore StartReceive<T>(int context, int source, int tag, Memory<T> buffer, byte* pointer, long capacity)
        where T : unmanaged
    {
        using (_lock.EnterScope())
        {
            var r = RentReceiveLocked(RequestKind.Receive, context, source, tag, pointer, capacity);
            ProgressLocked();
            var q = ContextQueues(context);
            var m = q.FindUnexpected(source, tag);
            if (m is null || m.IsRendezvous)
            {
                r.Pin = buffer.Pin();
                r.HasPin = true;
            }
            if (m is null)
            {
                q.Post(r);
            }
            else
            {
                q.RemoveUnexpected(m);
                DeliverUnexpectedLocked(m, r);
            }
            return r;
        }
    }

    private RequestCore RentReceiveLocked(RequestKind kind, int context, int source, int tag, byte* buffer, long capacity)
    {
        ThrowIfAborted();
        var r = RentLocked();
        r.Kind = kind;
        r.Context = context;
        r.Source = source;
        r.Tag = tag;
        r.Buffer = buffer;
        r.Length = capacity;
        return r;
    }

    private static void Attach(RequestCore r, Action<RequestCore>? onComplete, object? state)
    {
        if (onComplete is null)
            return;
        r.OnComplete = onComplete;
        r.State = state;
        r.Detached = true;
    }

    private static void CompleteMatchedProbe(RequestCore r, UnexpectedMessage m)
    {
        m.Claimed = true;
        r.Matched = m;
        r.Complete(new Status(m.Source, m.Tag, m.Length));
    }

    /// <summary>Starts the receive of a message taken by a matched probe.</summary>
    public RequestCore StartReceiveMatched(UnexpectedMessage message, byte* buffer, long capacity,
        MemoryHandle pin = default, bool hasPin = false)
    {
        using (_lock.EnterScope())
        {
            ThrowIfAborted();
            var r = RentLocked();
            r.Kind = RequestKind.Receive;
            r.Context = message.Context;
            r.Source = message.Source;
            r.Tag = message.Tag;
            r.Buffer = buffer;
            r.Length = capacity;
            r.Pin = pin;
            r.HasPin = hasPin;
            DeliverUnexpectedLocked(message, r);
            return r;
        }
    }

    /// <summary>A request that is already complete (operations on ProcNull).</summary>
    public RequestCore CompletedRequest(in Status status)
    {
        using (_lock.EnterScope())
        {
            var r = RentLocked();
            r.Complete(status);
            return r;
        }
    }

    /// <summary>A request that user code or a collective schedule completes later.</summary>
    public RequestCore StartGeneralized()
    {
        using (_lock.EnterScope())
        {
            var r = RentLocked();
            r.Kind = RequestKind.Generalized;
            return r;
        }
    }

    /// <summary>Completes a generalized request.</summary>
    public void CompleteGeneralized(RequestCore r, in Status status, Exception? error = null)
    {
        using (_lock.EnterScope())
        {
            if (error is null)
                r.Complete(status);
            else
                r.Fail(error);
        }
    }

    /// <summary>Cancels a posted receive that has not matched yet; true if it was cancelled.</summary>
    public bool CancelReceive(RequestCore r)
    {
        using (_lock.EnterScope())
        {
            if (r.Kind is not (RequestKind.Receive or RequestKind.MatchedProbe) || !r.IsPosted || r.IsCompleted)
                return false;
            ContextQueues(r.Context).Unpost(r);
            r.Complete(new Status(Communicator.AnySource, Communicator.AnyTag, 0, isCancelled: true));
            return true;
        }
    }

    /// <summary>Looks for a message without receiving it.</summary>
    public bool TryProbe(int context, int source, int tag, out Status status)
    {
        using (_lock.EnterScope())
        {
            ThrowIfAborted();
            ProgressLocked();
            var m = ContextQueues(context).FindUnexpected(source, tag);
            if (m is null)
            {
                status = default;
                return false;
            }
            status = new Status(m.Source, m.Tag, m.Length);
            return true;
        }
    }

    /// <summary>Takes a message out of the queue so that only the caller can receive it (matched probe).</summary>
    public UnexpectedMessage? TryMatchedProbe(int context, int source, int tag)
    {
        using (_lock.EnterScope())
        {
            ThrowIfAborted();
            ProgressLocked();
            var q = ContextQueues(context);
            var m = q.FindUnexpected(source, tag);
            if (m is not null)
            {
                q.RemoveUnexpected(m);
                m.Claimed = true;
            }
            return m;
        }
    }

    // ---------------------------------------------------------------- matching and delivery

    private void DeliverUnexpectedLocked(UnexpectedMessage m, RequestCore r)
    {
        if (m.IsRendezvous)
        {
            MatchRendezvousLocked(r, m.PeerWorld, m.Source, m.Tag, m.Length, m.Cookie, m.Address, m.Flags);
        }
        else
        {
            long n = Math.Min(m.Length, r.Length);
            if (n > 0)
                m.Data.AsSpan(0, (int)n).CopyTo(new Span<byte>(r.Buffer, (int)n));
            if ((m.Flags & (FrameFlags.Sync | FrameFlags.Ready)) != 0)
                SendReply(m.PeerWorld, FrameKind.Ack, m.Cookie);
            CompleteReceive(r, m.Source, m.Tag, m.Length);
        }
        ReturnUnexpected(m);
    }

    private void CompleteReceive(RequestCore r, int source, int tag, long messageLength)
    {
        if (Recorder is { } recorder)
            r.FlowSeq = recorder.NextReceive(r.Context, source, tag);
        if (messageLength > r.Length)
        {
            r.Fail(new MpiException(ErrorClass.Truncate,
                $"Message truncated: {messageLength} bytes from rank {source} (tag {tag}) do not fit in a receive buffer of {r.Length} bytes."));
        }
        else
        {
            r.Complete(new Status(source, tag, messageLength));
        }
    }

    private void MatchRendezvousLocked(RequestCore r, int peer, int source, int tag, long length, long cookie, ulong address, FrameFlags flags)
    {
        var transport = _routes[peer];
        if (length > r.Length)
        {
            // The receive fails, the message is consumed: release the sender without moving the data.
            SendReply(peer, FrameKind.Ack, cookie);
            CompleteReceive(r, source, tag, length);
            return;
        }
        if ((flags & FrameFlags.Pullable) != 0 && transport.CanPull(peer))
        {
            if (transport is ISplitCopy split && length >= split.SplitCopyThreshold && split.TryOpenSplitCopy(peer, length, out int slot, out int generation))
            {
                // Tell the sender first, so that it can start on the chunks this rank has not taken yet.
                SendControl(peer, new FrameHeader
                {
                    Kind = FrameKind.SplitCopy,
                    Cookie = cookie,
                    Address = (ulong)r.Buffer,
                    MessageLength = length,
                    Context = slot,
                    Tag = generation,
                });
                split.PullSplitCopy(peer, slot, generation, address, r.Buffer, length);
            }
            else
            {
                transport.Pull(peer, address, r.Buffer, length);
            }
            SendReply(peer, FrameKind.Ack, cookie);
            CompleteReceive(r, source, tag, length);
            return;
        }
        r.MatchedSource = source;
        r.MatchedTag = tag;
        r.MessageLength = length;
        r.Received = 0;
        _streamingReceives[r.Id] = r;
        SendControl(peer, new FrameHeader { Kind = FrameKind.Cts, Cookie = cookie, Address = (ulong)r.Id });
    }

    private void SendReply(int peer, FrameKind kind, long cookie) =>
        SendControl(peer, new FrameHeader { Kind = kind, Cookie = cookie });

    // ---------------------------------------------------------------- sending frames in order

    private bool TrySendInOrder(int peer, in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        var q = _outQueues[peer];
        if (q is not null && q.Count > 0)
            return false;
        return _routes[peer].TrySend(peer, header, payload);
    }

    private void SendControl(int peer, in FrameHeader header)
    {
        if (!TrySendInOrder(peer, header, default))
            Enqueue(peer, new OutItem { Kind = OutKind.Control, Header = header });
    }

    private void Enqueue(int peer, in OutItem item)
    {
        (_outQueues[peer] ??= new OutQueue()).Enqueue(item);
        _pendingOut++;
    }

    private void DrainOutQueues()
    {
        for (int peer = 0; peer < _outQueues.Length && _pendingOut > 0; peer++)
        {
            var q = _outQueues[peer];
            if (q is null)
                continue;
            var transport = _routes[peer];
            while (q.Count > 0)
            {
                ref var item = ref q.Peek();
                if (!TrySendItem(transport, peer, ref item))
                    break;
                q.Dequeue();
                _pendingOut--;
            }
        }
    }

    /// <summary>Sends as much of one queued item as fits; true when it is fully sent.</summary>
    private bool TrySendItem(ITransport transport, int peer, ref OutItem item)
    {
        switch (item.Kind)
        {
            case OutKind.Control:
                return transport.TrySend(peer, item.Header, default);
            case OutKind.Eager:
                {
                    var r = item.Request!;
                    if (!transport.TrySend(peer, item.Header, new ReadOnlySpan<byte>(r.Buffer, item.Header.PayloadLength)))
                        return false;
                    if (item.Header.Flags == FrameFlags.None)
                        r.Complete(new Status(r.Source, r.Tag, r.Length));
                    return true;
                }
            default:
                {
                    var r = item.Request!;
                    int max = transport.MaxFramePayload;
                    while (item.Offset < r.Length)
                    {
                        int n = (int)Math.Min(max, r.Length - item.Offset);
                        var h = new FrameHeader
                        {
                            Kind = FrameKind.Data,
                            PayloadLength = n,
                            Cookie = item.Header.Cookie,
                            Address = (ulong)item.Offset,
                        };
                        if (!transport.TrySend(peer, h, new ReadOnlySpan<byte>(r.Buffer + item.Offset, n)))
                            return false;
                        item.Offset += n;
                    }
                    r.Complete(new Status(r.Source, r.Tag, r.Length));
                    return true;
                }
        }
    }

    // ---------------------------------------------------------------- incoming frames

    /// <inheritdoc/>
    public void OnFrame(int peer, in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        switch (header.Kind)
        {
            case FrameKind.Eager:
                if (TryDispatchActiveMessage(peer, header, payload)) // RMA hook, see ProgressEngine.ActiveMessages.cs
                    break;
                OnEager(peer, header, payload);
                break;
            case FrameKind.Rts:
                OnRts(peer, header);
                break;
            case FrameKind.Cts:
                if (_awaitingReply.Remove(header.Cookie, out var sender))
                {
                    Enqueue(peer, new OutItem
                    {
                        Kind = OutKind.Stream,
                        Header = new FrameHeader { Kind = FrameKind.Data, Cookie = (long)header.Address },
                        Request = sender,
                    });
                    DrainOutQueues();
                }
                break;
            case FrameKind.Data:
                OnData(header, payload);
                break;
            case FrameKind.SplitCopy:
                // Still awaiting the Ack, which the receiver sends after this frame: the buffer stays pinned.
                if (_awaitingReply.TryGetValue(header.Cookie, out var helped) && _routes[peer] is ISplitCopy helping)
                    helping.PushSplitCopy(peer, header.Context, header.Tag, helped.Buffer, header.Address, header.MessageLength);
                break;
            case FrameKind.Ack:
                if (_awaitingReply.Remove(header.Cookie, out var acked))
                    acked.Complete(new Status(acked.Source, acked.Tag, acked.Length));
                break;
            case FrameKind.Nack:
                if (_awaitingReply.Remove(header.Cookie, out var refused))
                {
                    refused.Fail(new MpiException(ErrorClass.Other,
                        $"Ready-mode send to world rank {peer} (tag {refused.Tag}) arrived before a matching receive was posted."));
                }
                break;
            default:
                break;
        }
    }

    private void OnEager(int peer, in FrameHeader h, ReadOnlySpan<byte> payload)
    {
        CountReceived(peer, h.MessageLength);
        var q = ContextQueues(h.Context);
        var r = q.TakePosted(h.Source, h.Tag);
        if (r is not null && r.Kind == RequestKind.MatchedProbe)
        {
            var probed = RentUnexpected();
            Fill(probed, peer, h, isRendezvous: false);
            probed.Data = ArrayPool<byte>.Shared.Rent(Math.Max(1, payload.Length));
            payload.CopyTo(probed.Data);
            CompleteMatchedProbe(r, probed);
            return;
        }
        if (r is not null)
        {
            long n = Math.Min(h.MessageLength, r.Length);
            payload[..(int)n].CopyTo(new Span<byte>(r.Buffer, (int)n));
            if ((h.Flags & (FrameFlags.Sync | FrameFlags.Ready)) != 0)
                SendReply(peer, FrameKind.Ack, h.Cookie);
            CompleteReceive(r, h.Source, h.Tag, h.MessageLength);
            return;
        }
        if ((h.Flags & FrameFlags.Ready) != 0)
        {
            SendReply(peer, FrameKind.Nack, h.Cookie);
            return;
        }
        var m = RentUnexpected();
        Fill(m, peer, h, isRendezvous: false);
        m.Data = ArrayPool<byte>.Shared.Rent(Math.Max(1, payload.Length));
        payload.CopyTo(m.Data);
        q.AddUnexpected(m);
    }

    private void OnRts(int peer, in FrameHeader h)
    {
        CountReceived(peer, h.MessageLength);
        var q = ContextQueues(h.Context);
        var r = q.TakePosted(h.Source, h.Tag);
        if (r is not null && r.Kind == RequestKind.MatchedProbe)
        {
            var probed = RentUnexpected();
            Fill(probed, peer, h, isRendezvous: true);
            CompleteMatchedProbe(r, probed);
            return;
        }
        if (r is not null)
        {
            MatchRendezvousLocked(r, peer, h.Source, h.Tag, h.MessageLength, h.Cookie, h.Address, h.Flags);
            return;
        }
        if ((h.Flags & FrameFlags.Ready) != 0)
        {
            SendReply(peer, FrameKind.Nack, h.Cookie);
            return;
        }
        var m = RentUnexpected();
        Fill(m, peer, h, isRendezvous: true);
        q.AddUnexpected(m);
    }

    private static void Fill(UnexpectedMessage m, int peer, in FrameHeader h, bool isRendezvous)
    {
        m.Context = h.Context;
        m.Source = h.Source;
        m.Tag = h.Tag;
        m.PeerWorld = peer;
        m.Flags = h.Flags;
        m.IsRendezvous = isRendezvous;
        m.Length = h.MessageLength;
        m.Cookie = h.Cookie;
        m.Address = h.Address;
        m.Data = null;
        m.Claimed = false;
    }

    /// <inheritdoc/>
    public byte* StreamDestination(int peer, in FrameHeader header, int length) =>
        _streamingReceives.TryGetValue(header.Cookie, out var r) && (long)header.Address + length <= r.MessageLength
            ? r.Buffer + (long)header.Address
            : null;

    private void OnData(in FrameHeader h, ReadOnlySpan<byte> payload)
    {
        if (!_streamingReceives.TryGetValue(h.Cookie, out var r))
            return;
        byte* destination = r.Buffer + (long)h.Address;
        // A transport that read straight into the buffer (StreamDestination) hands over that very memory.
        if (!Unsafe.AreSame(ref MemoryMarshal.GetReference(payload), ref *destination))
            payload.CopyTo(new Span<byte>(destination, payload.Length));
        r.Received += payload.Length;
        if (r.Received >= r.MessageLength)
        {
            _streamingReceives.Remove(h.Cookie);
            CompleteReceive(r, r.MatchedSource, r.MatchedTag, r.MessageLength);
        }
    }
}
