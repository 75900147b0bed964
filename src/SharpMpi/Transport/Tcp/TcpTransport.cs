using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using SharpMpi.Engine;

namespace SharpMpi.Transport.Tcp;

/// <summary>
/// Moves frames between ranks over TCP: one authenticated, non-blocking socket per peer (the higher world
/// rank connects to the lower), frames of a 48-byte little-endian <see cref="FrameHeader"/> followed by the
/// payload, a per-peer send buffer for what the kernel did not take yet, and one background poller thread
/// that rings the rank's doorbell when a socket becomes readable.
/// </summary>
/// <remarks>
/// <para>Threads: the engine's progress thread makes every <see cref="ITransport"/> call (serialized by the
/// engine lock) and is the only one that reads or writes the peer sockets. The accept thread
/// ("sharpmpi-tcp-accept-R") accepts connections and runs the acceptor side of the handshake, non-blocking,
/// for any number of connections at once; strangers are rejected and logged. The poller thread
/// ("sharpmpi-tcp-poll-R") blocks in <c>Socket.Select</c> and, when a peer socket is readable (or
/// writable while bytes wait to be sent), sets a flag, rings the doorbell and parks until the engine is about
/// to sleep again (<see cref="HasPendingInput"/> returned false) or, with many peers, until
/// <see cref="Poll"/> consumed the flag — so it never spins while the engine is busy.</para>
/// <para>Large messages: <see cref="CanPull"/> is false, so the engine answers an RTS with CTS and streams
/// Data frames of up to <see cref="MaxFramePayload"/> bytes. A Data frame that has arrived only partly is
/// delivered in pieces as it arrives (same cookie, <see cref="FrameHeader.Address"/> advanced by the bytes
/// already delivered, <see cref="FrameHeader.PayloadLength"/> = piece), so the receive buffer stays small
/// and the copy into the user's buffer overlaps the transfer.</para>
/// <para>Shutdown: <see cref="Dispose"/> sends a Goodbye frame on every connection, so an EOF without one
/// means the peer died: <see cref="PeerFailed"/> is raised (on the engine thread, from <see cref="Poll"/> or
/// <see cref="TrySend"/>) and later frames to that peer are dropped.</para>
/// </remarks>
internal sealed partial class TcpTransport : ITransport
{
    /// <summary>Non-blocking receives per peer per <see cref="Poll"/>, so one busy peer cannot starve the rest.</summary>
    private const int MaxReceivesPerPoll = 4;

    /// <summary>Payloads at least this large are sent straight from the caller's buffer when nothing waits.</summary>
    private const int DirectSendThreshold = 16 * 1024;

    /// <summary>The rest of a streamed Data frame at least this large is read straight into the receiver's buffer.</summary>
    private const int DirectReceiveThreshold = 16 * 1024;

    private readonly Peer?[] _peerOfRank;
    private readonly Peer[] _peers;
    private readonly Doorbell _doorbell;
    private readonly bool _directPoll;
    private int _inputReady;
    private volatile bool _moreInput;
    private bool _inPoll;
    private bool _disposed;

    /// <inheritdoc/>
    public string Name => "tcp";

    /// <summary>What the transport was built with.</summary>
    public TcpOptions Options { get; }

    /// <summary>This rank's world rank.</summary>
    public int WorldRank { get; }

    /// <inheritdoc/>
    public int MaxFramePayload => Options.MaxFramePayload;

    /// <inheritdoc/>
    public int EagerLimit => Options.EagerLimit;

    /// <summary>
    /// Raised once per peer, on the engine thread that called <see cref="Poll"/> or <see cref="TrySend"/>, when
    /// the connection to that peer ended without a Goodbye frame (the process died or the network failed), or
    /// the peer broke the protocol. Arguments: the peer's world rank and a reason. From then on frames to it
    /// are dropped (TrySend returns true) and nothing more arrives from it.
    /// </summary>
    public event Action<int, string>? PeerFailed;

