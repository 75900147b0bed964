using System.Runtime.InteropServices;

namespace SharpMpi.Engine;

/// <summary>What a frame on the wire carries; the engine's protocols are built from these.</summary>
internal enum FrameKind : byte
{
    /// <summary>A whole message: header then payload.</summary>
    Eager = 1,
    /// <summary>Request to send a large message. <see cref="FrameHeader.Address"/> is the sender's buffer (single-copy pull), <see cref="FrameHeader.Cookie"/> the sender's request.</summary>
    Rts = 2,
    /// <summary>Receiver matched an RTS and wants the sender to stream: <see cref="FrameHeader.Cookie"/> = sender's request, <see cref="FrameHeader.Address"/> = receiver's request.</summary>
    Cts = 3,
    /// <summary>A chunk of a streamed rendezvous message: <see cref="FrameHeader.Cookie"/> = receiver's request, <see cref="FrameHeader.Address"/> = offset.</summary>
    Data = 4,
    /// <summary>Receiver finished pulling (or matched a synchronous send): completes the sender's request <see cref="FrameHeader.Cookie"/>.</summary>
    Ack = 5,
    /// <summary>A ready-mode send found no posted receive: fails the sender's request <see cref="FrameHeader.Cookie"/>.</summary>
    Nack = 6,
    /// <summary>Clean shutdown of the connection from this peer.</summary>
    Goodbye = 7,
    /// <summary>Ring padding up to its end; the consumer skips to the start.</summary>
    Wrap = 8,
    /// <summary>
    /// Receiver started pulling a large message and invites the sender to copy chunks of it too (see
    /// <see cref="Transport.ISplitCopy"/>): <see cref="FrameHeader.Cookie"/> = sender's request,
    /// <see cref="FrameHeader.Address"/> = receiver's buffer, <see cref="FrameHeader.MessageLength"/> = bytes,
    /// <see cref="FrameHeader.Context"/> = split-copy slot, <see cref="FrameHeader.Tag"/> = its generation.
    /// The receiver still sends <see cref="Ack"/> when the whole message is in.
    /// </summary>
    SplitCopy = 9,
}

/// <summary>Per-frame flags.</summary>
[Flags]
internal enum FrameFlags : byte
{
    None = 0,
    /// <summary>Synchronous send: the receiver sends <see cref="FrameKind.Ack"/> when it matches.</summary>
    Sync = 1,
    /// <summary>Ready send: the receiver sends <see cref="FrameKind.Nack"/> when nothing was posted, else <see cref="FrameKind.Ack"/>.</summary>
    Ready = 2,
    /// <summary>The RTS <see cref="FrameHeader.Address"/> may be read with process_vm_readv.</summary>
    Pullable = 4,
}

/// <summary>
/// Fixed 48-byte little-endian frame header shared by every transport. Transports move
/// (header, payload) pairs in order per peer; the engine gives them meaning.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 8, Size = 48)]
internal struct FrameHeader
{
    /// <summary>Bytes on the wire.</summary>
    public const int Size = 48;

    /// <summary>Frame kind.</summary>
    public FrameKind Kind;
    /// <summary>Frame flags.</summary>
    public FrameFlags Flags;
    /// <summary>Reserved, zero.</summary>
    public ushort Reserved;
    /// <summary>Payload bytes that follow this header in this frame.</summary>
    public int PayloadLength;
    /// <summary>Context id of the communicator (point-to-point or collective context).</summary>
    public int Context;
    /// <summary>Sender's rank in that communicator.</summary>
    public int Source;
    /// <summary>Message tag.</summary>
    public int Tag;
    /// <summary>Reserved, zero (keeps the 64-bit fields aligned).</summary>
    public int Reserved2;
    /// <summary>Total message length in bytes (64-bit: messages over 2 GiB work).</summary>
    public long MessageLength;
    /// <summary>Request identifier the frame refers to (see <see cref="FrameKind"/>).</summary>
    public long Cookie;
    /// <summary>Address or offset (see <see cref="FrameKind"/>).</summary>
    public ulong Address;

    public override readonly string ToString() =>
        $"{Kind} flags={Flags} ctx={Context} src={Source} tag={Tag} len={MessageLength} payload={PayloadLength} cookie={Cookie} addr=0x{Address:x}";
}
