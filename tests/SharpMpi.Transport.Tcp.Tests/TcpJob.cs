using System.Collections.Concurrent;
using System.Security.Cryptography;
using SharpMpi.Engine;

namespace SharpMpi.Transport.Tcp.Tests;

/// <summary>
/// Several TCP transports of one job inside the test process on 127.0.0.1: addresses exchanged through a
/// dictionary, the fence a <see cref="Barrier"/>. Dispose closes every transport (concurrently, like ranks
/// finalizing together) and frees the doorbells.
/// </summary>
internal sealed class TcpJob : IDisposable
{
    private readonly ConcurrentBag<string> _log;

    private TcpJob(TcpTransport[] transports, Doorbell[] doorbells, byte[] secret, string jobId, ConcurrentBag<string> log)
    {
        Transports = transports;
        Doorbells = doorbells;
        Secret = secret;
        JobId = jobId;
        _log = log;
    }

    public TcpTransport[] Transports { get; }

    public Doorbell[] Doorbells { get; }

    public byte[] Secret { get; }

    public string JobId { get; }

    /// <summary>Lines the transports logged (rejected connections).</summary>
    public string[] Log => [.. _log];

    public TcpTransport this[int rank] => Transports[rank];

    public static async Task<TcpJob> StartAsync(int ranks, TcpOptions? options, CancellationToken cancellationToken)
    {
        var log = new ConcurrentBag<string>();
        options ??= new TcpOptions();
        options = new TcpOptions
        {
            EagerLimit = options.EagerLimit,
            MaxFramePayload = options.MaxFramePayload,
            SendBufferSize = options.SendBufferSize,
            ReceiveBufferSize = options.ReceiveBufferSize,
            HandshakeTimeout = options.HandshakeTimeout,
            ConnectTimeout = TimeSpan.FromSeconds(20),
            LingerTimeout = options.LingerTimeout,
            DirectPollPeers = options.DirectPollPeers,
            Interface = "127.0.0.1",
            Log = log.Add,
        };
        byte[] secret = RandomNumberGenerator.GetBytes(32);
        string jobId = "tcptest-" + Guid.NewGuid().ToString("N")[..12];
        var addresses = new ConcurrentDictionary<int, string>();
        using var barrier = new Barrier(ranks);
        var doorbells = new Doorbell[ranks];
        var tasks = new Task<TcpTransport>[ranks];
        for (int r = 0; r < ranks; r++)
        {
            doorbells[r] = new Doorbell();
            int rank = r;
            int[] peers = [.. Enumerable.Range(0, ranks).Where(p => p != rank)];
            tasks[r] = Threads.Start(() => TcpTransport.Create(options, rank, peers, secret, jobId, doorbells[rank],
                address => addresses[rank] = address,
                () =>
                {
                    if (!barrier.SignalAndWait(TimeSpan.FromSeconds(20)))
                        throw new TimeoutException("fence timed out");
                },
                peer => addresses[peer],
                jobOnOneHost: true));
        }

        try
        {
            await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        }
        catch
        {
            foreach (var t in tasks)
            {
                if (t.IsCompletedSuccessfully)
                    t.Result.Dispose();
            }

            throw;
        }

        return new TcpJob([.. tasks.Select(t => t.Result)], doorbells, secret, jobId, log);
    }

    public void Dispose()
    {
        Task.WhenAll(Transports.Select(t => Threads.Start(t.Dispose))).Wait(TimeSpan.FromSeconds(30));
        foreach (var d in Doorbells)
            d.Dispose();
    }
}

internal static class Threads
{
    public static Task Start(Action body) =>
        Task.Factory.StartNew(body, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    public static Task<T> Start<T>(Func<T> body) =>
        Task.Factory.StartNew(body, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
}

/// <summary>
/// Keeps every frame per peer. Data frames delivered in pieces are joined again (checking that the pieces are
/// contiguous); the tests put a Data frame's full length in <see cref="FrameHeader.MessageLength"/>.
/// </summary>
internal sealed class AssemblingSink : IFrameSink
{
    private readonly Dictionary<int, (FrameHeader Header, byte[] Data, int Filled)> _partial = [];
    private int _count;

    public List<(int Peer, FrameHeader Header, byte[] Payload)> Frames { get; } = [];

    /// <summary>Complete frames so far (readable from other threads).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Calls of <see cref="OnFrame"/> (pieces count one each).</summary>
    public int Calls { get; private set; }

    public void OnFrame(int peer, in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        Assert.Equal(header.PayloadLength, payload.Length);
        Calls++;
        if (header.Kind == FrameKind.Data && payload.Length != header.MessageLength)
        {
            if (!_partial.TryGetValue(peer, out var partial))
                partial = (header, new byte[header.MessageLength], 0);
            Assert.Equal(partial.Header.Cookie, header.Cookie);
            Assert.Equal((ulong)partial.Filled, header.Address);
            payload.CopyTo(partial.Data.AsSpan(partial.Filled));
            partial.Filled += payload.Length;
            if (partial.Filled < partial.Data.Length)
            {
                _partial[peer] = partial;
                return;
            }

            _partial.Remove(peer);
            FrameHeader whole = partial.Header;
            whole.PayloadLength = partial.Data.Length;
            whole.Address = 0;
            Add(peer, whole, partial.Data);
            return;
        }

        Add(peer, header, payload.ToArray());
    }

    private void Add(int peer, FrameHeader header, byte[] payload)
    {
        lock (Frames)
            Frames.Add((peer, header, payload));
        Interlocked.Increment(ref _count);
    }
}

internal static class Pattern
{
    public static byte[] Bytes(int length, long seed)
    {
        var bytes = new byte[length];
        ulong x = (ulong)seed * 0x9E3779B97F4A7C15 + 1;
        for (int i = 0; i < bytes.Length; i++)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes[i] = (byte)x;
        }

        return bytes;
    }

    public static FrameHeader Eager(int length, int tag) =>
        new() { Kind = FrameKind.Eager, PayloadLength = length, MessageLength = length, Tag = tag, Context = 4 };

    public static FrameHeader Data(int length, int tag, long cookie) =>
        new() { Kind = FrameKind.Data, PayloadLength = length, MessageLength = length, Tag = tag, Cookie = cookie };
}
