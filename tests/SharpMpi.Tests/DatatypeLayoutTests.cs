using FsCheck.Xunit;
using SharpMpi.Datatypes;

namespace SharpMpi.Tests;

/// <summary>
/// The strided fast path of <see cref="DatatypeLayout"/> (evenly spaced blocks of one length) against a plain
/// copy over the block list, for every block length the loops specialize (4, 8, 16 bytes) and others.
/// </summary>
public unsafe class DatatypeLayoutTests
{
    /// <summary>The reference: each block of each element copied in type-map order.</summary>
    private static byte[] ReferencePack(DatatypeLayout layout, byte[] source, long baseOffset, int count)
    {
        var packed = new List<byte>();
        for (int i = 0; i < count; i++)
        {
            foreach (var b in layout.Blocks)
                packed.AddRange(source.AsSpan((int)(baseOffset + i * layout.Extent + b.Offset), (int)b.Length).ToArray());
        }
        return [.. packed];
    }

    private static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++)
            bytes[i] = (byte)(i * 7 + 3);
        return bytes;
    }

    private static (byte[] Packed, byte[] Unpacked) PackThenUnpack(DatatypeLayout layout, byte[] source, long baseOffset, int count, long bytes)
    {
        var packed = new byte[count * layout.Size];
        var unpacked = new byte[source.Length];
        fixed (byte* s = source)
        fixed (byte* p = packed)
        fixed (byte* u = unpacked)
        {
            layout.Pack(s + baseOffset, count, p);
            layout.Unpack(p, bytes, u + baseOffset, count);
        }
        return (packed, unpacked);
    }

    [Theory]
    [InlineData(1, 1, 3)]   // byte column
    [InlineData(4, 1, 5)]   // int column: 4-byte loop
    [InlineData(8, 1, 7)]   // double column: 8-byte loop
    [InlineData(8, 2, 5)]   // 16-byte blocks
    [InlineData(4, 3, 4)]   // 12-byte blocks: general copy
    [InlineData(8, 4, 9)]   // 32-byte blocks
    public void Vector_StridedPack_MatchesBlockCopy(int elementSize, int blockLength, int stride)
    {
        var type = elementSize switch
        {
            1 => Datatype.Vector<byte>(6, blockLength, stride),
            4 => Datatype.Vector<int>(6, blockLength, stride),
            _ => Datatype.Vector<long>(6, blockLength, stride),
        };
        using var committed = type.Commit();
        var layout = committed.Layout("type");
        Assert.True(layout.IsStrided);
        var source = Pattern((int)(3 * layout.Extent + 64));
        var (packed, unpacked) = PackThenUnpack(layout, source, 0, 3, 3 * layout.Size);
        Assert.Equal(ReferencePack(layout, source, 0, 3), packed);
        for (int i = 0; i < 3; i++)
        {
            foreach (var b in layout.Blocks)
            {
                int at = (int)(i * layout.Extent + b.Offset);
                Assert.Equal(source.AsSpan(at, (int)b.Length).ToArray(), unpacked.AsSpan(at, (int)b.Length).ToArray());
            }
        }
    }

    [Fact]
    public void HVector_NegativeStride_PacksInTypeMapOrder()
    {
        using var type = Datatype.HVector<long>(4, 1, -24).Commit();
        var layout = type.Layout("type");
        Assert.True(layout.IsStrided);
        var source = Pattern(200);
        long baseOffset = 100; // the blocks sit at 100, 76, 52, 28
        var (packed, _) = PackThenUnpack(layout, source, baseOffset, 1, layout.Size);
        Assert.Equal(ReferencePack(layout, source, baseOffset, 1), packed);
    }

    [Fact]
    public void Unpack_ShortMessage_StopsInsideAnElement()
    {
        using var type = Datatype.Vector<int>(4, 1, 3).Commit();
        var layout = type.Layout("type");
        var source = Pattern((int)(2 * layout.Extent + 16));
        // One whole element and two of the second element's four ints.
        var (_, unpacked) = PackThenUnpack(layout, source, 0, 2, layout.Size + 8);
        var expected = new byte[source.Length];
        for (int i = 0; i < 2; i++)
        {
            for (int b = 0; b < (i == 0 ? 4 : 2); b++)
            {
                int at = (int)(i * layout.Extent + layout.Blocks[b].Offset);
                source.AsSpan(at, 4).CopyTo(expected.AsSpan(at));
            }
        }
        Assert.Equal(expected, unpacked);
    }

    [Fact]
    public void Indexed_IrregularBlocks_IsNotStrided()
    {
        using var type = Datatype.Indexed<int>([1, 2], [0, 5]).Commit();
        Assert.False(type.Layout("type").IsStrided);
        using var single = Datatype.Vector<int>(1, 1, 4).Commit();
        Assert.False(single.Layout("single").IsStrided);
    }

    [Property(MaxTest = 200)]
    public bool StridedRoundTrip_AnyShape_MatchesBlockCopy(byte countSeed, byte blockSeed, byte gapSeed, byte elementSeed)
    {
        int count = 1 + countSeed % 12, blockLength = 1 + blockSeed % 4, gap = gapSeed % 7, elements = 1 + elementSeed % 3;
        using var type = Datatype.Vector<short>(count, blockLength, blockLength + gap).Commit();
        var layout = type.Layout("type");
        var source = Pattern((int)(elements * layout.Extent + 8));
        var (packed, _) = PackThenUnpack(layout, source, 0, elements, elements * layout.Size);
        return packed.AsSpan().SequenceEqual(ReferencePack(layout, source, 0, elements));
    }
}