    /// <summary>True when the connection to <paramref name="peer"/> failed (see <see cref="PeerFailed"/>).</summary>
    public bool IsPeerFailed(int peer) => _peerOfRank[peer]?.State == PeerState.Failed;

    /// <summary>True once <paramref name="peer"/> said goodbye (it finalized).</summary>
    public bool HasPeerSaidGoodbye(int peer) => _peerOfRank[peer]?.State is PeerState.GoodbyeReceived or PeerState.Closed;

    /// <summary>True while bytes wait in some peer's send buffer (tests and diagnostics; engine thread).</summary>
    internal bool HasBufferedOutput => _peers.Any(p => p.SendEnd > p.SendStart);

    /// <inheritdoc/>
    /// <remarks>
    /// Thread-safe. True when the poller saw a readable socket or the last poll left input behind. When it
    /// returns false the caller is about to sleep: the poller is re-armed so that input arriving from now on
    /// rings the doorbell.
    /// </remarks>
    public bool HasPendingInput
    {
        get
        {
            if (Volatile.Read(ref _inputReady) != 0 || _moreInput)
                return true;
            if (!_disposed)
                RearmPoller();
            return false;
        }
    }

    /// <inheritdoc/>
    public bool CanPull(int peer) => false;

    /// <inheritdoc/>
    public void Pull(int peer, ulong address, Span<byte> destination) =>
        throw new NotSupportedException("the TCP transport cannot read a peer's memory; large messages are streamed.");

