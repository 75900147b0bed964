using System.Runtime.CompilerServices;
using Microsoft.Win32.SafeHandles;

namespace SharpMpi.Diagnostics;

/// <summary>
/// A rank's recorded calls on their way into its trace file: a few reused chunks of <see cref="TraceRecord"/>s,
/// each written out to the file as soon as it is full. The file holds at most <c>capacity</c> records as a
/// ring (record i at position i mod capacity, so the oldest are overwritten); <see cref="TraceFile"/> adds
/// the header at finalize and reads it back in the launcher.
/// </summary>
/// <remarks>
/// Holding the whole trace in memory until finalize (96 bytes a call, megabytes a second) made every traced
/// rank touch that much fresh memory while it ran, and page faults are most of what tracing cost: about
/// 15 us each on the virtual machines measured, 7.7 MB (1,900 faults, 30 ms) per rank for a job of 80,000
/// calls, on top of writing it all out at finalize. Writing a chunk (96 KiB, one <c>pwrite</c> into the page
/// cache, tens of microseconds) each <see cref="ChunkRecords"/> calls keeps the memory at
/// <see cref="Slots"/> chunks, reused, and leaves only the last, partial chunk to write at finalize.
/// Any thread reserves a slot with one <see cref="Interlocked.Increment(ref long)"/> and counts the chunk's
/// filled slots with another; the thread that fills a chunk's last slot writes it, then hands its memory to
/// the chunk <see cref="Slots"/> later. A thread that gets there first (only when threads record at once)
/// spins until then. No lock on the recording path.
/// </remarks>
internal sealed class TraceBuffer : IDisposable
{
    /// <summary>Records per chunk (a power of two).</summary>
    public const int ChunkRecords = 1024;

    private const int ChunkShift = 10;

    /// <summary>Chunks in memory at once (a power of two).</summary>
    private const int Slots = 4;

    private readonly TraceRecord[]?[] _chunks = new TraceRecord[]?[Slots];
    private readonly int[] _filled = new int[Slots];
    // The chunk number each slot holds now; a slot moves on by Slots chunks each time it is written out.
    private readonly long[] _holds = [0, 1, 2, 3];
    private readonly SafeFileHandle _file;
    private readonly string _temporaryPath;
    private readonly string _path;
    private readonly object _fileLock = new();
    private long _next;
    private bool _sealed;

    /// <summary>
    /// A buffer that writes to <paramref name="path"/> (first as <paramref name="path"/>.tmp, renamed by
    /// <see cref="Complete"/>, so a reader never sees a file cut short) and keeps at least
    /// <paramref name="capacity"/> records, rounded up to whole chunks.
    /// </summary>
    public TraceBuffer(string path, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = (capacity + ChunkRecords - 1L) / ChunkRecords * ChunkRecords;
        _path = path;
        _temporaryPath = path + ".tmp";
        _file = File.OpenHandle(_temporaryPath, FileMode.Create, FileAccess.Write);
    }

    /// <summary>Records the file holds at most.</summary>
    public long Capacity { get; }

    /// <summary>Records added so far (including any overwritten).</summary>
    public long Count => Volatile.Read(ref _next);

    /// <summary>Adds one record. After <see cref="Seal"/> records are dropped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(in TraceRecord record)
    {
        long index = Interlocked.Increment(ref _next) - 1;
        long chunk = index >> ChunkShift;
        int slot = (int)(chunk & (Slots - 1));
        if (Volatile.Read(ref _holds[slot]) != chunk && !WaitFor(slot, chunk))
            return;
        var records = _chunks[slot] ?? Allocate(slot);
        records[index & (ChunkRecords - 1)] = record;
        if (Interlocked.Increment(ref _filled[slot]) == ChunkRecords)
            WriteOut(slot, chunk);
    }

    /// <summary>Waits until the slot's previous chunk is written out; false if the buffer was sealed meanwhile.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool WaitFor(int slot, long chunk)
    {
        var spin = new SpinWait();
        while (Volatile.Read(ref _holds[slot]) != chunk)
        {
            if (Volatile.Read(ref _sealed))
                return false;
            spin.SpinOnce();
        }
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private TraceRecord[] Allocate(int slot)
    {
        var fresh = new TraceRecord[ChunkRecords];
        return Interlocked.CompareExchange(ref _chunks[slot], fresh, null) ?? fresh;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteOut(int slot, long chunk)
    {
        lock (_fileLock)
        {
            if (!_sealed)
                WriteRecords(_chunks[slot]!, ChunkRecords, chunk * ChunkRecords);
        }
        _filled[slot] = 0;
        Volatile.Write(ref _holds[slot], chunk + Slots);
    }

    // Through a pointer: MemoryMarshal.AsBytes<TraceRecord> is a generic instantiation the ReadyToRun image lacks.
    private unsafe void WriteRecords(TraceRecord[] records, int count, long firstIndex)
    {
        long position = firstIndex % Capacity * sizeof(TraceRecord);
        fixed (TraceRecord* start = records)
            RandomAccess.Write(_file, new ReadOnlySpan<byte>(start, count * sizeof(TraceRecord)), position);
    }

    /// <summary>
    /// Stops recording and writes the records not written yet (the last chunks, possibly partly filled: a slot
    /// reserved and not yet filled reads as an empty record, <see cref="TraceRecord.Name"/> 0); returns how many
    /// records were added. Later records are dropped; only the first call writes.
    /// </summary>
    public long Seal()
    {
        lock (_fileLock)
        {
            if (_sealed)
                return Count;
            Volatile.Write(ref _sealed, true);
            long count = Count;
            long last = (count - 1) >> ChunkShift;
            for (long chunk = Math.Max(0, last - Slots + 1); chunk <= last && count > 0; chunk++)
            {
                int slot = (int)(chunk & (Slots - 1));
                if (Volatile.Read(ref _holds[slot]) == chunk && _chunks[slot] is { } records)
                    WriteRecords(records, (int)Math.Min(ChunkRecords, count - chunk * ChunkRecords), chunk * ChunkRecords);
            }
            return count;
        }
    }

    /// <summary>Bytes of records the file holds after <see cref="Seal"/> returned <paramref name="count"/>.</summary>
    public unsafe long RecordBytes(long count) => Math.Min(count, Capacity) * sizeof(TraceRecord);

    /// <summary>Writes <paramref name="header"/> at <paramref name="position"/>, closes the file and gives it its name.</summary>
    public void Complete(ReadOnlySpan<byte> header, long position)
    {
        lock (_fileLock)
        {
            RandomAccess.Write(_file, header, position);
            _file.Dispose();
            File.Move(_temporaryPath, _path, overwrite: true);
        }
    }

    /// <summary>Closes the file without completing it (it keeps its temporary name, which readers ignore).</summary>
    public void Dispose()
    {
        lock (_fileLock)
        {
            Volatile.Write(ref _sealed, true);
            _file.Dispose();
        }
    }
}
