using SharpMpi.Engine;
using SharpMpi.Transport.SharedMemory;

namespace SharpMpi.Transport.Tests.SharedMemory;

/// <summary>Several shared-memory transports of one job inside the test process, fenced by a <see cref="Barrier"/>.</summary>
internal sealed class ShmJob : IDisposable
{
    private ShmJob(string jobId, int[] ranks, SharedMemoryTransport[] transports)
    {
        JobId = jobId;
        Ranks = ranks;
        Transports = transports;
    }

    public string JobId { get; }

    /// <summary>World ranks, ascending.</summary>
    public int[] Ranks { get; }

    /// <summary>One transport per entry of <see cref="Ranks"/>.</summary>
    public SharedMemoryTransport[] Transports { get; }

    public static string NewJobId() => "test-" + Guid.NewGuid().ToString("N")[..16];

    /// <summary>Files of job <paramref name="jobId"/> still in /dev/shm.</summary>
    public static string[] Leftovers(string jobId) => Directory.GetFiles(SharedSegment.Directory, $"sharpmpi.{jobId}.*");

    public static async Task<ShmJob> StartAsync(int[] ranks, CancellationToken cancellationToken, SharedMemoryOptions? options = null)
    {
        string jobId = NewJobId();
        var barrier = new Barrier(ranks.Length);
        var tasks = new Task<SharedMemoryTransport>[ranks.Length];
        for (int i = 0; i < ranks.Length; i++)
        {
            int rank = ranks[i];
            tasks[i] = Threads.Start(() => SharedMemoryTransport.Create(options ?? new SharedMemoryOptions(), jobId, rank, ranks, () => Fence(barrier, cancellationToken)), cancellationToken);
        }

        await Task.WhenAll(tasks);
        var transports = new SharedMemoryTransport[ranks.Length];
        for (int i = 0; i < ranks.Length; i++)
            transports[i] = tasks[i].Result;
        return new ShmJob(jobId, ranks, transports);
    }

    public static void Fence(Barrier barrier, CancellationToken cancellationToken)
    {
        if (!barrier.SignalAndWait(TimeSpan.FromSeconds(30), cancellationToken))
            throw new TimeoutException("fence timed out");
    }

    public SharedMemoryTransport this[int worldRank] => Transports[Array.IndexOf(Ranks, worldRank)];

    public void Dispose()
    {
        foreach (SharedMemoryTransport transport in Transports)
            transport.Dispose();
    }
}

/// <summary>Runs blocking test bodies on dedicated background threads, so an xunit timeout never leaves a pool thread spinning.</summary>
internal static class Threads
{
    public static Task Start(Action body, CancellationToken cancellationToken) =>
        Task.Factory.StartNew(body, cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    public static Task<T> Start<T>(Func<T> body, CancellationToken cancellationToken) =>
        Task.Factory.StartNew(body, cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
}

/// <summary>Keeps a copy of every frame.</summary>
internal sealed class RecordingSink : IFrameSink
{
    public List<ReceivedFrame> Frames { get; } = [];

    public void OnFrame(int peer, in FrameHeader header, ReadOnlySpan<byte> payload) =>
        Frames.Add(new ReceivedFrame(peer, header, payload.ToArray()));
}

internal readonly record struct ReceivedFrame(int Peer, FrameHeader Header, byte[] Payload);

/// <summary>Deterministic payload bytes per frame, so the receiver can check every byte.</summary>
internal static class Pattern
{
    public static void Fill(Span<byte> destination, long seed)
    {
        ulong x = (ulong)seed * 0x9E3779B97F4A7C15 + 1;
        for (int i = 0; i < destination.Length; i++)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            destination[i] = (byte)x;
        }
    }

    public static byte[] Make(int length, long seed)
    {
        var bytes = new byte[length];
        Fill(bytes, seed);
        return bytes;
    }

    public static FrameHeader Header(int payloadLength, long sequence, int tag = 0) => new()
    {
        Kind = FrameKind.Eager,
        PayloadLength = payloadLength,
        Context = 1,
        Tag = tag,
        MessageLength = payloadLength,
        Cookie = sequence,
        Address = ~(ulong)sequence,
    };
}