    /// <inheritdoc/>
    /// <remarks>
    /// Never blocks: when older bytes to this peer still wait and the frame does not fit beside them in the
    /// send buffer, returns false. Otherwise the frame is taken: sent straight to the socket as far as the
    /// kernel accepts it, the rest copied into the buffer (which grows, once, to hold one frame's rest when
    /// nothing else waits) and flushed by later calls and by <see cref="Poll"/>. Frames to a peer that failed
    /// or said goodbye are dropped (returns true).
    /// </remarks>
    public bool TrySend(int peer, in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        Debug.Assert(!_disposed);
        Debug.Assert(header.PayloadLength == payload.Length, "header.PayloadLength must equal payload.Length");
        Peer p = _peerOfRank[peer]!;
        if (p.State != PeerState.Open)
            return true;

        int frameLength = FrameHeader.Size + payload.Length;
        if (p.SendEnd > p.SendStart)
        {
            if (!Flush(p))
                return true;
            if (p.SendEnd > p.SendStart)
            {
                if (p.SendEnd - p.SendStart + frameLength > p.SendBuffer.Length)
                    return false;
                Append(p, header, payload);
                Flush(p);
                return true;
            }
        }

        // Nothing waits: send directly.
        if (payload.Length >= DirectSendThreshold)
        {
            MemoryMarshal.Write(p.SendBuffer.AsSpan(0, FrameHeader.Size), in header);
            int sent = SendSome(p, p.SendBuffer.AsSpan(0, FrameHeader.Size));
            if (sent < 0)
                return true;
            if (sent < FrameHeader.Size)
            {
                p.SendStart = sent;
                p.SendEnd = FrameHeader.Size;
                AppendBytes(p, payload);
                return true;
            }

            int sentPayload = SendSome(p, payload);
            if (sentPayload < 0)
                return true;
            if (sentPayload < payload.Length)
            {
                p.SendStart = p.SendEnd = 0;
                AppendBytes(p, payload[sentPayload..]);
            }

            return true;
        }

        p.SendStart = p.SendEnd = 0;
        Append(p, header, payload);
        Flush(p);
        return true;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Flushes waiting send bytes, then reads each peer (every peer when there are at most
    /// <see cref="TcpOptions.DirectPollPeers"/>, else the ones the poller found readable) with up to
    /// <see cref="MaxReceivesPerPoll"/> non-blocking receives and delivers every complete frame, plus the
    /// arrived part of a streamed Data frame. A frame whose sink call throws is delivered again by the next call.
    /// Re-entrant calls (a sink that polls) return 0.
    /// </remarks>
    public int Poll(IFrameSink sink)
    {
        if (_inPoll || _disposed)
            return 0;
        _inPoll = true;
        try
        {
            bool flagged = Volatile.Read(ref _inputReady) != 0;
            if (flagged)
                Volatile.Write(ref _inputReady, 0);
            int delivered = 0;
            bool more = false;
            Peer[] peers = _peers;
            for (int i = 0; i < peers.Length; i++)
            {
                Peer p = peers[i];
                PeerState state = p.State;
                if (state >= PeerState.Closed)
                    continue;
                if (p.SendEnd > p.SendStart)
                    Flush(p);
                if (_directPoll || p.MoreInput || p.ReadHint)
                {
                    p.ReadHint = false;
                    delivered += Receive(p, sink);
                    more |= p.MoreInput;
                }
            }

            _moreInput = more;
            if (flagged && !_directPoll)
                _rearm.Set();
            return delivered;
        }
        finally
        {
            _inPoll = false;
        }
    }

    // ---------------------------------------------------------------- sending

    /// <summary>Copies a whole frame behind the waiting bytes (the caller checked that it fits, or nothing waits).</summary>
    private static void Append(Peer p, in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        int frameLength = FrameHeader.Size + payload.Length;
        MakeRoom(p, frameLength);
        MemoryMarshal.Write(p.SendBuffer.AsSpan(p.SendEnd, FrameHeader.Size), in header);
        payload.CopyTo(p.SendBuffer.AsSpan(p.SendEnd + FrameHeader.Size));
        p.SendEnd += frameLength;
        p.HasPendingOutput = true;
    }

    private static void AppendBytes(Peer p, ReadOnlySpan<byte> bytes)
    {
        MakeRoom(p, bytes.Length);
        bytes.CopyTo(p.SendBuffer.AsSpan(p.SendEnd));
        p.SendEnd += bytes.Length;
        p.HasPendingOutput = true;
    }

    /// <summary>Ensures <paramref name="count"/> bytes fit after the waiting ones: compacts, else grows (keeping them).</summary>
    private static void MakeRoom(Peer p, int count)
    {
        int pending = p.SendEnd - p.SendStart;
        if (p.SendEnd + count <= p.SendBuffer.Length)
            return;
        if (pending + count <= p.SendBuffer.Length)
        {
            p.SendBuffer.AsSpan(p.SendStart, pending).CopyTo(p.SendBuffer);
        }
        else
        {
            var bigger = new byte[Math.Max(pending + count, p.SendBuffer.Length * 2)];
            p.SendBuffer.AsSpan(p.SendStart, pending).CopyTo(bigger);
            p.SendBuffer = bigger;
        }

        p.SendStart = 0;
        p.SendEnd = pending;
    }

    /// <summary>Sends waiting bytes until the kernel refuses more; false when the connection failed.</summary>
    private bool Flush(Peer p)
    {
        while (p.SendEnd > p.SendStart)
        {
            int n = SendSome(p, p.SendBuffer.AsSpan(p.SendStart, p.SendEnd - p.SendStart));
            if (n < 0)
                return false;
            if (n == 0)
                return true;
            p.SendStart += n;
        }

        p.SendStart = p.SendEnd = 0;
        p.HasPendingOutput = false;
        return true;
    }

    /// <summary>One non-blocking send: bytes taken (0 when the kernel buffer is full), or -1 when the connection failed.</summary>
    private int SendSome(Peer p, ReadOnlySpan<byte> bytes)
    {
        int n = p.Socket!.Send(bytes, SocketFlags.None, out SocketError error);
        if (error == SocketError.Success)
            return n;
        if (error == SocketError.WouldBlock)
            return 0;
        ConnectionLost(p, $"send failed: {error}");
        return -1;
    }

    // ---------------------------------------------------------------- receiving

    private int Receive(Peer p, IFrameSink sink)
    {
        int delivered = 0;
        p.MoreInput = false;
        // Frames left by a sink that threw last time come first.
        if (p.ReceiveEnd > p.ReceiveStart)
            delivered += Parse(p, sink);
        for (int round = 0; round < MaxReceivesPerPoll && p.State < PeerState.Closed; round++)
        {
            if (p.DataRemaining >= DirectReceiveThreshold && p.ReceiveStart == p.ReceiveEnd)
            {
                int wanted = p.DataRemaining;
                int direct = ReceiveDirect(p, sink);
                if (direct < 0)
                    break;
                if (direct > 0)
                {
                    delivered++;
                    if (direct < wanted)
                        break; // the kernel had no more for now
                    continue;
                }
            }

            byte[] buffer = p.ReceiveBuffer;
            if (p.ReceiveStart > 0 && buffer.Length - p.ReceiveEnd < buffer.Length / 4)
            {
                buffer.AsSpan(p.ReceiveStart, p.ReceiveEnd - p.ReceiveStart).CopyTo(buffer);
                p.ReceiveEnd -= p.ReceiveStart;
                p.ReceiveStart = 0;
            }

            int room = buffer.Length - p.ReceiveEnd;
            int n = ReceiveSome(p, buffer.AsSpan(p.ReceiveEnd, room));
            if (n <= 0)
                break;

            p.ReceiveEnd += n;
            delivered += Parse(p, sink);
            if (n < room)
                break; // the kernel had no more for now
            p.MoreInput = round == MaxReceivesPerPoll - 1;
        }

        return delivered;
    }

    /// <summary>One non-blocking read into <paramref name="into"/>: the bytes read, 0 when none are there, -1 when the connection broke (reported).</summary>
    private int ReceiveSome(Peer p, Span<byte> into)
    {
        int n = p.Socket!.Receive(into, SocketFlags.None, out SocketError error);
        if (error == SocketError.WouldBlock)
            return 0;
        if (error != SocketError.Success)
        {
            ConnectionLost(p, $"receive failed: {error}");
            return -1;
        }
        if (n == 0)
        {
            ConnectionLost(p, "connection closed without a goodbye");
            return -1;
        }
        return n;
    }

    /// <summary>
    /// Reads the rest of a streamed Data frame straight into the receiver's buffer (one copy, kernel to user,
    /// instead of two through the receive buffer). Returns the bytes delivered, 0 when the engine has no
    /// destination for them (they take the buffered path), or -1 when nothing was there or the connection broke.
    /// </summary>
    private unsafe int ReceiveDirect(Peer p, IFrameSink sink)
    {
        byte* destination = sink.StreamDestination(p.Rank, p.DataHeader, p.DataRemaining);
        if (destination == null)
            return 0;
        int n = ReceiveSome(p, new Span<byte>(destination, p.DataRemaining));
        if (n <= 0)
            return -1;
        FrameHeader h = p.DataHeader;
        h.PayloadLength = n;
        p.DataRemaining -= n;
        p.DataHeader.Address += (ulong)n;
        sink.OnFrame(p.Rank, h, new ReadOnlySpan<byte>(destination, n));
        return n;
    }

    /// <summary>Delivers the complete frames (and the arrived part of a Data frame) in the receive buffer.</summary>
    private int Parse(Peer p, IFrameSink sink)
    {
        int delivered = 0;
        while (p.State < PeerState.Closed)
        {
            byte[] buffer = p.ReceiveBuffer;
            int available = p.ReceiveEnd - p.ReceiveStart;
            if (p.DataRemaining > 0)
            {
                if (available == 0)
                    break;
                int piece = Math.Min(available, p.DataRemaining);
                FrameHeader h = p.DataHeader;
                h.PayloadLength = piece;
                sink.OnFrame(p.Rank, h, buffer.AsSpan(p.ReceiveStart, piece));
                p.ReceiveStart += piece;
                p.DataRemaining -= piece;
                p.DataHeader.Address += (ulong)piece;
                delivered++;
                continue;
            }

            if (available < FrameHeader.Size)
                break;
            FrameHeader header = MemoryMarshal.Read<FrameHeader>(buffer.AsSpan(p.ReceiveStart, FrameHeader.Size));
            int length = header.PayloadLength;
            if (length < 0 || length > TcpOptions.MaxFramePayloadLimit || header.Kind is < FrameKind.Eager or > FrameKind.Goodbye)
            {
                ConnectionLost(p, $"protocol error: malformed frame header ({header})");
                break;
            }

            if (available < FrameHeader.Size + length)
            {
                if (header.Kind == FrameKind.Data)
                {
                    // Stream it: deliver what has arrived, the rest as it comes.
                    p.ReceiveStart += FrameHeader.Size;
                    p.DataHeader = header;
                    p.DataRemaining = length;
                    continue;
                }

                if (buffer.Length < FrameHeader.Size + length)
                {
                    var bigger = new byte[FrameHeader.Size + length];
                    buffer.AsSpan(p.ReceiveStart, available).CopyTo(bigger);
                    p.ReceiveBuffer = bigger;
                    p.ReceiveStart = 0;
                    p.ReceiveEnd = available;
                }

                break;
            }

            if (header.Kind == FrameKind.Goodbye)
            {
                p.ReceiveStart += FrameHeader.Size + length;
                p.State = PeerState.GoodbyeReceived;
                p.SendStart = p.SendEnd = 0;
                p.HasPendingOutput = false;
                try
                {
                    // Nothing more goes to a rank that left; our FIN lets its dispose finish without waiting.
                    p.Socket!.Shutdown(SocketShutdown.Send);
                }
                catch (SocketException)
                {
                }

                continue;
            }

            sink.OnFrame(p.Rank, header, buffer.AsSpan(p.ReceiveStart + FrameHeader.Size, length));
            p.ReceiveStart += FrameHeader.Size + length;
            delivered++;
        }

        if (p.ReceiveStart == p.ReceiveEnd)
            p.ReceiveStart = p.ReceiveEnd = 0;
        return delivered;
    }

    /// <summary>The connection ended or broke: after a goodbye that is the normal end, otherwise the peer failed.</summary>
    private void ConnectionLost(Peer p, string reason)
    {
        // The receive side is left as it is: this may run inside a sink call of Parse (a reply that failed to
        // send); the state change alone stops every further read of this peer.
        p.SendStart = p.SendEnd = 0;
        p.HasPendingOutput = false;
        if (p.State == PeerState.GoodbyeReceived)
        {
            p.State = PeerState.Closed;
            return;
        }

        if (p.State >= PeerState.Closed)
            return;
        p.State = PeerState.Failed;
        p.FailureReason = reason;
        PeerFailed?.Invoke(p.Rank, reason);
    }

    /// <summary>Connection state of one peer; only the engine thread moves it past <see cref="Open"/>.</summary>
    private enum PeerState
    {
        Connecting = 0,
        Open = 1,
        GoodbyeReceived = 2,
        Closed = 3,
        Failed = 4,
    }

    /// <summary>One peer's socket and buffers.</summary>
    private sealed class Peer(int rank, int sendBufferSize, int receiveBufferSize)
    {
        public readonly int Rank = rank;
        public Socket? Socket;
        public IPEndPoint? RemoteEndPoint;
        private volatile PeerState _state;
        public string? FailureReason;

        // Send side (engine thread); HasPendingOutput is read by the poller.
        public byte[] SendBuffer = new byte[sendBufferSize];
        public int SendStart;
        public int SendEnd;
        public volatile bool HasPendingOutput;

        // Receive side (engine thread); ReadHint is set by the poller.
        public byte[] ReceiveBuffer = new byte[receiveBufferSize];
        public int ReceiveStart;
        public int ReceiveEnd;
        public FrameHeader DataHeader;
        public int DataRemaining;
        public volatile bool ReadHint;
        public bool MoreInput;

        public PeerState State
        {
            get => _state;
            set => _state = value;
        }
    }
}
