using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace SharpMpi.Transport.Tcp;

/// <summary>
/// The connection handshake. The higher world rank connects ("connector", C) to the lower ("acceptor", A):
/// <code>
/// C → A   hello(C)                       32 bytes + job id
/// A → C   hello(A) + mac(A)              32 bytes + job id + 32 bytes
/// C → A   mac(C)                         32 bytes
/// </code>
/// hello = "SMPI" (4), version u16, job-id length u16, sender world rank i32, receiver world rank i32,
/// 16-byte random nonce, job id (ASCII); integers little-endian.
/// mac(X) = HMAC-SHA256(secret, "SharpMPI-TCP-1" ‖ X ‖ job id ‖ connector rank ‖ acceptor rank ‖ nonce(C) ‖ nonce(A)).
/// Each side proves knowledge of the per-job secret over both fresh nonces, so recorded handshake bytes
/// cannot be replayed, and the role byte keeps one side's MAC from being reflected as the other's.
/// Frames follow mac(C) directly; each side reads exactly the handshake bytes, never more.
/// </summary>
internal static class TcpHandshake
{
    /// <summary>Protocol version; a peer with another version is rejected.</summary>
    public const ushort Version = 1;

    /// <summary>Bytes of the fixed part of a hello.</summary>
    public const int FixedHelloSize = 32;

    /// <summary>Bytes of a nonce.</summary>
    public const int NonceSize = 16;

    /// <summary>Bytes of a MAC (HMAC-SHA256).</summary>
    public const int MacSize = 32;

    /// <summary>Longest job id accepted in a hello.</summary>
    public const int MaxJobIdBytes = 128;

    /// <summary>The four bytes every connection starts with.</summary>
    public static ReadOnlySpan<byte> Magic => "SMPI"u8;

    private static ReadOnlySpan<byte> MacLabel => "SharpMPI-TCP-1"u8;

    /// <summary>A parsed hello.</summary>
    public readonly record struct Hello(int Sender, int Receiver, byte[] Nonce, string JobId);

    /// <summary>Builds a hello with a fresh nonce (returned in <paramref name="nonce"/>).</summary>
    public static byte[] BuildHello(int sender, int receiver, string jobId, out byte[] nonce)
    {
        byte[] job = Encoding.ASCII.GetBytes(jobId);
        if (job.Length > MaxJobIdBytes)
            throw new ArgumentException($"job id '{jobId}' is longer than {MaxJobIdBytes} bytes.", nameof(jobId));
        nonce = RandomNumberGenerator.GetBytes(NonceSize);
        byte[] hello = new byte[FixedHelloSize + job.Length];
        Magic.CopyTo(hello);
        BinaryPrimitives.WriteUInt16LittleEndian(hello.AsSpan(4), Version);
        BinaryPrimitives.WriteUInt16LittleEndian(hello.AsSpan(6), (ushort)job.Length);
        BinaryPrimitives.WriteInt32LittleEndian(hello.AsSpan(8), sender);
        BinaryPrimitives.WriteInt32LittleEndian(hello.AsSpan(12), receiver);
        nonce.CopyTo(hello.AsSpan(16));
        job.CopyTo(hello.AsSpan(FixedHelloSize));
        return hello;
    }

    /// <summary>
    /// Checks the first bytes of a hello as they arrive: null while they can still be a hello, else why not.
    /// </summary>
    public static string? CheckPrefix(ReadOnlySpan<byte> received)
    {
        int n = Math.Min(received.Length, Magic.Length);
        if (!received[..n].SequenceEqual(Magic[..n]))
            return "not a SharpMPI connection (bad magic)";
        if (received.Length >= 6)
        {
            ushort version = BinaryPrimitives.ReadUInt16LittleEndian(received[4..]);
            if (version != Version)
                return $"protocol version {version}, expected {Version}";
        }

        if (received.Length >= 8)
        {
            int length = BinaryPrimitives.ReadUInt16LittleEndian(received[6..]);
            if (length is 0 or > MaxJobIdBytes)
                return $"job id length {length} out of range";
        }

        return null;
    }

