using FsCheck.Xunit;
using SharpMpi.Collectives;
using static SharpMpi.Tests.CollectiveTestSupport;

namespace SharpMpi.Tests;

/// <summary>Random rank counts, sizes, operators and algorithms: allreduce equals the sequential rank-ordered fold, exactly.</summary>
public class CollectivePropertyTests
{
    private static readonly AllreduceAlgorithm[] Algorithms = Enum.GetValues<AllreduceAlgorithm>();

    [Property(MaxTest = 40)]
    public void Allreduce_AnyAlgorithm_EqualsSequentialFold(byte rankSeed, ushort countSeed, byte opSeed, byte algorithmSeed, int dataSeed)
    {
        int ranks = 1 + rankSeed % 9;
        int count = countSeed % 6000;
        var algorithm = Algorithms[algorithmSeed % Algorithms.Length];
        int op = opSeed % 6;
        int Gen(int r, int i) => unchecked((int)((uint)(dataSeed ^ (r * 0x9E3779B1) ^ (i * 0x85EBCA6B)) * 2654435761u) >> 7);

        MpiTestHost.RunAsync(ranks, world =>
        {
            Use(world, new CollectiveTuning { Allreduce = algorithm });
            int me = world.Rank;
            if (op < 5)
            {
                var (builtin, fold) = op switch
                {
                    0 => (Op.Sum, (Func<int, int, int>)((a, b) => unchecked(a + b))),
                    1 => (Op.Max, Math.Max),
                    2 => (Op.Min, Math.Min),
                    3 => (Op.BitwiseXor, (a, b) => a ^ b),
                    _ => (Op.Replace, (a, b) => b),
                };
                var data = new int[count];
                for (int i = 0; i < count; i++)
                    data[i] = Gen(me, i);
                var result = new int[count];
                world.Allreduce(data, result, builtin);
                for (int i = 0; i < count; i++)
                {
                    int acc = Gen(0, i);
                    for (int r = 1; r < ranks; r++)
                        acc = fold(acc, Gen(r, i));
                    Assert.Equal(acc, result[i]);
                }
            }
            else
            {
                var data = new Mat2[count];
                for (int i = 0; i < count; i++)
                    data[i] = new Mat2(Gen(me, i), Gen(me, i + 1), Gen(me, i + 2), Gen(me, i + 3));
                var result = new Mat2[count];
                world.Allreduce<Mat2, MatMul>(data, result);
                for (int i = 0; i < count; i++)
                {
                    var acc = new Mat2(Gen(0, i), Gen(0, i + 1), Gen(0, i + 2), Gen(0, i + 3));
                    for (int r = 1; r < ranks; r++)
                        acc *= new Mat2(Gen(r, i), Gen(r, i + 1), Gen(r, i + 2), Gen(r, i + 3));
                    Assert.Equal(acc, result[i]);
                }
            }
        }, Options).GetAwaiter().GetResult();
    }
}
