using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace SharpMpi.Diagnostics;

/// <summary>
/// A rank's <c>trace.&lt;rank&gt;.bin</c>: what it recorded, for the launcher to merge into the job's Chrome
/// trace. Binary so that writing it is copying the trace buffer's chunks out (a few milliseconds for 100k
/// calls, where formatting JSON took tens) and reading it is reinterpreting the bytes as
/// <see cref="TraceRecord"/>s; the launcher formats the JSON once, for the whole job.
/// </summary>
/// <remarks>
/// Layout (little-endian): an 8-byte magic, then <see cref="TraceRecord.Size"/>, rank, pid (ints), the clock
/// anchor (Stopwatch ticks, nanoseconds since the Unix epoch at the same instant, ticks per second), the
/// dropped count (longs), the number of strings (int, padding int); host, end reason and the string table as
/// length-prefixed UTF-8; zero padding to a multiple of 8; then the records to the end of the file. The
/// writer and reader are this one file, built into both the library and the launcher, so they cannot drift.
/// </remarks>
internal sealed class TraceFile
{
    private static ReadOnlySpan<byte> Magic => "SMPITRC1"u8;

    private const int FixedHeader = 8 + 4 * 3 + 8 * 4 + 4 * 2;

    /// <summary>File name of a rank's trace in the trace directory.</summary>
    public static string FileName(int rank) => $"trace.{rank.ToString(System.Globalization.CultureInfo.InvariantCulture)}.bin";

    private TraceFile(byte[] data, int recordsOffset, int recordCount)
    {
        _data = data;
        _recordsOffset = recordsOffset;
        RecordCount = recordCount;
    }

    private readonly byte[] _data;
    private readonly int _recordsOffset;

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

    /// <summary>Number of records (some may be empty: <see cref="TraceRecord.Name"/> 0).</summary>
    public int RecordCount { get; }

    /// <summary>The records, in the order they were recorded.</summary>
    public ReadOnlySpan<TraceRecord> Records =>
        MemoryMarshal.Cast<byte, TraceRecord>(_data.AsSpan(_recordsOffset, RecordCount * TraceRecord.Size));

    private long AnchorTicks { get; init; }

    private long AnchorUnixNanoseconds { get; init; }

    private long Frequency { get; init; }

    /// <summary>Nanoseconds since the Unix epoch of a record's Stopwatch timestamp.</summary>
    public long UnixNanoseconds(long ticks) => AnchorUnixNanoseconds + Nanoseconds(ticks - AnchorTicks);

    /// <summary>Nanoseconds of a Stopwatch tick difference.</summary>
    public long Nanoseconds(long ticks) => Frequency == 1_000_000_000 ? ticks : (long)(ticks * (1e9 / Frequency));

    /// <summary>Writes a rank's file (to <paramref name="path"/>.tmp, then renamed, so readers never see half of one).</summary>
    public static void Write(string path, int rank, string reason, long anchorTicks, long anchorUnixNanoseconds,
        TraceStrings strings, TraceBuffer buffer)
    {
        // Snapshot the records first: strings they use were added before they were recorded.
        var ranges = buffer.Snapshot(out long dropped);
        string[] texts = strings.Snapshot();
        var header = new MemoryStream();
        Span<byte> fixedPart = stackalloc byte[FixedHeader];
        Magic.CopyTo(fixedPart);
        BinaryPrimitives.WriteInt32LittleEndian(fixedPart[8..], TraceRecord.Size);
        BinaryPrimitives.WriteInt32LittleEndian(fixedPart[12..], rank);
        BinaryPrimitives.WriteInt32LittleEndian(fixedPart[16..], Environment.ProcessId);
        BinaryPrimitives.WriteInt64LittleEndian(fixedPart[20..], anchorTicks);
        BinaryPrimitives.WriteInt64LittleEndian(fixedPart[28..], anchorUnixNanoseconds);
        BinaryPrimitives.WriteInt64LittleEndian(fixedPart[36..], System.Diagnostics.Stopwatch.Frequency);
        BinaryPrimitives.WriteInt64LittleEndian(fixedPart[44..], dropped);
        BinaryPrimitives.WriteInt32LittleEndian(fixedPart[52..], texts.Length);
        header.Write(fixedPart);
        WriteText(header, Environment.MachineName);
        WriteText(header, reason);
        foreach (string text in texts)
            WriteText(header, text);
        while (header.Length % 8 != 0)
            header.WriteByte(0);

        string temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0))
        {
            stream.Write(header.GetBuffer().AsSpan(0, (int)header.Length));
            foreach (var range in ranges)
                Write(stream, range);
        }
        File.Move(temp, path, overwrite: true);
    }

    // Through a pointer: MemoryMarshal.AsBytes<TraceRecord> is a generic instantiation the ReadyToRun image lacks.
    private static unsafe void Write(FileStream stream, TraceRange range)
    {
        fixed (TraceRecord* records = range.Records)
            stream.Write(new ReadOnlySpan<byte>(records + range.Offset, range.Length * sizeof(TraceRecord)));
    }

    private static void WriteText(MemoryStream to, string text)
    {
        Span<byte> length = stackalloc byte[4];
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        BinaryPrimitives.WriteInt32LittleEndian(length, bytes.Length);
        to.Write(length);
        to.Write(bytes);
    }

    /// <summary>Reads a rank's file; null if it is not one this build wrote or is cut short (a rank killed while writing).</summary>
    public static TraceFile? Read(string path)
    {
        byte[] data = File.ReadAllBytes(path);
        if (data.Length < FixedHeader || !data.AsSpan(0, 8).SequenceEqual(Magic)
            || BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(8)) != TraceRecord.Size)
        {
            return null;
        }
        int stringCount = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(52));
        if (stringCount < 0)
            return null;
        int at = FixedHeader;
        if (!TryReadText(data, ref at, out string host) || !TryReadText(data, ref at, out string reason))
            return null;
        var strings = new string[stringCount];
        for (int i = 0; i < stringCount; i++)
        {
            if (!TryReadText(data, ref at, out strings[i]))
                return null;
        }
        at = (at + 7) & ~7;
        if (at > data.Length || (data.Length - at) % TraceRecord.Size != 0)
            return null;
        return new TraceFile(data, at, (data.Length - at) / TraceRecord.Size)
        {
            Rank = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(12)),
            Pid = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(16)),
            AnchorTicks = BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(20)),
            AnchorUnixNanoseconds = BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(28)),
            Frequency = BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(36)),
            Dropped = BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(44)),
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
}
