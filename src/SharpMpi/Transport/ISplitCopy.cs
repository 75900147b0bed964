namespace SharpMpi.Transport;

/// <summary>
/// A transport on which the sender of a large single-copy message can copy part of it into the receiver's
/// buffer while the receiver pulls the rest, so two cores move it. The receiver opens a split copy when it
/// matches the message, tells the sender (<see cref="Engine.FrameKind.SplitCopy"/>) and starts pulling at
/// once; the sender helps when that frame reaches it, if any chunk is left. Only the receiver waits, and
/// only for chunks the sender has already started.
/// </summary>
internal unsafe interface ISplitCopy
{
    /// <summary>Smallest message split this way; <see cref="long.MaxValue"/> when never.</summary>
    long SplitCopyThreshold { get; }

    /// <summary>Receiver: reserves a split copy of a <paramref name="length"/>-byte message from <paramref name="peer"/>; false when it cannot (then pull alone).</summary>
    bool TryOpenSplitCopy(int peer, long length, out int slot, out int generation);

    /// <summary>Receiver: copies its share from <paramref name="source"/> in the peer, waits for the peer's share, and ends the split copy.</summary>
    /// <exception cref="IOException">A copy failed or the peer died during it.</exception>
    void PullSplitCopy(int peer, int slot, int generation, ulong source, byte* destination, long length);

    /// <summary>Sender: copies chunks of the split copy <paramref name="peer"/> opened until none is left; nothing when it is over already.</summary>
    void PushSplitCopy(int peer, int slot, int generation, byte* source, ulong destination, long length);
}
