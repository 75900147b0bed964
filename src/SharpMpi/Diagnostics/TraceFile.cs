using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace SharpMpi.Diagnostics;

/// <summary>
/// A rank's <c>trace.&lt;rank&gt;.bin</c>: what it recorded, for the launcher to merge into the job's Chrome
/// trace. Binary so that writing it is copying the trace buffer's chunks out as they fill (see
/// <see cref="TraceBuffer"/>) and reading it is reading the bytes into <see cref="TraceRecord"/>s; the
/// launcher formats the JSON once, for the whole job.
/// </summary>
/// <remarks>
/// Layout (little-endian): the records first, as the ring left them (record i of the rank at position
/// i mod capacity); then the header, written at finalize when the strings and the end reason are known: an
/// 8-byte magic, then <see cref="TraceRecord.Size"/>, rank, pid (ints), the clock anchor (Stopwatch ticks,
/// nanoseconds since the Unix epoch at the same instant, ticks per second), the records added and the ring's
/// capacity (longs), the number of strings (int); host, end reason and the string table as length-prefixed
/// UTF-8; last the header's offset (long) and the magic again, so a reader finds the header from the end.
/// The writer and reader are this one file, built into both the library and the launcher, so they cannot drift.
/// Records are read a block at a time into the caller's buffer (<see cref="ReadRecords"/>), not all at once:
/// fresh memory for a whole trace cost the launcher more in page faults than formatting it.
/// </remarks>
internal sealed class TraceFile : IDisposable
{
    private static ReadOnlySpan<byte> Magic => "SMPITRC2"u8;

    private const int FixedHeader = 8 + 4 * 3 + 8 * 5 + 4;

    private const int Trailer = 8 + 8;

    /// <summary>File name of a rank's trace in the trace directory.</summary>
    public static string FileName(int rank) => $"trace.{rank.ToString(System.Globalization.CultureInfo.InvariantCulture)}.bin";

    private readonly SafeFileHandle _file;
    private readonly long _capacity;

    private TraceFile(SafeFileHandle file, long capacity)
    {
        _file = file;
        _capacity = capacity;
    }

    /// <summary>World rank that wrote the file.</summary>
    public int Rank { get; private init; }

    /// <summary>Its process id.</summary>
    public int Pid { get; private init; }

    /// <summary>Its host name.</summary>
    public string Host { get; private init; } = "";

    /// <summary>Why it wrote the file: "finalize", "abort" or "terminated".</summary>
    public string Reason { get; private init; } = "";

    /// <summary>Records overwritten because the ring was full.</summary>
    public long Dropped { get; private init; }

    /// <summary>The strings records refer to, by id.</summary>
    public string[] Strings { get; private init; } = [];

    /// <summary>Number of records kept (some may be empty: <see cref="TraceRecord.Name"/> 0).</summary>
    public int RecordCount { get; private init; }

    private long AnchorTicks { get; init; }

    private long AnchorUnixNanoseconds { get; init; }

    private long Frequency { get; init; }

    /// <summary>Nanoseconds since the Unix epoch of a record's Stopwatch timestamp.</summary>
    public long UnixNanoseconds(long ticks) => AnchorUnixNanoseconds + Nanoseconds(ticks - AnchorTicks);

    /// <summary>Nanoseconds of a Stopwatch tick difference.</summary>
    public long Nanoseconds(long ticks) => Frequency == 1_000_000_000 ? ticks : (long)(ticks * (1e9 / Frequency));

