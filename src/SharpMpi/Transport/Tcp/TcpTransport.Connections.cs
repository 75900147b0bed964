using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using SharpMpi.Engine;

namespace SharpMpi.Transport.Tcp;

/// <summary>Start-up (listener, connects, handshakes), the accept and poller threads, and shutdown.</summary>
internal sealed partial class TcpTransport
{
    /// <summary>Connections allowed in the handshake at once; more are closed at once.</summary>
    private const int MaxPendingHandshakes = 1024;

    /// <summary>Rejections logged one line each; later ones are only counted.</summary>
    private const int MaxLoggedRejections = 32;

    private readonly byte[] _secret;
    private readonly string _jobId;
    private readonly Socket _listener;
    private readonly WakeSocket _pollerWake;
    private readonly WakeSocket _acceptWake;
    private readonly ManualResetEventSlim _rearm = new(false);
    private readonly object _connectLock = new();
    private readonly Dictionary<Socket, Peer> _peerOfSocket = new(ReferenceEqualityComparer.Instance);
    private Thread? _acceptThread;
    private Thread? _pollerThread;
    private volatile bool _stopping;
    private int _missingIncoming;
    private int _rejections;

    private TcpTransport(TcpOptions options, int worldRank, int[] peers, byte[] secret, string jobId, Doorbell doorbell)
    {
        Options = options;
        WorldRank = worldRank;
        _secret = secret;
        _jobId = jobId;
        _doorbell = doorbell;
        _directPoll = peers.Length <= options.DirectPollPeers;

        int maxRank = worldRank;
        foreach (int rank in peers)
            maxRank = Math.Max(maxRank, rank);
        _peerOfRank = new Peer?[maxRank + 1];
        var sorted = peers.ToArray();
        Array.Sort(sorted);
        _peers = new Peer[sorted.Length];
        for (int i = 0; i < sorted.Length; i++)
        {
            var p = new Peer(sorted[i], options.SendBufferSize, options.ReceiveBufferSize);
            _peers[i] = p;
            _peerOfRank[sorted[i]] = p;
            if (sorted[i] > worldRank)
                _missingIncoming++;
        }

        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _pollerWake = new WakeSocket();
        _acceptWake = new WakeSocket();
    }

    /// <summary>The address peers connect to ("a.b.c.d:port").</summary>
    public IPEndPoint ListenEndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    /// <summary>Connections rejected so far (strangers, bad handshakes, duplicates, timeouts).</summary>
    public int RejectedConnections => Volatile.Read(ref _rejections);

    /// <summary>World ranks this transport serves (ascending).</summary>
    public IEnumerable<int> Peers => _peers.Select(p => p.Rank);

