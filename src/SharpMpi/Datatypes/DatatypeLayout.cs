using System.Runtime.CompilerServices;

namespace SharpMpi.Datatypes;

/// <summary>A contiguous piece of a committed datatype: <see cref="Length"/> bytes at byte <see cref="Offset"/>.</summary>
internal readonly record struct LayoutBlock(long Offset, long Length);

/// <summary>
/// A committed datatype compiled for packing: the type map flattened to (offset, length) blocks in type-map
/// order with adjacent blocks merged, and the type signature as runs of primitives. Packing is a loop of
/// copies over <see cref="Blocks"/>; no virtual calls, no allocation.
/// </summary>
internal sealed unsafe class DatatypeLayout
{
    /// <summary>
    /// The byte distance between consecutive blocks when there are at least two, all of one length and evenly
    /// spaced (a vector, a matrix column, a subarray's rows); 0 otherwise. Such a layout is copied by one
    /// strided loop specialized for the block length, without reading the block list.
    /// </summary>
    private readonly long _stride;

    public DatatypeLayout(TypeMap map)
    {
        var blocks = new List<LayoutBlock>();
        var signature = new List<SignatureRun>();
        foreach (var e in map.Entries)
        {
            if (blocks.Count > 0 && blocks[^1].Offset + blocks[^1].Length == e.Offset)
                blocks[^1] = blocks[^1] with { Length = blocks[^1].Length + e.Length };
            else
                blocks.Add(new LayoutBlock(e.Offset, e.Length));
            if (signature.Count > 0 && signature[^1].Primitive == e.Primitive)
                signature[^1] = signature[^1] with { Count = signature[^1].Count + e.Count };
            else
                signature.Add(new SignatureRun(e.Primitive, e.Count));
        }
        Blocks = blocks.ToArray();
        Signature = signature.ToArray();
        Size = map.Size;
        Extent = map.Ub - map.Lb;
        ElementCount = map.ElementCount;
        TrueLb = map.HasEntries ? map.TrueLb : 0;
        TrueUb = map.HasEntries ? map.TrueUb : 0;
        IsContiguous = Blocks.Length == 0 || (Blocks.Length == 1 && Blocks[0].Length == Extent);
        IsSingleBlock = Blocks.Length <= 1;
        _stride = RegularStride(Blocks);
    }

    /// <summary>True when the blocks are evenly spaced copies of one length (see <see cref="_stride"/>).</summary>
    public bool IsStrided => _stride != 0;

    private static long RegularStride(LayoutBlock[] blocks)
    {
        if (blocks.Length < 2)
            return 0;
        long length = blocks[0].Length, stride = blocks[1].Offset - blocks[0].Offset;
        if (stride == 0)
            return 0;
        for (int b = 1; b < blocks.Length; b++)
        {
            if (blocks[b].Length != length || blocks[b].Offset - blocks[b - 1].Offset != stride)
                return 0;
        }
        return stride;
    }

    public LayoutBlock[] Blocks { get; }

    public SignatureRun[] Signature { get; }

    public long Size { get; }

    public long Extent { get; }

    public long ElementCount { get; }

    public long TrueLb { get; }

    public long TrueUb { get; }

    /// <summary>One block that fills the extent: any count of elements is one contiguous range.</summary>
    public bool IsContiguous { get; }

    /// <summary>One block (contiguous for count 1).</summary>
    public bool IsSingleBlock { get; }

    /// <summary>True when <paramref name="count"/> elements occupy one contiguous byte range (the zero-copy path).</summary>
    public bool IsContiguousFor(long count) => IsContiguous || (count == 1 && IsSingleBlock);

    /// <summary>Byte offset of the first data byte (the contiguous range's start).</summary>
    public long DataStart => Blocks.Length == 0 ? 0 : Blocks[0].Offset;

    /// <summary>Lowest and highest byte touched by <paramref name="count"/> elements, relative to the buffer start.</summary>
    public (long Low, long High) Span(long count)
    {
        if (count == 0 || Size == 0)
            return (0, 0);
        long last = checked((count - 1) * Extent);
        return (TrueLb + Math.Min(0, last), TrueUb + Math.Max(0, last));
    }

    /// <summary>Copies <paramref name="count"/> elements at <paramref name="source"/> into the packed stream at <paramref name="destination"/>.</summary>
    public void Pack(byte* source, long count, byte* destination)
    {
        if (_stride != 0)
        {
            long blockLength = Blocks[0].Length, packedElement = Size;
            for (long i = 0; i < count; i++)
                StridedGather(source + i * Extent + Blocks[0].Offset, _stride, destination + i * packedElement, blockLength, Blocks.Length);
            return;
        }
        var blocks = Blocks;
        for (long i = 0; i < count; i++)
        {
            byte* element = source + i * Extent;
            for (int b = 0; b < blocks.Length; b++)
            {
                long length = blocks[b].Length;
                Copy(element + blocks[b].Offset, destination, length);
                destination += length;
            }
        }
    }

