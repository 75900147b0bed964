using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace SharpMpi.Tests;

/// <summary>Pack / Unpack / PackSize: round trips, positions and overflow.</summary>
public class PackTests
{
    private static Task One(Action<Communicator> body) => MpiTestHost.RunAsync(1, body);

    [Fact]
    public Task Pack_MixedValues_RoundTrip() => One(world =>
    {
        var buf = new byte[world.PackSize<int>(1) + world.PackSize<double>(3) + world.PackSize<char>(2)];
        long pos = 0;
        world.Pack(42, buf, ref pos);
        world.Pack<double>([1.5, -2.5, 3.25], buf, ref pos);
        world.Pack<char>("hi", buf, ref pos);
        Assert.Equal(buf.Length, pos);
        pos = 0;
        world.Unpack(buf, ref pos, out int i);
        var d = new double[3];
        world.Unpack<double>(buf, ref pos, d);
        Assert.Equal('h', world.Unpack<char>(buf, ref pos));
        Assert.Equal('i', world.Unpack<char>(buf, ref pos));
        Assert.Equal(42, i);
        Assert.Equal([1.5, -2.5, 3.25], d);
    });

    [Fact]
    public Task Pack_PastTheEnd_ThrowsAndWritesNothing() => One(world =>
    {
        var buf = new byte[10];
        long pos = 4;
        var e = Assert.Throws<ArgumentException>(() => world.Pack(1L, buf, ref pos));
        Assert.Equal("buffer", e.ParamName);
        Assert.Equal(4, pos);
        Assert.All(buf, b => Assert.Equal(0, b));
        pos = 8;
        Assert.Throws<ArgumentException>(() => world.Unpack<int>(buf, ref pos, out _));
        pos = 11;
        Assert.Throws<ArgumentOutOfRangeException>(() => world.Pack((byte)1, buf, ref pos));
        using var col = Datatype.Vector<int>(3, 1, 3).Commit();
        pos = 0;
        Assert.Throws<ArgumentException>(() => world.Pack(new int[9], col, 1, buf, ref pos));
        Assert.Equal(0, pos);
    });

    [Fact]
    public Task Pack_Datatype_MatchesSendLayout() => One(world =>
    {
        using var col = Datatype.Vector<int>(3, 1, 3).Commit();
        var m = Enumerable.Range(0, 9).ToArray();
        Assert.Equal(12, world.PackSize(col, 1));
        var buf = new byte[24];
        long pos = 0;
        world.Pack(m, col, 1, buf, ref pos);
        world.Pack(m.AsSpan(1), col, 1, buf, ref pos);
        pos = 0;
        var flat = new int[6];
        world.Unpack<int>(buf, ref pos, flat);
        Assert.Equal([0, 3, 6, 1, 4, 7], flat);
        var back = new int[9];
        pos = 0;
        world.Unpack(buf, ref pos, back, col, 1);
        world.Unpack(buf, ref pos, back.AsSpan(2), col, 1);
        Assert.Equal([0, 0, 1, 3, 0, 4, 6, 0, 7], back);
    });

    [Fact]
    public async Task Packed_SentAsBytes_ReceivedWithDatatype()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            using var col = Datatype.Vector<int>(3, 1, 3).Commit();
            if (world.Rank == 0)
            {
                var buf = new byte[12];
                long pos = 0;
                world.Pack<int>([5, 6, 7], buf, ref pos);
                world.Send(buf, 1, 0);
            }
            else
            {
                var m = new int[9];
                world.Receive(m, col, 1, 0, 0);
                Assert.Equal([5, 0, 0, 6, 0, 0, 7, 0, 0], m);
            }
        });
    }

    /// <summary>Random indexed layouts: pack then unpack restores exactly the described elements and nothing else.</summary>
    [Property(MaxTest = 200)]
    public Property PackUnpack_RandomIndexed_RoundTrip(NonEmptyArray<byte> lengthsSeed, int dataSeed, byte countSeed)
    {
        var lengths = lengthsSeed.Get.Select(b => b % 4).ToArray();
        var displacements = new int[lengths.Length];
        int at = 0;
        var rng = new Random(dataSeed);
        for (int i = 0; i < lengths.Length; i++)
        {
            at += rng.Next(0, 3);
            displacements[i] = at;
            at += lengths[i];
        }
        int count = 1 + countSeed % 3;
        using var t = Datatype.Indexed<int>(lengths, displacements).Commit();
        int extentInts = (int)(t.Extent / sizeof(int));
        int start = (int)(t.LowerBound / sizeof(int));
        var source = new int[start + extentInts * count + 1];
        for (int i = 0; i < source.Length; i++)
            source[i] = rng.Next();
        bool ok = true;
        MpiTestHost.RunAsync(1, world =>
        {
            var buf = new byte[world.PackSize(t, count) + 3];
            long pos = 3;
            world.Pack(source, t, count, buf, ref pos);
            ok &= pos == buf.Length;
            var dest = new int[source.Length];
            pos = 3;
            world.Unpack(buf, ref pos, dest, t, count);
            var expected = new int[source.Length];
            for (int c = 0; c < count; c++)
            {
                for (int b = 0; b < lengths.Length; b++)
                {
                    for (int k = 0; k < lengths[b]; k++)
                    {
                        int idx = c * extentInts + displacements[b] + k;
                        expected[idx] = source[idx];
                    }
                }
            }
            ok &= expected.AsSpan().SequenceEqual(dest);
        }).GetAwaiter().GetResult();
        return ok.ToProperty();
    }
}
