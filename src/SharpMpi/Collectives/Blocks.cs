using System.Buffers;

namespace SharpMpi.Collectives;

/// <summary>
/// Where each rank's block lies in a buffer, in bytes: <see cref="Chunked"/> (equal chunks, the last ones
/// possibly short or empty), <see cref="Even"/> (an element count split as evenly as possible, the first
/// count % p blocks one element longer) or <see cref="Explicit"/> (counts and displacements from the caller,
/// in pooled arrays that <see cref="Return"/> gives back).
/// </summary>
internal readonly struct Blocks
{
    private readonly int _count;
    private readonly long _chunk;
    private readonly long _total;
    private readonly long _base;
    private readonly long _rem;
    private readonly int _elem;
    private readonly long[]? _offsets;
    private readonly long[]? _lengths;
    private readonly bool _packed;
    private readonly bool _even;

    private Blocks(int count, long chunk, long total, long @base, long rem, int elem, long[]? offsets, long[]? lengths, bool packed, bool even = false)
    {
        _even = even;
        _count = count;
        _chunk = chunk;
        _total = total;
        _base = @base;
        _rem = rem;
        _elem = elem;
        _offsets = offsets;
        _lengths = lengths;
        _packed = packed;
    }

    /// <summary><paramref name="count"/> blocks of <paramref name="chunk"/> bytes cut from <paramref name="total"/> bytes.</summary>
    public static Blocks Chunked(int count, long chunk, long total) => new(count, chunk, total, 0, 0, 1, null, null, true);

    /// <summary><paramref name="count"/> blocks of exactly <paramref name="blockBytes"/> bytes each, back to back.</summary>
    public static Blocks Regular(int count, long blockBytes) => Chunked(count, blockBytes, count * blockBytes);

    /// <summary><paramref name="elements"/> elements of <paramref name="elementSize"/> bytes split into <paramref name="count"/> blocks.</summary>
    public static Blocks Even(int count, long elements, int elementSize) =>
        new(count, 0, elements * elementSize, elements / count, elements % count, elementSize, null, null, true, even: true);

    /// <summary>
    /// Blocks from per-rank element counts and displacements (null: packed back to back); pooled arrays. Checks
    /// counts, displacements and that every block fits in a buffer of <paramref name="bufferElements"/>.
    /// </summary>
    public static Blocks Explicit(ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, bool hasDisplacements, int elementSize,
        long bufferElements, string countsName, string displacementsName, string bufferName, bool checkBuffer = true)
    {
        int p = counts.Length;
        var off = ArrayPool<long>.Shared.Rent(Math.Max(1, p));
        var len = ArrayPool<long>.Shared.Rent(Math.Max(1, p));
        long next = 0;
        bool packed = true;
        try
        {
            for (int i = 0; i < p; i++)
            {
                int c = counts[i];
                if (c < 0)
                    throw new ArgumentOutOfRangeException(countsName, c, $"{countsName}[{i}] is negative.");
                long d = hasDisplacements ? displacements[i] : next;
                if (d < 0)
                    throw new ArgumentOutOfRangeException(displacementsName, d, $"{displacementsName}[{i}] is negative.");
                if (checkBuffer && d + c > bufferElements)
                {
                    throw new ArgumentException(
                        $"Block {i} ({c} elements at {d}) does not fit in {bufferName} of {bufferElements} elements.", bufferName);
                }
                if (d != next)
                    packed = false;
                next = d + c;
                off[i] = d * elementSize;
                len[i] = (long)c * elementSize;
            }
        }
        catch
        {
            ArrayPool<long>.Shared.Return(off);
            ArrayPool<long>.Shared.Return(len);
            throw;
        }
        return new Blocks(p, 0, next * elementSize, 0, 0, elementSize, off, len, packed);
    }

    /// <summary>A packed layout with the same block lengths (pooled; <see cref="Return"/> it).</summary>
    public Blocks Packed()
    {
        var off = ArrayPool<long>.Shared.Rent(Math.Max(1, _count));
        var len = ArrayPool<long>.Shared.Rent(Math.Max(1, _count));
        long next = 0;
        for (int i = 0; i < _count; i++)
        {
            off[i] = next;
            len[i] = Length(i);
            next += len[i];
        }
        return new Blocks(_count, 0, next, 0, 0, _elem, off, len, true);
    }

    public int Count => _count;

    /// <summary>True when block i+1 starts where block i ends (ranges of blocks are contiguous).</summary>
    public bool IsPacked => _packed;

    public bool IsExplicit => _offsets is not null;

    public long Offset(int i)
    {
        if (_offsets is not null)
            return _offsets[i];
        if (_even)
            return (i * _base + Math.Min(i, _rem)) * _elem;
        return Math.Min(_total, i * _chunk);
    }

    public long Length(int i)
    {
        if (_lengths is not null)
            return _lengths[i];
        if (_even)
            return (_base + (i < _rem ? 1 : 0)) * _elem;
        return Math.Min(_total, (i + 1) * _chunk) - Math.Min(_total, i * _chunk);
    }

    /// <summary>Sum of the block lengths.</summary>
    public long Total
    {
        get
        {
            if (_offsets is null)
                return _total;
            long t = 0;
            for (int i = 0; i < _count; i++)
                t += _lengths![i];
            return t;
        }
    }

    public long MaxLength
    {
        get
        {
            long m = 0;
            for (int i = 0; i < _count; i++)
                m = Math.Max(m, Length(i));
            return m;
        }
    }

    /// <summary>Block <paramref name="i"/> of <paramref name="buffer"/>.</summary>
    public Buf Of(Buf buffer, int i) => buffer.Slice(Offset(i), Length(i));

    /// <summary>Blocks [<paramref name="first"/>, <paramref name="end"/>) of a packed layout as one range.</summary>
    public Buf Range(Buf buffer, int first, int end)
    {
        if (end <= first)
            return default;
        long start = Offset(first);
        return buffer.Slice(start, Offset(end - 1) + Length(end - 1) - start);
    }

    /// <summary>Returns pooled arrays (no-op for computed layouts).</summary>
    public void Return()
    {
        if (_offsets is not null)
            ArrayPool<long>.Shared.Return(_offsets);
        if (_lengths is not null)
            ArrayPool<long>.Shared.Return(_lengths);
    }
}
