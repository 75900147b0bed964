using System.Collections.Concurrent;

namespace SharpMpi.Transport.InProcess;

/// <summary>
/// Connects ranks that live in one process (tests, <see cref="MpiTestHost"/>, and a rank's messages to itself).
/// Each rank has an inbox (a concurrent queue of frames whose payloads are copied into pooled arrays) and a
/// private doorbell that senders ring.
/// </summary>
internal sealed class InProcessHub
{
    private readonly Inbox[] _inboxes;

    /// <param name="worldRanks">Number of ranks; inbox i belongs to world rank i.</param>
    /// <param name="options">Limits and the single-copy switch.</param>
    /// <param name="doorbell">
    /// When given, every inbox rings this doorbell (a rank's loopback to itself must wake the doorbell its
    /// engine sleeps on, e.g. the shared-memory one); otherwise each inbox gets a private doorbell.
    /// </param>
    public InProcessHub(int worldRanks, InProcessOptions options, Doorbell? doorbell = null)
    {
        Options = options;
        _inboxes = new Inbox[worldRanks];
        for (int i = 0; i < worldRanks; i++)
            _inboxes[i] = new Inbox(doorbell ?? new Doorbell());
    }

    public InProcessOptions Options { get; }

    internal Inbox InboxOf(int worldRank) => _inboxes[worldRank];

    /// <summary>A transport for <paramref name="worldRank"/> that reaches every rank of the hub.</summary>
    public InProcessTransport CreateTransport(int worldRank) => new(this, worldRank);

    internal readonly struct Frame(int peer, Engine.FrameHeader header, byte[]? payload)
    {
        public readonly int Peer = peer;
        public readonly Engine.FrameHeader Header = header;
        public readonly byte[]? Payload = payload;
    }

    internal sealed class Inbox(Doorbell doorbell)
    {
        public readonly ConcurrentQueue<Frame> Frames = new();
        public readonly Doorbell Doorbell = doorbell;
    }
}

/// <summary>Limits of the in-process transport.</summary>
internal sealed record InProcessOptions
{
    /// <summary>Messages up to this size go eagerly.</summary>
    public int EagerLimit { get; init; } = 16 * 1024;

    /// <summary>Largest payload of one frame (chunk size of streamed rendezvous messages).</summary>
    public int MaxFramePayload { get; init; } = 64 * 1024;

    /// <summary>Whether the receiver copies large messages straight from the sender's buffer.</summary>
    public bool SingleCopy { get; init; } = true;
}
