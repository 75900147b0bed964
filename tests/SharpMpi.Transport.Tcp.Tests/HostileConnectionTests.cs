using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace SharpMpi.Transport.Tcp.Tests;

/// <summary>
/// Strangers connecting to a rank's port are rejected and logged once each, and frames between the real
/// ranks keep flowing.
/// </summary>
public sealed class HostileConnectionTests
{
    private static TcpOptions FastHandshake => new() { HandshakeTimeout = TimeSpan.FromSeconds(1) };

    [Fact(Timeout = 60_000)]
    public async Task RandomBytes_AreRejected()
    {
        using var job = await TcpJob.StartAsync(3, FastHandshake, TestContext.Current.CancellationToken);
        using var stranger = Connect(job[0]);
        byte[] garbage = RandomNumberGenerator.GetBytes(200);
        garbage[0] = (byte)'X';
        stranger.Send(garbage);
        AssertClosedByPeer(stranger);
        await WaitForRejections(job[0], 1);
        Assert.Contains(job.Log, l => l.StartsWith("sharpmpi: rank 0 rejected a connection from 127.0.0.1: ", StringComparison.Ordinal) && l.Contains("bad magic"));
        TcpTransportTests.AssertFramesFlow(job, 1, 0);
        TcpTransportTests.AssertFramesFlow(job, 0, 2);
    }

    [Fact(Timeout = 60_000)]
    public async Task WrongSecret_IsRejected()
    {
        using var job = await TcpJob.StartAsync(3, FastHandshake, TestContext.Current.CancellationToken);
        using var stranger = Connect(job[0]);
        byte[] hello = TcpHandshake.BuildHello(2, 0, job.JobId, out byte[] nonce);
        stranger.Send(hello);
        byte[] reply = ReceiveExactly(stranger, hello.Length + TcpHandshake.MacSize);
        var theirs = TcpHandshake.ParseHello(reply.AsSpan(0, hello.Length));
        byte[] wrongSecret = RandomNumberGenerator.GetBytes(32);
        stranger.Send(TcpHandshake.ComputeMac(wrongSecret, acceptorSide: false, job.JobId, 2, 0, nonce, theirs.Nonce));
        AssertClosedByPeer(stranger);
        await WaitForRejections(job[0], 1);
        // The rejection is counted before its line is logged: give the log a moment.
        for (int i = 0; i < 100 && !job.Log.Any(l => l.Contains("authentication failed")); i++)
            await Task.Delay(50, TestContext.Current.CancellationToken);
        Assert.Contains(job.Log, l => l.Contains("authentication failed"));
        TcpTransportTests.AssertFramesFlow(job, 2, 0);
    }

    [Fact(Timeout = 60_000)]
    public async Task WrongJobId_IsRejected()
    {
        using var job = await TcpJob.StartAsync(2, FastHandshake, TestContext.Current.CancellationToken);
        using var stranger = Connect(job[0]);
        stranger.Send(TcpHandshake.BuildHello(1, 0, "another-job", out _));
        AssertClosedByPeer(stranger);
        await WaitForRejections(job[0], 1);
        Assert.Contains(job.Log, l => l.Contains("wrong job id 'another-job'"));
        TcpTransportTests.AssertFramesFlow(job, 1, 0);
    }

    [Fact(Timeout = 60_000)]
    public async Task ReplayedHandshake_IsRejected()
    {
        using var job = await TcpJob.StartAsync(3, FastHandshake, TestContext.Current.CancellationToken);
        var endpoint = job[0].ListenEndPoint;

        // A genuine handshake by someone who knows the secret, recorded on the wire: rank 0 accepts the
        // authentication and then refuses the connection, because rank 2 is connected already.
        var transcript = new List<byte>();
        long deadline = Stopwatch.GetTimestamp() + 10 * Stopwatch.Frequency;
        using (var genuine = TcpHandshake.Connect(endpoint, 2, 0, job.JobId, job.Secret, TimeSpan.FromSeconds(5), deadline, transcript))
        {
            genuine.Blocking = true;
            AssertClosedByPeer(genuine);
        }

        await WaitForRejections(job[0], 1);
        Assert.Contains(job.Log, l => l.Contains("rank 2 is already connected"));

        // The recorded bytes replayed later: rank 0's fresh nonce makes the recorded MAC worthless.
        using var replay = Connect(job[0]);
        replay.Send(transcript.ToArray());
        AssertClosedByPeer(replay);
        await WaitForRejections(job[0], 2);
        Assert.Contains(job.Log, l => l.Contains("authentication failed for rank 2 (wrong secret or replayed handshake)"));
        TcpTransportTests.AssertFramesFlow(job, 2, 0);
        TcpTransportTests.AssertFramesFlow(job, 0, 2);
    }

