using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SharpMpi.Diagnostics;

/// <summary>
/// One recorded call as it sits in a rank's trace buffer and, byte for byte, in its <c>trace.&lt;rank&gt;.bin</c>
/// file. Unmanaged on purpose: strings are ids into the rank's <see cref="TraceStrings"/>, so the buffers hold
/// no references (the GC neither scans them nor marks cards on every store) and are written to the file as
/// they are. Times are raw <see cref="System.Diagnostics.Stopwatch"/> ticks; the file header says how to turn
/// them into nanoseconds since the Unix epoch.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 8)]
internal struct TraceRecord
{
    /// <summary>Size in bytes, written into the file header so a reader built from other sources refuses a mismatch.</summary>
    public static readonly int Size = Unsafe.SizeOf<TraceRecord>();

    public long Start;
    public long End;
    public long Bytes;
    public long SendSeq;
    public long ReceiveSeq;
    public long ReceivedBytes;
    public int Thread;
    public int Context;
    public int SelfRank;
    public int Peer;
    public int Tag;
    public int Root;
    public int SendDestWorld;
    public int ReceiveSource;
    public int ReceiveTag;

    /// <summary>Call name's string id; 0 marks a slot that was reserved but never filled (skipped by readers).</summary>
    public ushort Name;
    public ushort CommName;

    /// <summary>Reduction operator's string id, 0 for none.</summary>
    public ushort Op;
    public bool IsCollective;
}
