using System.Runtime.InteropServices;

namespace SharpMpi.Tests;

/// <summary>Derived datatype constructors against hand-computed layouts; typed send/receive and collectives.</summary>
public class DatatypeTests
{
    private static (long, long)[] Blocks(Datatype t) => [.. t.Commit().GetBlocks()];

    [Fact]
    public void Contiguous_IsOneBlock_AndZeroCopy()
    {
        using var t = Datatype.Contiguous<int>(5).Commit();
        Assert.Equal(20, t.Size);
        Assert.Equal(20, t.Extent);
        Assert.True(t.IsContiguous);
        Assert.Equal([(0L, 20L)], Blocks(t));
    }

    [Fact]
    public void Vector_MatrixColumn()
    {
        // 4×5 matrix of doubles, one column: 4 blocks of 1 element, stride 5.
        using var t = Datatype.Vector<double>(4, 1, 5).Commit();
        Assert.Equal(32, t.Size);
        Assert.Equal((3 * 5 + 1) * 8, t.Extent);
        Assert.Equal([(0L, 8L), (40L, 8L), (80L, 8L), (120L, 8L)], Blocks(t));
        Assert.False(t.IsContiguous);
    }

    [Fact]
    public void Vector_WithStrideEqualBlock_MergesToOneBlock()
    {
        using var t = Datatype.Vector<int>(3, 2, 2).Commit();
        Assert.Equal([(0L, 24L)], Blocks(t));
        Assert.True(t.IsContiguous);
    }

    [Fact]
    public void HVector_StrideInBytes()
    {
        using var t = Datatype.HVector<short>(3, 2, 10).Commit();
        Assert.Equal([(0L, 4L), (10L, 4L), (20L, 4L)], Blocks(t));
        Assert.Equal(24, t.Extent);
        Assert.Equal(12, t.Size);
    }

    [Fact]
    public void Indexed_BlocksAtElementDisplacements()
    {
        using var t = Datatype.Indexed<int>([2, 1, 3], [0, 5, 6]).Commit();
        // [0,2) [5,6) [6,9) elements → bytes (0,8) (20,16) merged.
        Assert.Equal([(0L, 8L), (20L, 16L)], Blocks(t));
        Assert.Equal(24, t.Size);
        Assert.Equal(36, t.Extent);
    }

    [Fact]
    public void Indexed_KeepsTypeMapOrder()
    {
        using var t = Datatype.Indexed<int>([1, 1], [3, 0]).Commit();
        Assert.Equal([(12L, 4L), (0L, 4L)], Blocks(t));
        Assert.Equal(0, t.LowerBound);
        Assert.Equal(16, t.Extent);
    }

    [Fact]
    public void HIndexed_ByteDisplacements()
    {
        using var t = Datatype.HIndexed<long>([1, 2], [4, 32]).Commit();
        Assert.Equal([(4L, 8L), (32L, 16L)], Blocks(t));
        Assert.Equal(4, t.LowerBound);
        Assert.Equal(44, t.Extent);
        Assert.Equal(4, t.TrueLowerBound);
        Assert.Equal(44, t.TrueExtent);
    }

