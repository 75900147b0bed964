namespace SharpMpi.Rma;

/// <summary>
/// The active messages of one-sided communication. On the wire (eager frames on the window's context):
/// Tag = op | (operator &lt;&lt; 8) | (flags &lt;&lt; 16), Address = target byte offset (replies: offset in the origin's
/// buffer), MessageLength = an auxiliary value (Get: bytes wanted; GetAccumulate: offset in the origin's
/// result buffer), Cookie = the origin's pending operation.
/// </summary>
internal enum RmaOp : byte
{
    Put = 1,
    Get,
    Accumulate,
    GetAccumulate,
    CompareAndSwap,
    /// <summary>Data for a pending Get / GetAccumulate / CompareAndSwap at the origin.</summary>
    Reply,
    /// <summary>A Get or fetching operation failed at the target (memory not in the window).</summary>
    ErrorReply,
    Lock,
    LockGranted,
    Unlock,
    Flush,
    /// <summary>Acknowledges Unlock or Flush; flag <see cref="RmaFlags.Error"/> reports an earlier failed Put/Accumulate.</summary>
    SyncAck,
    FenceMark,
    PostNotice,
    CompleteNotice,
    /// <summary>
    /// A Put above the active-message limit: the payload is the origin's source address, and the target copies
    /// MessageLength bytes from there with the rendezvous pull path (one copy), then answers
    /// <see cref="SyncAck"/> (flag <see cref="RmaFlags.Refused"/> when it cannot pull: the origin sends chunks).
    /// </summary>
    PutPull,
}

/// <summary>Flags of an RMA active message.</summary>
[Flags]
internal enum RmaFlags : byte
{
    None = 0,
    /// <summary>Lock/Unlock: the exclusive lock.</summary>
    Exclusive = 1,
    /// <summary>SyncAck: an earlier operation of this origin failed at the target.</summary>
    Error = 2,
    /// <summary>SyncAck of a PutPull: the target cannot read the origin's memory; nothing was written.</summary>
    Refused = 4,
}