    /// <summary>Total bytes of the hello whose fixed part is <paramref name="fixedPart"/> (after <see cref="CheckPrefix"/> passed).</summary>
    public static int HelloSize(ReadOnlySpan<byte> fixedPart) =>
        FixedHelloSize + BinaryPrimitives.ReadUInt16LittleEndian(fixedPart[6..]);

    /// <summary>Parses a complete hello (prefix already checked).</summary>
    public static Hello ParseHello(ReadOnlySpan<byte> hello)
    {
        int sender = BinaryPrimitives.ReadInt32LittleEndian(hello[8..]);
        int receiver = BinaryPrimitives.ReadInt32LittleEndian(hello[12..]);
        byte[] nonce = hello.Slice(16, NonceSize).ToArray();
        string jobId = Encoding.ASCII.GetString(hello[FixedHelloSize..]);
        return new Hello(sender, receiver, nonce, jobId);
    }

    /// <summary>The MAC one side sends: <paramref name="acceptorSide"/> selects the role byte.</summary>
    public static byte[] ComputeMac(byte[] secret, bool acceptorSide, string jobId, int connector, int acceptor, ReadOnlySpan<byte> connectorNonce, ReadOnlySpan<byte> acceptorNonce)
    {
        byte[] job = Encoding.ASCII.GetBytes(jobId);
        byte[] message = new byte[MacLabel.Length + 1 + job.Length + 8 + 2 * NonceSize];
        var span = message.AsSpan();
        MacLabel.CopyTo(span);
        span = span[MacLabel.Length..];
        span[0] = acceptorSide ? (byte)'A' : (byte)'C';
        span = span[1..];
        job.CopyTo(span);
        span = span[job.Length..];
        BinaryPrimitives.WriteInt32LittleEndian(span, connector);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], acceptor);
        connectorNonce.CopyTo(span[8..]);
        acceptorNonce.CopyTo(span[(8 + NonceSize)..]);
        return HMACSHA256.HashData(secret, message);
    }

    /// <summary>Constant-time comparison of two MACs.</summary>
    public static bool MacEquals(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) =>
        a.Length == b.Length && CryptographicOperations.FixedTimeEquals(a, b);

    /// <summary>
    /// Connects to <paramref name="endpoint"/> (retrying refused connections until <paramref name="deadline"/>,
    /// a <see cref="Stopwatch"/> timestamp) and runs the connector side of the handshake. Returns a
    /// non-blocking socket with NoDelay set, ready for frames.
    /// </summary>
    /// <param name="endpoint">The peer's listening address.</param>
    /// <param name="selfRank">This rank.</param>
    /// <param name="peerRank">The rank expected at <paramref name="endpoint"/>.</param>
    /// <param name="jobId">The job both must belong to.</param>
    /// <param name="secret">The job's secret, the HMAC key.</param>
    /// <param name="handshakeTimeout">How long the handshake itself may take.</param>
    /// <param name="deadline">Until when refused connections are retried.</param>
    /// <param name="transcript">When not null, receives every byte this side sent (tests replay it).</param>
    /// <exception cref="IOException">The peer could not be reached in time or failed the handshake.</exception>
    public static Socket Connect(IPEndPoint endpoint, int selfRank, int peerRank, string jobId, byte[] secret,
        TimeSpan handshakeTimeout, long deadline, List<byte>? transcript = null)
    {
        Socket socket = ConnectWithRetry(endpoint, peerRank, deadline);
        try
        {
            socket.NoDelay = true;
            socket.Blocking = true;
            socket.ReceiveTimeout = socket.SendTimeout = (int)Math.Max(1, handshakeTimeout.TotalMilliseconds);

            byte[] hello = BuildHello(selfRank, peerRank, jobId, out byte[] myNonce);
            SendAll(socket, hello, transcript);

            byte[] fixedPart = ReceiveExactly(socket, FixedHelloSize, peerRank);
            if (CheckPrefix(fixedPart) is { } bad)
                throw new IOException($"rank {peerRank} at {endpoint} answered the handshake wrongly: {bad}.");
            int size = HelloSize(fixedPart);
            byte[] rest = ReceiveExactly(socket, size - FixedHelloSize + MacSize, peerRank);
            byte[] reply = [.. fixedPart, .. rest.AsSpan(0, size - FixedHelloSize)];
            Hello theirs = ParseHello(reply);
            if (theirs.Sender != peerRank || theirs.Receiver != selfRank || theirs.JobId != jobId)
            {
                throw new IOException(
                    $"{endpoint} is not rank {peerRank} of job {jobId} (it says rank {theirs.Sender} of job {theirs.JobId}, talking to rank {theirs.Receiver}).");
            }

            byte[] expected = ComputeMac(secret, acceptorSide: true, jobId, selfRank, peerRank, myNonce, theirs.Nonce);
            if (!MacEquals(expected, rest.AsSpan(size - FixedHelloSize)))
                throw new IOException($"rank {peerRank} at {endpoint} failed authentication (a different job secret).");

            SendAll(socket, ComputeMac(secret, acceptorSide: false, jobId, selfRank, peerRank, myNonce, theirs.Nonce), transcript);
            socket.Blocking = false;
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new IOException($"handshake with rank {peerRank} at {endpoint} failed: {e.SocketErrorCode} ({e.Message}).", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private const int IpProtocolTcp = 6;
    private const int TcpSynCount = 7;

    /// <summary>SYN retransmissions (1 s, 2 s, 4 s, ... apart) that fit before <paramref name="deadline"/>: 1 to 6.</summary>
    private static int SynRetriesFor(long deadline)
    {
        double seconds = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline).TotalSeconds;
        int retries = 1;
        while (retries < 6 && Math.Pow(2, retries + 2) - 1 <= seconds)
            retries++;
        return retries;
    }

    private static Socket ConnectWithRetry(IPEndPoint endpoint, int peerRank, long deadline)
    {
        int delayMs = 5;
        while (true)
        {
            var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            string? failure;
            bool retry = false;
            try
            {
                // A blocking connect. Not the non-blocking connect + poll it could be: .NET on Unix registers a
                // socket whose connect returned EINPROGRESS with its epoll thread, which from then on wakes a
                // thread-pool worker for every message that arrives, stealing the ranks' cores (TCP latency
                // was 8x Open MPI's on 2 cores). An unreachable host costs the kernel's SYN retries, bounded
                // here to about the time left before the deadline.
                socket.SetRawSocketOption(IpProtocolTcp, TcpSynCount, BitConverter.GetBytes(SynRetriesFor(deadline)));
                socket.Connect(endpoint);
                failure = null;
            }
            catch (SocketException e)
            {
                failure = e.SocketErrorCode.ToString();
                retry = e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset;
            }

            if (failure is null)
                return socket;
            socket.Dispose();
            if (!retry || Stopwatch.GetTimestamp() >= deadline)
                throw new IOException($"cannot connect to rank {peerRank} at {endpoint}: {failure}.");
            Thread.Sleep(delayMs);
            delayMs = Math.Min(delayMs * 2, 200);
        }
    }

    private static void SendAll(Socket socket, byte[] bytes, List<byte>? transcript)
    {
        int sent = 0;
        while (sent < bytes.Length)
            sent += socket.Send(bytes, sent, bytes.Length - sent, SocketFlags.None);
        transcript?.AddRange(bytes);
    }

    private static byte[] ReceiveExactly(Socket socket, int count, int peerRank)
    {
        byte[] buffer = new byte[count];
        int received = 0;
        while (received < count)
        {
            int n = socket.Receive(buffer, received, count - received, SocketFlags.None);
            if (n == 0)
                throw new IOException($"rank {peerRank} closed the connection during the handshake (it rejected this rank; see its standard error).");
            received += n;
        }

        return buffer;
    }
}