    /// <summary>
    /// Builds the transport of world rank <paramref name="worldRank"/> for <paramref name="peers"/>. Every rank
    /// of the job that uses TCP calls this with the same job id and secret; <paramref name="fence"/> is called
    /// once and must be a barrier across all of them.
    /// </summary>
    /// <param name="options">Limits, timeouts and the bind-address rule (<see cref="TcpOptions.Interface"/>).</param>
    /// <param name="worldRank">This rank.</param>
    /// <param name="peers">Distinct world ranks reached through this transport (without <paramref name="worldRank"/>).</param>
    /// <param name="secret">The per-job secret (at least 16 bytes) that authenticates every connection.</param>
    /// <param name="jobId">The job id, also part of the handshake (ASCII, at most 128 characters).</param>
    /// <param name="doorbell">The doorbell this rank's engine sleeps on; the poller thread rings it.</param>
    /// <param name="publish">Publishes this rank's "address:port" (e.g. <c>kvs.Put($"tcp/{rank}", value)</c>).</param>
    /// <param name="fence">A barrier after which every rank's address is published.</param>
    /// <param name="lookup">The published "address:port" of a lower-ranked peer.</param>
    /// <param name="jobOnOneHost">Every rank of the job runs on this host (then the default bind address is 127.0.0.1).</param>
    /// <exception cref="ArgumentException">Bad arguments or options, or no address matches <see cref="TcpOptions.Interface"/>.</exception>
    /// <exception cref="IOException">A peer could not be connected or authenticated within <see cref="TcpOptions.ConnectTimeout"/>.</exception>
    /// <remarks>
    /// Steps: bind and listen (port 0) and start the accept thread; publish; fence; connect to every lower
    /// peer and run the handshake; wait until every higher peer has connected; start the poller. On failure
    /// everything is closed before the exception propagates.
    /// </remarks>
    public static TcpTransport Create(TcpOptions options, int worldRank, int[] peers, byte[] secret, string jobId, Doorbell doorbell,
        Action<string> publish, Action fence, Func<int, string> lookup, bool jobOnOneHost)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(peers);
        ArgumentNullException.ThrowIfNull(secret);
        ArgumentNullException.ThrowIfNull(doorbell);
        ArgumentNullException.ThrowIfNull(publish);
        ArgumentNullException.ThrowIfNull(fence);
        ArgumentNullException.ThrowIfNull(lookup);
        options.Validate();
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("the TCP transport writes frame headers in memory layout, which must be little-endian.");
        if (secret.Length < 16)
            throw new ArgumentException("the job secret must be at least 16 bytes.", nameof(secret));
        ArgumentException.ThrowIfNullOrEmpty(jobId);
        if (jobId.Length > TcpHandshake.MaxJobIdBytes || !Ascii.IsValid(jobId))
            throw new ArgumentException($"job id '{jobId}' must be ASCII and at most {TcpHandshake.MaxJobIdBytes} characters.", nameof(jobId));
        ArgumentOutOfRangeException.ThrowIfNegative(worldRank);
        if (peers.Distinct().Count() != peers.Length || peers.Any(r => r < 0 || r == worldRank))
            throw new ArgumentException("peers must be distinct non-negative world ranks other than this rank.", nameof(peers));

