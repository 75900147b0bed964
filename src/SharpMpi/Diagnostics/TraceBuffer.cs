using System.Runtime.CompilerServices;

namespace SharpMpi.Diagnostics;

/// <summary>
/// A rank's recorded calls: a ring of at most <c>capacity</c> <see cref="TraceRecord"/>s (the oldest are
/// overwritten when it is full) made of fixed-size chunks allocated as the ring first reaches them.
/// </summary>
/// <remarks>
/// A short job records a few thousand calls; allocating (and so touching) the whole ring up front cost every
/// traced job tens of milliseconds and as many megabytes. A chunk is <see cref="ChunkRecords"/> records
/// (384 KiB): one allocation per that many calls, none per call. Any thread reserves a slot with one
/// <see cref="Interlocked.Increment(ref long)"/>; the thread that first reaches a chunk allocates it and
/// publishes it with a compare-exchange (a loser drops its copy), so recording takes no lock.
/// </remarks>
internal sealed class TraceBuffer
{
    /// <summary>Records per chunk (a power of two).</summary>
    public const int ChunkRecords = 4096;

    private const int ChunkShift = 12;

    private readonly TraceRecord[]?[] _chunks;
    private long _next;

    /// <summary>A ring of at least <paramref name="capacity"/> records, rounded up to whole chunks.</summary>
    public TraceBuffer(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _chunks = new TraceRecord[]?[(capacity + ChunkRecords - 1) / ChunkRecords];
    }

    /// <summary>Records the ring can hold.</summary>
    public long Capacity => (long)_chunks.Length * ChunkRecords;

    /// <summary>Records reserved so far (including any overwritten).</summary>
    public long Count => Volatile.Read(ref _next);

    /// <summary>A slot for one record; it may hold an overwritten record, so the caller assigns all of it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref TraceRecord Reserve()
    {
        long index = Interlocked.Increment(ref _next) - 1;
        long chunk = (index >> ChunkShift) % _chunks.Length;
        var records = _chunks[chunk] ?? Allocate(chunk);
        return ref records[index & (ChunkRecords - 1)];
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private TraceRecord[] Allocate(long chunk)
    {
        var fresh = new TraceRecord[ChunkRecords];
        return Interlocked.CompareExchange(ref _chunks[chunk], fresh, null) ?? fresh;
    }

    /// <summary>
    /// The records from the oldest kept to the newest, chunk by chunk in order, as they are now (later records
    /// are not included); <paramref name="dropped"/> is how many were overwritten.
    /// </summary>
    /// <remarks>An array of a struct of this assembly, not a list of memories: those generic instantiations are
    /// not in the ReadyToRun image, and finalize would JIT-compile a dozen methods for them.</remarks>
    public TraceRange[] Snapshot(out long dropped)
    {
        long count = Count;
        long first = Math.Max(0, count - Capacity);
        dropped = first;
        var ranges = new TraceRange[(int)((count - first + 2 * ChunkRecords - 1) / ChunkRecords)];
        int n = 0;
        for (long i = first; i < count;)
        {
            long chunk = (i >> ChunkShift) % _chunks.Length;
            int offset = (int)(i & (ChunkRecords - 1));
            int length = (int)Math.Min(ChunkRecords - offset, count - i);
            if (Volatile.Read(ref _chunks[chunk]) is { } records)
                ranges[n++] = new TraceRange(records, offset, length);
            i += length;
        }
        if (n == ranges.Length)
            return ranges;
        var kept = new TraceRange[n];
        for (int i = 0; i < n; i++)
            kept[i] = ranges[i];
        return kept;
    }
}

/// <summary>Records <see cref="Offset"/> to <see cref="Offset"/> + <see cref="Length"/> of one chunk.</summary>
internal readonly record struct TraceRange(TraceRecord[] Records, int Offset, int Length)
{
    /// <summary>The records.</summary>
    public ReadOnlySpan<TraceRecord> Span => Records.AsSpan(Offset, Length);
}
