using System.Numerics;
using SharpMpi.Collectives;
using static SharpMpi.Tests.CollectiveTestSupport;

namespace SharpMpi.Tests;

/// <summary>Every predefined operator on every element type it accepts, with recursive doubling and ring allreduce.</summary>
public class ReduceOpTests
{
    private const int Count = 37; // more than one Vector256 of bytes, plus a tail

    private static readonly AllreduceAlgorithm[] Algorithms = [AllreduceAlgorithm.RecursiveDoubling, AllreduceAlgorithm.Ring, AllreduceAlgorithm.Rabenseifner, AllreduceAlgorithm.SharedMemory];

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public async Task Integers_AllOperators(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            foreach (var algorithm in Algorithms)
            {
                Use(world, new CollectiveTuning { Allreduce = algorithm });
                Integer<sbyte>(world);
                Integer<byte>(world);
                Integer<short>(world);
                Integer<ushort>(world);
                Integer<int>(world);
                Integer<uint>(world);
                Integer<long>(world);
                Integer<ulong>(world);
                Integer<nint>(world);
                Integer<nuint>(world);
            }
        }, Options);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public async Task FloatingPointBoolComplexAndLoc_AllOperators(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            foreach (var algorithm in Algorithms)
            {
                Use(world, new CollectiveTuning { Allreduce = algorithm });
                FloatingPoint<float>(world);
                FloatingPoint<double>(world);
                FloatingPoint<Half>(world);
                Check(world, Op.Sum, (r, i) => new Complex(r + 1, i % 3), (a, b) => a + b);
                Check(world, Op.Prod, (r, i) => new Complex(r + 1, i % 3), (a, b) => a * b);
                Check(world, Op.LogicalAnd, (r, i) => (r + i) % 4 != 0, (a, b) => a && b);
                Check(world, Op.LogicalOr, (r, i) => (r + i) % 4 == 0, (a, b) => a || b);
                Check(world, Op.LogicalXor, (r, i) => (r * i) % 3 == 1, (a, b) => a != b);
                Loc<double>(world);
                Loc<int>(world);
                Loc<long>(world);
                Loc<float>(world);
                Loc<short>(world);
            }
        }, Options);
    }

    [Fact]
    public async Task TypeOperatorMismatch_ThrowsArgumentExceptionNamingOp()
    {
        await MpiTestHost.RunAsync(1, world =>
        {
            Assert.Equal("op", Assert.Throws<ArgumentException>(() => world.Allreduce(new double[1], new double[1], Op.BitwiseAnd)).ParamName);
            Assert.Equal("op", Assert.Throws<ArgumentException>(() => world.Allreduce(new bool[1], new bool[1], Op.Sum)).ParamName);
            Assert.Equal("op", Assert.Throws<ArgumentException>(() => world.Allreduce(new int[1], new int[1], Op.MinLoc)).ParamName);
            Assert.Equal("op", Assert.Throws<ArgumentException>(() => world.Allreduce(new Mat2[1], new Mat2[1], Op.Sum)).ParamName);
            Assert.Equal("op", Assert.Throws<ArgumentNullException>(() => world.Allreduce(new int[1], new int[1], (Op)null!)).ParamName);
            Assert.Throws<ArgumentException>(() => world.Reduce(1.5, Op.LogicalXor, 0));
            // Replace and NoOp work on any element type: the last and the first rank's value
            Assert.Equal(new Mat2(1, 2, 3, 4), world.Allreduce(new Mat2(1, 2, 3, 4), Op.Replace));
        }, Options);
    }

    [Fact]
    public async Task ReplaceAndNoOp_PickLastAndFirstRank()
    {
        await MpiTestHost.RunAsync(5, world =>
        {
            Assert.Equal(4, world.Allreduce(world.Rank, Op.Replace));
            Assert.Equal(0, world.Allreduce(world.Rank, Op.NoOp));
            Assert.Equal(world.Rank, world.Scan(world.Rank, Op.Replace));
        }, Options);
    }

    [Fact]
    public void Vectorized_KernelsMatchScalarOnLongBuffers()
    {
        // d may alias a; lengths straddle vector widths
        foreach (int n in new[] { 0, 1, 7, 8, 31, 33, 1000 })
        {
            var a = Enumerable.Range(0, n).Select(i => (long)i * 3 - 50).ToArray();
            var b = Enumerable.Range(0, n).Select(i => (long)(n - i) * 7).ToArray();
            var d = (long[])a.Clone();
            Vectorized<long, MaxOp<long>>.Apply(d, b, d);
            Assert.Equal(a.Zip(b, Math.Max), d);
            var s = (long[])b.Clone();
            Vectorized<long, SumOp<long>>.Apply(a, s, s);
            Assert.Equal(a.Zip(b, (x, y) => x + y), s);
        }
    }

    // ------------------------------------------------------------------ helpers

    private static void Integer<T>(Communicator world) where T : unmanaged, IBinaryInteger<T>
    {
        T Gen(int r, int i) => T.CreateTruncating((Val(r, i) % 11) - 4);
        Check(world, Op.Sum, Gen, (a, b) => unchecked(a + b));
        Check(world, Op.Prod, Gen, (a, b) => unchecked(a * b));
        Check(world, Op.Min, Gen, T.Min);
        Check(world, Op.Max, Gen, T.Max);
        Check(world, Op.BitwiseAnd, Gen, (a, b) => a & b);
        Check(world, Op.BitwiseOr, Gen, (a, b) => a | b);
        Check(world, Op.BitwiseXor, Gen, (a, b) => a ^ b);
        T Sparse(int r, int i) => (r + i) % 3 == 0 ? T.Zero : Gen(r, i) | T.One;
        Check(world, Op.LogicalAnd, Sparse, (a, b) => !T.IsZero(a) && !T.IsZero(b) ? T.One : T.Zero);
        Check(world, Op.LogicalOr, Sparse, (a, b) => !T.IsZero(a) || !T.IsZero(b) ? T.One : T.Zero);
        Check(world, Op.LogicalXor, Sparse, (a, b) => T.IsZero(a) != T.IsZero(b) ? T.One : T.Zero);
        Check(world, Op.Replace, Gen, (a, b) => b);
        Check(world, Op.NoOp, Gen, (a, b) => a);
    }

    private static void FloatingPoint<T>(Communicator world) where T : unmanaged, IFloatingPoint<T>
    {
        // small integers: every sum and product is exact, whatever the order
        T Gen(int r, int i) => T.CreateTruncating((Val(r, i) % 7) - 3);
        Check(world, Op.Sum, Gen, (a, b) => a + b);
        Check(world, Op.Prod, Gen, (a, b) => a * b);
        Check(world, Op.Min, Gen, T.Min);
        Check(world, Op.Max, Gen, T.Max);
        Assert.Throws<ArgumentException>(() => world.Allreduce(new T[1], new T[1], Op.BitwiseOr));
    }

    private static void Loc<T>(Communicator world) where T : unmanaged, INumber<T>
    {
        // values repeat across ranks, so ties must keep the lower index
        ValueIndex<T> Gen(int r, int i) => new(T.CreateTruncating((r + i) % 3), r);
        Check(world, Op.MinLoc, Gen, (a, b) => a.Value < b.Value || a.Value == b.Value && a.Index <= b.Index ? a : b);
        Check(world, Op.MaxLoc, Gen, (a, b) => a.Value > b.Value || a.Value == b.Value && a.Index <= b.Index ? a : b);
    }

    private static void Check<T>(Communicator world, Op op, Func<int, int, T> gen, Func<T, T, T> fold) where T : unmanaged
    {
        var data = Enumerable.Range(0, Count).Select(i => gen(world.Rank, i)).ToArray();
        var result = new T[Count];
        world.Allreduce(data, result, op);
        var expected = Enumerable.Range(0, Count).Select(i =>
        {
            var acc = gen(0, i);
            for (int r = 1; r < world.Size; r++)
                acc = fold(acc, gen(r, i));
            return acc;
        }).ToArray();
        Assert.True(expected.SequenceEqual(result), $"{op} on {typeof(T).Name}: expected [{string.Join(", ", expected)}], got [{string.Join(", ", result)}]");
    }
}