        IPAddress bind = TcpAddresses.SelectBindAddress(options.Interface, jobOnOneHost);
        var transport = new TcpTransport(options, worldRank, peers, secret, jobId, doorbell);
        try
        {
            transport.StartListening(bind);
            publish(transport.ListenEndPoint.ToString());
            fence();
            long deadline = Stopwatch.GetTimestamp() + (long)(options.ConnectTimeout.TotalSeconds * Stopwatch.Frequency);
            foreach (Peer p in transport._peers)
            {
                if (p.Rank > worldRank)
                    continue;
                string published = lookup(p.Rank);
                if (!IPEndPoint.TryParse(published, out IPEndPoint? endpoint) || endpoint.Port == 0)
                    throw new IOException($"rank {p.Rank} published '{published}' as its TCP address, which is not address:port.");
                Socket socket = TcpHandshake.Connect(endpoint, worldRank, p.Rank, jobId, secret, options.HandshakeTimeout, deadline);
                lock (transport._connectLock)
                {
                    p.Socket = socket;
                    p.RemoteEndPoint = endpoint;
                    p.State = PeerState.Open;
                }
            }

            transport.WaitForIncoming(deadline);
            transport.StartPoller();
            return transport;
        }
        catch
        {
            transport.Dispose();
            throw;
        }
    }

    private void StartListening(IPAddress bind)
    {
        try
        {
            _listener.Bind(new IPEndPoint(bind, 0));
        }
        catch (SocketException e)
        {
            throw new ArgumentException($"cannot listen on {bind} ({e.SocketErrorCode}); check {TcpOptions.InterfaceVariable}.", TcpOptions.InterfaceVariable, e);
        }

        _listener.Listen(512);
        _listener.Blocking = false;
        _acceptThread = new Thread(AcceptLoop) { IsBackground = true, Name = $"sharpmpi-tcp-accept-{WorldRank}" };
        _acceptThread.Start();
    }

    private void WaitForIncoming(long deadline)
    {
        lock (_connectLock)
        {
            while (_missingIncoming > 0)
            {
                TimeSpan remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                if (remaining <= TimeSpan.Zero)
                {
                    var missing = _peers.Where(p => p.Rank > WorldRank && p.Socket is null).Select(p => p.Rank);
                    throw new IOException(
                        $"rank {WorldRank}: ranks {string.Join(", ", missing)} did not connect over TCP within {Options.ConnectTimeout.TotalSeconds:0.#} s (listening on {ListenEndPoint}).");
                }

                Monitor.Wait(_connectLock, remaining);
            }
        }
    }

    private void StartPoller()
    {
        foreach (Peer p in _peers)
            _peerOfSocket[p.Socket!] = p;
        _pollerThread = new Thread(PollerLoop) { IsBackground = true, Name = $"sharpmpi-tcp-poll-{WorldRank}" };
        _pollerThread.Start();
    }

    // ---------------------------------------------------------------- poller thread

    /// <summary>Lets the poller select again (it parks after each report until the engine polls or is about to sleep).</summary>
    private void RearmPoller()
    {
        _rearm.Set();
        foreach (Peer p in _peers)
        {
            if (p.HasPendingOutput)
            {
                // The poller may be selecting without write interest for this socket: make it rebuild its sets.
                _pollerWake.Poke();
                break;
            }
        }
    }

    private void PollerLoop()
    {
        var read = new List<Socket>(_peers.Length + 1);
        var write = new List<Socket>();
        try
        {
            while (!_stopping)
            {
                read.Clear();
                write.Clear();
                read.Add(_pollerWake.Socket);
                foreach (Peer p in _peers)
                {
                    PeerState state = p.State;
                    if (state is PeerState.Open or PeerState.GoodbyeReceived)
                        read.Add(p.Socket!);
                    if (state == PeerState.Open && p.HasPendingOutput)
                        write.Add(p.Socket!);
                }

                Socket.Select(read, write.Count > 0 ? write : null, null, 1_000_000);
                if (_stopping)
                    break;
                bool report = write.Count > 0;
                foreach (Socket s in read)
                {
                    if (ReferenceEquals(s, _pollerWake.Socket))
                    {
                        _pollerWake.Drain();
                    }
                    else
                    {
                        _peerOfSocket[s].ReadHint = true;
                        report = true;
                    }
                }

                if (!report)
                    continue;
                _rearm.Reset();
                Volatile.Write(ref _inputReady, 1);
                _doorbell.Ring();
                // Park until the engine consumed the report (many peers) or is about to sleep again.
                _rearm.Wait();
            }
        }
        catch (Exception e) when (_stopping && e is ObjectDisposedException or SocketException)
        {
        }
        catch (Exception e)
        {
            // Never take the process down from here; without the poller the engine still polls, it only sleeps longer.
            Log($"sharpmpi: rank {WorldRank}: the TCP poller thread stopped: {e.GetType().Name}: {e.Message}");
        }
    }

    // ---------------------------------------------------------------- accept thread

    private void AcceptLoop()
    {
        var pending = new Dictionary<Socket, PendingHandshake>(ReferenceEqualityComparer.Instance);
        var read = new List<Socket>();
        var expired = new List<PendingHandshake>();
        try
        {
            while (!_stopping)
            {
                read.Clear();
                read.Add(_acceptWake.Socket);
                read.Add(_listener);
                long now = Stopwatch.GetTimestamp();
                long timeout = Stopwatch.Frequency; // 1 s
                foreach (PendingHandshake h in pending.Values)
                {
                    read.Add(h.Socket);
                    timeout = Math.Min(timeout, h.Deadline - now);
                }

                int micros = (int)Math.Clamp(timeout * 1_000_000 / Stopwatch.Frequency, 1_000, 1_000_000);
                Socket.Select(read, null, null, micros);
                if (_stopping)
                    break;
                foreach (Socket s in read)
                {
                    if (ReferenceEquals(s, _acceptWake.Socket))
                    {
                        _acceptWake.Drain();
                    }
                    else if (ReferenceEquals(s, _listener))
                    {
                        AcceptAll(pending);
                    }
                    else if (pending.TryGetValue(s, out PendingHandshake? h))
                    {
                        string? outcome = Advance(h);
                        if (outcome is null)
                            continue;
                        pending.Remove(s);
                        if (outcome.Length > 0)
                            Reject(h.Socket, h.Remote, outcome);
                    }
                }

                now = Stopwatch.GetTimestamp();
                expired.Clear();
                foreach (PendingHandshake h in pending.Values)
                {
                    if (now >= h.Deadline)
                        expired.Add(h);
                }

                foreach (PendingHandshake h in expired)
                {
                    pending.Remove(h.Socket);
                    Reject(h.Socket, h.Remote, h.Length == 0
                        ? $"sent nothing within {Options.HandshakeTimeout.TotalSeconds:0.#} s"
                        : $"did not complete the handshake within {Options.HandshakeTimeout.TotalSeconds:0.#} s");
                }
            }
        }
        catch (Exception e) when (_stopping && e is ObjectDisposedException or SocketException)
        {
        }
        catch (Exception e)
        {
            Log($"sharpmpi: rank {WorldRank}: the TCP accept thread stopped: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            foreach (PendingHandshake h in pending.Values)
                h.Socket.Dispose();
        }
    }

    private void AcceptAll(Dictionary<Socket, PendingHandshake> pending)
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = _listener.Accept();
            }
            catch (SocketException)
            {
                return; // WouldBlock: nothing more (or a connection reset before we took it)
            }

            string remote = socket.RemoteEndPoint is IPEndPoint ep ? ep.Address.ToString() : "unknown address";
            if (pending.Count >= MaxPendingHandshakes)
            {
                Reject(socket, remote, $"more than {MaxPendingHandshakes} connections are in the handshake");
                continue;
            }

            socket.Blocking = false;
            socket.NoDelay = true;
            long deadline = Stopwatch.GetTimestamp() + (long)(Options.HandshakeTimeout.TotalSeconds * Stopwatch.Frequency);
            pending[socket] = new PendingHandshake(socket, remote, deadline);
        }
    }

    /// <summary>
    /// Reads what the connection sent and moves its handshake on: null while it is incomplete, "" when the peer
    /// is connected, else why the connection is rejected.
    /// </summary>
    private string? Advance(PendingHandshake h)
    {
        while (true)
        {
            int target = h.HelloSize == 0 ? TcpHandshake.FixedHelloSize
                : h.AcceptorNonce is null ? h.HelloSize
                : h.HelloSize + TcpHandshake.MacSize;
            int n = h.Socket.Receive(h.Buffer.AsSpan(h.Length, target - h.Length), SocketFlags.None, out SocketError error);
            if (error == SocketError.WouldBlock)
                return null;
            if (error != SocketError.Success)
                return $"receive failed during the handshake ({error})";
            if (n == 0)
                return h.Length == 0 ? "closed the connection without a handshake" : "closed the connection during the handshake";
            h.Length += n;

            if (h.HelloSize == 0)
            {
                if (TcpHandshake.CheckPrefix(h.Buffer.AsSpan(0, h.Length)) is { } bad)
                    return bad;
                if (h.Length == TcpHandshake.FixedHelloSize)
                    h.HelloSize = TcpHandshake.HelloSize(h.Buffer);
                continue;
            }

            if (h.AcceptorNonce is null)
            {
                if (h.Length < h.HelloSize)
                    continue;
                TcpHandshake.Hello hello = TcpHandshake.ParseHello(h.Buffer.AsSpan(0, h.HelloSize));
                if (hello.JobId != _jobId)
                    return $"wrong job id '{Printable(hello.JobId)}'";
                if (hello.Receiver != WorldRank)
                    return $"handshake addressed to rank {hello.Receiver}";
                if (hello.Sender <= WorldRank || hello.Sender >= _peerOfRank.Length || _peerOfRank[hello.Sender] is null)
                    return $"claims to be rank {hello.Sender}, which does not connect to this rank";

                byte[] reply = TcpHandshake.BuildHello(WorldRank, hello.Sender, _jobId, out byte[] nonce);
                byte[] mac = TcpHandshake.ComputeMac(_secret, acceptorSide: true, _jobId, hello.Sender, WorldRank, hello.Nonce, nonce);
                byte[] message = [.. reply, .. mac];
                int sent = h.Socket.Send(message, SocketFlags.None, out error);
                if (error != SocketError.Success || sent != message.Length)
                    return $"could not send the handshake reply ({error})";
                h.Hello = hello;
                h.AcceptorNonce = nonce;
                continue;
            }

            if (h.Length < h.HelloSize + TcpHandshake.MacSize)
                continue;
            byte[] expected = TcpHandshake.ComputeMac(_secret, acceptorSide: false, _jobId, h.Hello.Sender, WorldRank, h.Hello.Nonce, h.AcceptorNonce);
            if (!TcpHandshake.MacEquals(expected, h.Buffer.AsSpan(h.HelloSize, TcpHandshake.MacSize)))
                return $"authentication failed for rank {h.Hello.Sender} (wrong secret or replayed handshake)";

            Peer p = _peerOfRank[h.Hello.Sender]!;
            lock (_connectLock)
            {
                if (p.Socket is not null)
                    return $"rank {p.Rank} is already connected";
                p.Socket = h.Socket;
                p.RemoteEndPoint = h.Socket.RemoteEndPoint as IPEndPoint;
                p.State = PeerState.Open;
                _missingIncoming--;
                Monitor.PulseAll(_connectLock);
            }

            return "";
        }
    }

    private void Reject(Socket socket, string remote, string reason)
    {
        socket.Dispose();
        // Logged before it is counted, so whoever watches the count finds the line already written.
        int count = Volatile.Read(ref _rejections) + 1;
        if (count <= MaxLoggedRejections)
            Log($"sharpmpi: rank {WorldRank} rejected a connection from {remote}: {reason}");
        if (count == MaxLoggedRejections)
            Log($"sharpmpi: rank {WorldRank}: further rejected connections are not logged");
        Interlocked.Increment(ref _rejections);
    }

    private void Log(string line)
    {
        if (Options.Log is { } log)
        {
            log(line);
            return;
        }

        try
        {
            Console.Error.WriteLine(line);
        }
        catch (IOException)
        {
        }
    }

    private static string Printable(string text)
    {
        var sb = new StringBuilder(Math.Min(text.Length, 64));
        foreach (char c in text.AsSpan(0, Math.Min(text.Length, 64)))
            sb.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '?');
        return sb.ToString();
    }

    /// <summary>An accepted connection whose handshake is under way (accept thread only).</summary>
    private sealed class PendingHandshake(Socket socket, string remote, long deadline)
    {
        public readonly Socket Socket = socket;
        public readonly string Remote = remote;
        public readonly long Deadline = deadline;
        public readonly byte[] Buffer = new byte[TcpHandshake.FixedHelloSize + TcpHandshake.MaxJobIdBytes + TcpHandshake.MacSize];
        public int Length;
        public int HelloSize;
        public TcpHandshake.Hello Hello;
        public byte[]? AcceptorNonce;
    }

    // ---------------------------------------------------------------- shutdown

    /// <summary>
    /// Stops the threads, sends a Goodbye frame (after any bytes still waiting) on every open connection,
    /// shuts down the sending side, reads and discards what the peers still send until they close or
    /// <see cref="TcpOptions.LingerTimeout"/> passes, and closes everything.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        StopThreads();
        try
        {
            Linger();
        }
        finally
        {
            foreach (Peer p in _peers)
                p.Socket?.Dispose();
            _listener.Dispose();
            _pollerWake.Dispose();
            _acceptWake.Dispose();
        }
    }

    /// <summary>Tests: ends every connection at once without a Goodbye, as if the process had been killed.</summary>
    internal void SimulateCrash()
    {
        if (_disposed)
            return;
        _disposed = true;
        StopThreads();
        foreach (Peer p in _peers)
        {
            if (p.Socket is { } s)
            {
                s.LingerState = new LingerOption(true, 0); // RST, like a killed process with unread input
                s.Dispose();
            }
        }

        _listener.Dispose();
        _pollerWake.Dispose();
        _acceptWake.Dispose();
    }

    private void StopThreads()
    {
        _stopping = true;
        _acceptWake.Poke();
        _pollerWake.Poke();
        _rearm.Set();
        _pollerThread?.Join(TimeSpan.FromSeconds(5));
        _acceptThread?.Join(TimeSpan.FromSeconds(5));
    }

    private void Linger()
    {
        var open = new List<Peer>();
        var goodbye = new FrameHeader { Kind = FrameKind.Goodbye };
        foreach (Peer p in _peers)
        {
            if (p.Socket is null || p.State >= PeerState.Closed)
                continue;
            if (p.State == PeerState.Open)
            {
                if (p.SendEnd == p.SendStart)
                    p.SendStart = p.SendEnd = 0;
                Append(p, goodbye, default);
            }

            open.Add(p);
        }

        long deadline = Stopwatch.GetTimestamp() + (long)(Options.LingerTimeout.TotalSeconds * Stopwatch.Frequency);
        var read = new List<Socket>();
        var write = new List<Socket>();
        var sentAll = new HashSet<Peer>();
        var closed = new HashSet<Peer>();
        byte[] scratch = new byte[64 * 1024];
        while (true)
        {
            foreach (Peer p in open)
            {
                if (!sentAll.Contains(p) && p.State == PeerState.Open)
                    FlushQuietly(p); // on failure it drops what waits: nothing more can be sent
                if (!sentAll.Contains(p) && (p.State != PeerState.Open || p.SendEnd == p.SendStart))
                {
                    sentAll.Add(p);
                    try
                    {
                        p.Socket!.Shutdown(SocketShutdown.Send);
                    }
                    catch (SocketException)
                    {
                    }
                }

                while (!closed.Contains(p))
                {
                    int n = p.Socket!.Receive(scratch, SocketFlags.None, out SocketError error);
                    if (error == SocketError.WouldBlock)
                        break;
                    if (error != SocketError.Success || n == 0)
                        closed.Add(p);
                }
            }

            TimeSpan remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
            if (closed.Count == open.Count || remaining <= TimeSpan.Zero)
                return;
            read.Clear();
            write.Clear();
            foreach (Peer p in open)
            {
                if (!closed.Contains(p))
                    read.Add(p.Socket!);
                if (!sentAll.Contains(p))
                    write.Add(p.Socket!);
            }

            Socket.Select(read, write.Count > 0 ? write : null, null, (int)Math.Clamp(remaining.TotalMicroseconds, 1_000, 1_000_000));
        }
    }

    /// <summary>Flush at shutdown: a failure just ends the connection (no event).</summary>
    private static void FlushQuietly(Peer p)
    {
        while (p.SendEnd > p.SendStart)
        {
            int n = p.Socket!.Send(p.SendBuffer.AsSpan(p.SendStart, p.SendEnd - p.SendStart), SocketFlags.None, out SocketError error);
            if (error == SocketError.WouldBlock)
                return;
            if (error != SocketError.Success)
            {
                p.SendStart = p.SendEnd = 0;
                return;
            }

            p.SendStart += n;
        }
    }
}
