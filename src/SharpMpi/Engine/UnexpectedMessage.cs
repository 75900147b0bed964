namespace SharpMpi.Engine;

/// <summary>
/// A message that arrived before a matching receive was posted: an eager message with its payload copied
/// into a pooled buffer, or a rendezvous announcement (RTS) whose payload still sits at the sender.
/// Pooled by the engine; touched only under the engine lock.
/// </summary>
internal sealed class UnexpectedMessage
{
    public int Context;
    public int Source;
    public int Tag;
    public int PeerWorld;
    public FrameFlags Flags;
    public bool IsRendezvous;
    public long Length;
    public long Cookie;
    public ulong Address;
    /// <summary>Eager payload (pooled array, at least <see cref="Length"/> bytes); null for rendezvous.</summary>
    public byte[]? Data;
    /// <summary>True once a matched probe took this message out of the queue.</summary>
    public bool Claimed;

    public UnexpectedMessage? Next;
    public UnexpectedMessage? Prev;
}