    /// <summary>
    /// Copies up to <paramref name="bytes"/> packed bytes at <paramref name="source"/> into <paramref name="count"/>
    /// elements at <paramref name="destination"/>; stops when the packed bytes run out (partial elements allowed).
    /// </summary>
    public void Unpack(byte* source, long bytes, byte* destination, long count)
    {
        if (_stride != 0)
        {
            // Whole elements by the strided loop; a partial last element (a short message) by the general one.
            long blockLength = Blocks[0].Length;
            long whole = Math.Min(count, bytes / Size);
            for (long i = 0; i < whole; i++)
                StridedScatter(source + i * Size, destination + i * Extent + Blocks[0].Offset, _stride, blockLength, Blocks.Length);
            if (whole == count || bytes == whole * Size)
                return;
            source += whole * Size;
            bytes -= whole * Size;
            destination += whole * Extent;
            count = 1;
        }
        var blocks = Blocks;
        for (long i = 0; i < count && bytes > 0; i++)
        {
            byte* element = destination + i * Extent;
            for (int b = 0; b < blocks.Length && bytes > 0; b++)
            {
                long length = Math.Min(blocks[b].Length, bytes);
                Copy(source, element + blocks[b].Offset, length);
                source += length;
                bytes -= length;
            }
        }
    }

    /// <summary>Number of whole primitive elements in <paramref name="bytes"/> packed bytes, or -1 when they end inside a primitive.</summary>
    public long ElementsIn(long bytes)
    {
        if (Size == 0)
            return 0;
        long whole = bytes / Size;
        long rest = bytes % Size;
        long n = whole * ElementCount;
        foreach (var run in Signature)
        {
            if (rest == 0)
                break;
            int size = Primitives.SizeOf(run.Primitive);
            long runBytes = run.Count * size;
            if (rest >= runBytes)
            {
                n += run.Count;
                rest -= runBytes;
            }
            else
            {
                if (rest % size != 0)
                    return -1;
                n += rest / size;
                rest = 0;
            }
        }
        return n;
    }

    /// <summary>True when both describe the same sequence of primitives (count 1 each).</summary>
    public bool SignatureEquals(DatatypeLayout other) => Signature.AsSpan().SequenceEqual(other.Signature);

    /// <summary>Copies <paramref name="blocks"/> blocks spaced <paramref name="stride"/> apart at <paramref name="from"/> into one run at <paramref name="to"/>.</summary>
    private static void StridedGather(byte* from, long stride, byte* to, long blockLength, int blocks)
    {
        switch (blockLength)
        {
            case 4:
                for (int b = 0; b < blocks; b++, from += stride, to += 4)
                    Unsafe.WriteUnaligned(to, Unsafe.ReadUnaligned<int>(from));
                break;
            case 8:
                for (int b = 0; b < blocks; b++, from += stride, to += 8)
                    Unsafe.WriteUnaligned(to, Unsafe.ReadUnaligned<long>(from));
                break;
            case 16:
                for (int b = 0; b < blocks; b++, from += stride, to += 16)
                    Unsafe.WriteUnaligned(to, Unsafe.ReadUnaligned<Int128>(from));
                break;
            default:
                for (int b = 0; b < blocks; b++, from += stride, to += blockLength)
                    Copy(from, to, blockLength);
                break;
        }
    }

    /// <summary>The inverse of <see cref="StridedGather"/>: one run at <paramref name="from"/> into blocks spaced <paramref name="stride"/> apart.</summary>
    private static void StridedScatter(byte* from, byte* to, long stride, long blockLength, int blocks)
    {
        switch (blockLength)
        {
            case 4:
                for (int b = 0; b < blocks; b++, from += 4, to += stride)
                    Unsafe.WriteUnaligned(to, Unsafe.ReadUnaligned<int>(from));
                break;
            case 8:
                for (int b = 0; b < blocks; b++, from += 8, to += stride)
                    Unsafe.WriteUnaligned(to, Unsafe.ReadUnaligned<long>(from));
                break;
            case 16:
                for (int b = 0; b < blocks; b++, from += 16, to += stride)
                    Unsafe.WriteUnaligned(to, Unsafe.ReadUnaligned<Int128>(from));
                break;
            default:
                for (int b = 0; b < blocks; b++, from += blockLength, to += stride)
                    Copy(from, to, blockLength);
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Copy(byte* from, byte* to, long length)
    {
        switch (length)
        {
            case 1:
                *to = *from;
                break;
            case 2:
                Unsafe.WriteUnaligned(to, Unsafe.ReadUnaligned<short>(from));
                break;
            case 4:
                Unsafe.WriteUnaligned(to, Unsafe.ReadUnaligned<int>(from));
                break;
            case 8:
                Unsafe.WriteUnaligned(to, Unsafe.ReadUnaligned<long>(from));
                break;
            case 16:
                Unsafe.WriteUnaligned(to, Unsafe.ReadUnaligned<Int128>(from));
                break;
            default:
                Buffer.MemoryCopy(from, to, length, length);
                break;
        }
    }
}
