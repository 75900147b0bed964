using SharpMpi.Collectives;

namespace SharpMpi.Tests;

/// <summary>Shared data and helpers of the collective tests.</summary>
internal static class CollectiveTestSupport
{
    /// <summary>Rank counts every collective is checked on (powers of two and not).</summary>
    public static TheoryData<int> RankCounts => new() { 1, 2, 3, 4, 5, 7, 8, 16 };

    /// <summary>Element counts: empty, one, small, above the 16 KiB eager limit (ints).</summary>
    public static readonly int[] Counts = [0, 1, 37, 5000];

    /// <summary>Deterministic element i of rank r.</summary>
    public static int Val(int rank, int i) => unchecked(rank * 7919 + i * 31 + 5);

    public static int[] Data(int rank, int count, int offset = 0)
    {
        var a = new int[count];
        for (int i = 0; i < count; i++)
            a[i] = Val(rank, i + offset);
        return a;
    }

    /// <summary>Sets the same tuning on this rank (every rank must call it with the same value).</summary>
    public static void Use(Communicator world, CollectiveTuning tuning) => world.Environment.CollectiveTuning = tuning;

    public static T[] All<T>() where T : struct, Enum => Enum.GetValues<T>();

    public static MpiTestHostOptions Options => new() { Timeout = TimeSpan.FromSeconds(120) };
}

/// <summary>A 2×2 integer matrix; multiplication (mod 2^32) is associative but not commutative.</summary>
public readonly record struct Mat2(int A, int B, int C, int D)
{
    public static Mat2 operator *(Mat2 x, Mat2 y) => unchecked(new(
        x.A * y.A + x.B * y.C, x.A * y.B + x.B * y.D,
        x.C * y.A + x.D * y.C, x.C * y.B + x.D * y.D));

    public static Mat2 For(int rank, int i) => new(rank + 2, 1 + i % 3, 1, rank % 3 + i % 5);
}

/// <summary>Matrix product as a user operator type.</summary>
public readonly struct MatMul : IReduceOp<Mat2>
{
    public static Mat2 Combine(Mat2 a, Mat2 b) => a * b;

    public static bool IsCommutative => false;
}

/// <summary>Largest absolute value (commutative user operator).</summary>
public readonly struct MaxAbs : IReduceOp<double>
{
    public static double Combine(double a, double b) => Math.Max(Math.Abs(a), Math.Abs(b));
}