    [Fact(Timeout = 90_000)]
    public async Task ThousandIdleConnections_TimeOut_WhileFramesFlow()
    {
        using var job = await TcpJob.StartAsync(3, FastHandshake, TestContext.Current.CancellationToken);
        var idle = new List<Socket>();
        try
        {
            // 1000 strangers that connect and send nothing (a port scanner, a half-open flood), most of them
            // on rank 0: still under its cap of pending handshakes, so each must time out on its own.
            for (int i = 0; i < 1000; i++)
                idle.Add(Connect(job[i % 4 == 3 ? 1 : 0]));

            // The job is not stalled by them.
            var watch = Stopwatch.StartNew();
            TcpTransportTests.AssertFramesFlow(job, 1, 0);
            TcpTransportTests.AssertFramesFlow(job, 2, 1);
            TcpTransportTests.AssertFramesFlow(job, 0, 2);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"frames took {watch.Elapsed} next to idle connections");

            await WaitForRejections(job[0], 750);
            await WaitForRejections(job[1], 250);
            foreach (var s in idle)
                AssertClosedByPeer(s);
            Assert.Contains(job.Log, l => l.Contains("sent nothing within 1 s"));
            // One line per rejection up to a cap, then a single note.
            Assert.Contains(job.Log, l => l.Contains("further rejected connections are not logged"));
            Assert.True(job.Log.Length < 100, $"{job.Log.Length} log lines");
            TcpTransportTests.AssertFramesFlow(job, 1, 0);
        }
        finally
        {
            foreach (var s in idle)
                s.Dispose();
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task ConnectingAndClosingAtOnce_IsRejected_Quietly()
    {
        using var job = await TcpJob.StartAsync(2, FastHandshake, TestContext.Current.CancellationToken);
        for (int i = 0; i < 20; i++)
            Connect(job[0]).Dispose();
        await WaitForRejections(job[0], 20);
        Assert.Contains(job.Log, l => l.Contains("closed the connection without a handshake"));
        TcpTransportTests.AssertFramesFlow(job, 1, 0);
    }

    private static Socket Connect(TcpTransport target)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Connect(target.ListenEndPoint);
        s.ReceiveTimeout = 10_000;
        return s;
    }

    private static byte[] ReceiveExactly(Socket s, int count)
    {
        byte[] buffer = new byte[count];
        int got = 0;
        while (got < count)
        {
            int n = s.Receive(buffer, got, count - got, SocketFlags.None);
            Assert.True(n > 0, "the rank closed the connection before its handshake reply");
            got += n;
        }

        return buffer;
    }

    /// <summary>The rank closes a rejected connection: reading ends (EOF or reset) within the receive timeout.</summary>
    private static void AssertClosedByPeer(Socket s)
    {
        byte[] buffer = new byte[4096];
        s.ReceiveTimeout = 10_000;
        try
        {
            while (s.Receive(buffer) > 0)
            {
            }
        }
        catch (SocketException e)
        {
            Assert.NotEqual(SocketError.TimedOut, e.SocketErrorCode);
            Assert.NotEqual(SocketError.WouldBlock, e.SocketErrorCode);
        }
    }

    private static async Task WaitForRejections(TcpTransport transport, int count)
    {
        var watch = Stopwatch.StartNew();
        while (transport.RejectedConnections < count)
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"{transport.RejectedConnections} rejections, expected {count}");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }
}