    /// <summary>
    /// Reads the kept records <paramref name="first"/> to <paramref name="first"/> + <paramref name="into"/>'s
    /// length, oldest first, into <paramref name="into"/>. Safe from several threads at once.
    /// </summary>
    public unsafe void ReadRecords(long first, Span<TraceRecord> into)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(first + into.Length, RecordCount);
        // The oldest kept record is number Dropped of the rank; record i sits at position i mod capacity.
        long position = (Dropped + first) % _capacity;
        while (!into.IsEmpty)
        {
            int n = (int)Math.Min(into.Length, _capacity - position);
            fixed (TraceRecord* records = into)
            {
                var bytes = new Span<byte>(records, n * sizeof(TraceRecord));
                if (RandomAccess.Read(_file, bytes, position * sizeof(TraceRecord)) != bytes.Length)
                    throw new IOException("trace file shorter than its header says");
            }
            into = into[n..];
            position = 0;
        }
    }

    /// <summary>
    /// Completes a rank's file: writes what <paramref name="buffer"/> still holds, then the header, and gives
    /// the file its name (it was written as <c>.tmp</c>, so readers never see half of one).
    /// </summary>
    public static void Write(int rank, string reason, long anchorTicks, long anchorUnixNanoseconds, TraceStrings strings, TraceBuffer buffer)
    {
        // Seal the records first: strings they use were added before they were recorded.
        long count = buffer.Seal();
        string[] texts = strings.Snapshot();
        long position = buffer.RecordBytes(count);
        var header = new MemoryStream();
        Span<byte> fixedPart = stackalloc byte[FixedHeader];
        Magic.CopyTo(fixedPart);
        BinaryPrimitives.WriteInt32LittleEndian(fixedPart[8..], TraceRecord.Size);
        BinaryPrimitives.WriteInt32LittleEndian(fixedPart[12..], rank);
        BinaryPrimitives.WriteInt32LittleEndian(fixedPart[16..], Environment.ProcessId);
        BinaryPrimitives.WriteInt64LittleEndian(fixedPart[20..], anchorTicks);
        BinaryPrimitives.WriteInt64LittleEndian(fixedPart[28..], anchorUnixNanoseconds);
        BinaryPrimitives.WriteInt64LittleEndian(fixedPart[36..], System.Diagnostics.Stopwatch.Frequency);
        BinaryPrimitives.WriteInt64LittleEndian(fixedPart[44..], count);
        BinaryPrimitives.WriteInt64LittleEndian(fixedPart[52..], buffer.Capacity);
        BinaryPrimitives.WriteInt32LittleEndian(fixedPart[60..], texts.Length);
        header.Write(fixedPart);
        WriteText(header, Environment.MachineName);
        WriteText(header, reason);
        foreach (string text in texts)
            WriteText(header, text);
        Span<byte> trailer = stackalloc byte[Trailer];
        BinaryPrimitives.WriteInt64LittleEndian(trailer, position);
        Magic.CopyTo(trailer[8..]);
        header.Write(trailer);
        buffer.Complete(header.GetBuffer().AsSpan(0, (int)header.Length), position);
    }

    private static void WriteText(MemoryStream to, string text)
    {
        Span<byte> length = stackalloc byte[4];
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        BinaryPrimitives.WriteInt32LittleEndian(length, bytes.Length);
        to.Write(length);
        to.Write(bytes);
    }

    /// <summary>
    /// Opens a rank's file and reads its header; null if it is not one this build wrote or is cut short (a
    /// rank killed while writing). Dispose it when its records are read.
    /// </summary>
    public static TraceFile? Read(string path)
    {
        var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            var opened = Open(file);
            if (opened is null)
                file.Dispose();
            return opened;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static TraceFile? Open(SafeFileHandle file)
    {
        long length = RandomAccess.GetLength(file);
        if (length < FixedHeader + Trailer)
            return null;
        Span<byte> trailer = stackalloc byte[Trailer];
        if (RandomAccess.Read(file, trailer, length - Trailer) != Trailer || !trailer[8..].SequenceEqual(Magic))
            return null;
        long at = BinaryPrimitives.ReadInt64LittleEndian(trailer);
        if (at < 0 || at > length - Trailer - FixedHeader)
            return null;
        byte[] data = new byte[length - Trailer - at];
        if (RandomAccess.Read(file, data, at) != data.Length || !data.AsSpan(0, 8).SequenceEqual(Magic)
            || BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(8)) != TraceRecord.Size)
        {
            return null;
        }
        long count = BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(44));
        long capacity = BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(52));
        int stringCount = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(60));
        long kept = Math.Min(count, capacity);
        if (stringCount < 0 || count < 0 || capacity <= 0 || kept > int.MaxValue || kept * TraceRecord.Size != at)
            return null;
        int offset = FixedHeader;
        if (!TryReadText(data, ref offset, out string host) || !TryReadText(data, ref offset, out string reason))
            return null;
        var strings = new string[stringCount];
        for (int i = 0; i < stringCount; i++)
        {
            if (!TryReadText(data, ref offset, out strings[i]))
                return null;
        }
        return new TraceFile(file, capacity)
        {
            Rank = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(12)),
            Pid = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(16)),
            AnchorTicks = BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(20)),
            AnchorUnixNanoseconds = BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(28)),
            Frequency = BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(36)),
            Dropped = count - kept,
            RecordCount = (int)kept,
            Host = host,
            Reason = reason,
            Strings = strings,
        };
    }

    private static bool TryReadText(byte[] data, ref int at, out string text)
    {
        text = "";
        if (at + 4 > data.Length)
            return false;
        int length = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(at));
        if (length < 0 || length > data.Length - at - 4)
            return false;
        text = Encoding.UTF8.GetString(data, at + 4, length);
        at += 4 + length;
        return true;
    }

    public void Dispose() => _file.Dispose();
}