    [Fact]
    public void IndexedBlock_SameLengthBlocks()
    {
        using var t = Datatype.IndexedBlock<float>(2, [1, 4, 8]).Commit();
        Assert.Equal([(4L, 8L), (16L, 8L), (32L, 8L)], Blocks(t));
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Particle
    {
        public byte Kind;
        public double X;
        public int Id;
        public bool Alive;
        public char Tag;
    }

    [StructLayout(LayoutKind.Explicit, Size = 24)]
    private struct Explicit
    {
        [FieldOffset(16)] public int B;
        [FieldOffset(4)] public long A;
    }

    private struct Nested(short s, Explicit e)
    {
        public short S = s;
        public Explicit E = e;
    }

    [Fact]
    public void Struct_FromFieldLayout()
    {
        using var t = Datatype.Struct<Particle>();
        // byte at 0, pad, double at 8, int at 16, bool at 20, pad, char at 22; sizeof = 24.
        Assert.Equal(24, t.Extent);
        Assert.Equal(1 + 8 + 4 + 1 + 2, t.Size);
        Assert.Equal([(0L, 1L), (8L, 13L), (22L, 2L)], Blocks(t));
        Assert.Equal(5, t.ElementCount);
    }

    [Fact]
    public void Struct_ExplicitLayoutAndNesting()
    {
        using var e = Datatype.Struct<Explicit>();
        Assert.Equal([(4L, 8L), (16L, 4L)], Blocks(e));
        using var n = Datatype.Struct<Nested>();
        Assert.Equal(Marshal.SizeOf<Nested>(), n.Extent);
        var blocks = Blocks(n);
        Assert.Equal((0L, 2L), blocks[0]);
        Assert.Equal(14, n.Size);
    }

    [Fact]
    public void Struct_FromTriples()
    {
        using var t = Datatype.Struct((2, 0, Datatype.Of<int>()), (1, 16, Datatype.Of<double>())).Commit();
        Assert.Equal([(0L, 8L), (16L, 8L)], Blocks(t));
        Assert.Equal(16, t.Size);
        Assert.Equal(24, t.Extent);
    }

    [Fact]
    public void Subarray_C_And_Fortran()
    {
        // 4×5 ints, 2×3 sub-block starting at (1, 2).
        using var c = Datatype.Subarray<int>([4, 5], [2, 3], [1, 2]).Commit();
        Assert.Equal([((1 * 5 + 2) * 4L, 12L), ((2 * 5 + 2) * 4L, 12L)], Blocks(c));
        Assert.Equal(80, c.Extent);
        Assert.Equal(0, c.LowerBound);
        using var f = Datatype.Subarray<int>([4, 5], [2, 3], [1, 2], ArrayOrder.Fortran).Commit();
        // Column-major: element (i, j) at i + 4 j; runs of 2 along dimension 0.
        Assert.Equal([((1 + 4 * 2) * 4L, 8L), ((1 + 4 * 3) * 4L, 8L), ((1 + 4 * 4) * 4L, 8L)], Blocks(f));
    }

    [Fact]
    public void Subarray_3D()
    {
        using var t = Datatype.Subarray<byte>([3, 3, 3], [2, 2, 2], [1, 1, 1]).Commit();
        Assert.Equal([(13L, 2L), (16L, 2L), (22L, 2L), (25L, 2L)], Blocks(t));
    }

    [Fact]
    public void Resized_ChangesExtentOnly()
    {
        using var col = Datatype.Vector<int>(3, 1, 4);
        using var r = col.Resized(0, 4).Commit();
        Assert.Equal(4, r.Extent);
        Assert.Equal(12, r.Size);
        Assert.Equal(36, r.TrueExtent);
    }

    [Fact]
    public void DerivedOfDerived()
    {
        using var pair = Datatype.Contiguous<int>(2);
        using var v = Datatype.Vector(2, 1, 3, pair).Commit();
        Assert.Equal([(0L, 8L), (24L, 8L)], Blocks(v));
        Assert.Equal(32, v.Extent);
    }

    [Fact]
    public void Uncommitted_Or_Disposed_Throws()
    {
        var t = Datatype.Vector<int>(2, 1, 2);
        var ex = Assert.Throws<MpiException>(() => t.GetBlocks());
        Assert.Equal(ErrorClass.Type, ex.ErrorClass);
        t.Commit();
        t.Dispose();
        Assert.Throws<ObjectDisposedException>(() => t.GetBlocks());
        Datatype.Of<int>().Dispose();
        Assert.True(Datatype.Of<int>().IsCommitted);
    }

    [Fact]
    public async Task SendColumn_ReceiveContiguous_SameSignature()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            const int Rows = 6, Cols = 4;
            if (world.Rank == 0)
            {
                var m = new double[Rows * Cols];
                for (int i = 0; i < m.Length; i++)
                    m[i] = i;
                using var column = Datatype.Vector<double>(Rows, 1, Cols).Commit();
                world.Send(m.AsSpan(2), column, 1, 1, 3);
            }
            else
            {
                var col = new double[Rows];
                var s = world.Receive(col, Datatype.Of<double>(), Rows, 0, 3);
                Assert.Equal(Rows * 8, s.ByteCount);
                Assert.Equal(Rows, s.GetElements(Datatype.Of<double>()));
                for (int i = 0; i < Rows; i++)
                    Assert.Equal(i * Cols + 2, col[i]);
            }
        });
    }

    [Fact]
    public async Task SendContiguous_ReceiveIntoStrided()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            if (world.Rank == 0)
            {
                world.Send(new int[] { 1, 2, 3, 4, 5, 6 }, 1, 0);
            }
            else
            {
                var m = new int[12];
                using var every2 = Datatype.Vector<int>(6, 1, 2).Commit();
                var s = world.Receive(m, every2, 1, 0, 0);
                Assert.Equal([1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0], m);
                Assert.Equal(6, s.GetElements(every2));
                Assert.Equal(1, s.GetCount(every2));
            }
        });
    }

    [Fact]
    public async Task Receive_PartialElements_CountsPrimitives()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            using var t = Datatype.Struct((1, 0, Datatype.Of<int>()), (1, 8, Datatype.Of<double>())).Commit();
            if (world.Rank == 0)
            {
                world.Send(new byte[12 + 4], 1, 0);
            }
            else
            {
                var buf = new byte[64];
                var s = world.Receive(buf, t, 4, 0, 0);
                Assert.Equal(3, s.GetElements(t)); // int, double, int
                Assert.Throws<InvalidOperationException>(() => s.GetCount(t));
            }
        });
    }

    [Fact]
    public async Task Receive_SignatureMismatch_Detected()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            if (world.Rank == 0)
            {
                world.Send(new byte[6], 1, 0);
            }
            else
            {
                var buf = new int[4];
                using var t = Datatype.Vector<int>(2, 1, 2).Commit();
                var e = Assert.Throws<MpiException>(() => world.Receive(buf, t, 1, 0, 0));
                Assert.Equal(ErrorClass.Type, e.ErrorClass);
            }
        });
    }

    [Fact]
    public async Task Bounds_AreChecked_NamingTheBuffer()
    {
        await MpiTestHost.RunAsync(1, world =>
        {
            using var t = Datatype.Vector<int>(3, 1, 4).Commit();
            var e = Assert.Throws<ArgumentException>(() => world.Send(new int[8], t, 1, 0, 0));
            Assert.Equal("buffer", e.ParamName);
            e = Assert.Throws<ArgumentException>(() => world.Receive(new int[9], t, 2, 0, 0));
            Assert.Equal("buffer", e.ParamName);
        });
    }

    [Fact]
    public async Task Nonblocking_TypedSendAndReceive()
    {
        await MpiTestHost.RunAsync(2, async world =>
        {
            using var t = Datatype.Vector<int>(4, 2, 3).Commit();
            if (world.Rank == 0)
            {
                var data = Enumerable.Range(0, 12).ToArray();
                var r = world.ISend(data, t, 1, 1, 9);
                Array.Clear(data); // packed at start: the buffer may be reused
                await r;
                await world.ISend(new int[] { 7, 8 }, Datatype.Of<int>(), 2, 1, 10);
            }
            else
            {
                var buf = new int[12];
                var s = await world.IReceive(buf, t, 1, 0, 9);
                Assert.Equal(32, s.ByteCount);
                Assert.Equal([0, 1, 0, 3, 4, 0, 6, 7, 0, 9, 10, 0], buf);
                var two = new int[2];
                await world.IReceive(two, Datatype.Of<int>(), 2, 0, 10);
                Assert.Equal([7, 8], two);
            }
        });
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task Collectives_WithDatatypes(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            int me = world.Rank, p = world.Size;
            using var every2 = Datatype.Vector<int>(3, 1, 2).Commit(); // 3 ints, extent 5 ints
            using var spaced = every2.Resized(0, 6 * sizeof(int)).Commit(); // 3 ints every 6

            // Broadcast a strided layout.
            var b = new int[6];
            if (me == 0)
                b = [10, -1, 11, -1, 12, -1];
            world.Broadcast(b, every2, 1, 0);
            Assert.Equal([10, 11, 12], new[] { b[0], b[2], b[4] });

            // Gather strided → contiguous.
            var mine = new[] { me * 3, -1, me * 3 + 1, -1, me * 3 + 2 };
            var all = new int[3 * p];
            world.Gather(mine, every2, 1, all, Datatype.Of<int>(), 3, 0);
            if (me == 0)
                Assert.Equal(Enumerable.Range(0, 3 * p).ToArray(), all);

            // Scatter contiguous → strided with resized extent.
            var src = me == 0 ? Enumerable.Range(100, 3 * p).ToArray() : [];
            var dst = new int[6];
            world.Scatter(src, Datatype.Of<int>(), 3, dst, every2, 1, 0);
            Assert.Equal(new[] { 100 + 3 * me, 101 + 3 * me, 102 + 3 * me }, new[] { dst[0], dst[2], dst[4] });

            // Allgather into interleaved strided slots.
            var gathered = new int[6 * p];
            world.Allgather(new[] { me, me + 1, me + 2 }, Datatype.Of<int>(), 3, gathered, spaced, 1);
            for (int r = 0; r < p; r++)
                Assert.Equal(new[] { r, r + 1, r + 2 }, new[] { gathered[6 * r], gathered[6 * r + 2], gathered[6 * r + 4] });

            // Alltoall with a pair type.
            using var pair = Datatype.Contiguous<long>(2).Commit();
            var send = new long[2 * p];
            for (int j = 0; j < p; j++)
            {
                send[2 * j] = me * 100 + j;
                send[2 * j + 1] = -(me * 100 + j);
            }
            var recv = new long[2 * p];
            world.Alltoall(send, recv, pair, 1);
            for (int i = 0; i < p; i++)
            {
                Assert.Equal(i * 100 + me, recv[2 * i]);
                Assert.Equal(-(i * 100 + me), recv[2 * i + 1]);
            }
        });
    }

    [Fact]
    public async Task StructType_RoundTripsParticles()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            var t = Datatype.Of<Particle>();
            var ps = new Particle[3];
            if (world.Rank == 0)
            {
                for (int i = 0; i < 3; i++)
                    ps[i] = new Particle { Kind = (byte)i, X = i * 1.5, Id = 100 + i, Alive = i % 2 == 0, Tag = (char)('a' + i) };
                world.Send(ps, t, 3, 1, 0);
            }
            else
            {
                var s = world.Receive(ps, t, 3, 0, 0);
                Assert.Equal(3 * 16, s.ByteCount);
                for (int i = 0; i < 3; i++)
                {
                    Assert.Equal((byte)i, ps[i].Kind);
                    Assert.Equal(i * 1.5, ps[i].X);
                    Assert.Equal(100 + i, ps[i].Id);
                    Assert.Equal(i % 2 == 0, ps[i].Alive);
                    Assert.Equal((char)('a' + i), ps[i].Tag);
                }
            }
        });
    }
}
