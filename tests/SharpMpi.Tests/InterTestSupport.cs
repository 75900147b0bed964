using static SharpMpi.Tests.CollectiveTestSupport;

namespace SharpMpi.Tests;

/// <summary>
/// Shared by the intercommunicator tests: world ranks split into group 0 (the first <c>low</c> ranks) and group 1
/// (the rest), joined by an intercommunicator; each group sees the other as its remote group. Data and the
/// sequential references every rank can compute on its own.
/// </summary>
internal static class InterTestSupport
{
    internal sealed record Side(Intercommunicator Inter, int Color, int LocalSize, int RemoteSize)
    {
        /// <summary>The remote group's number.</summary>
        public int RemoteColor => 1 - Color;
    }

    internal static Side Create(Communicator world, int low)
    {
        int color = world.Rank < low ? 0 : 1;
        var local = world.Split(color, world.Rank)!;
        var inter = local.CreateInter(localLeader: 0, world, remoteLeader: color == 0 ? low : 0, tag: 3);
        return new Side(inter, color, inter.Size, inter.RemoteSize);
    }

    /// <summary>Element i contributed by rank <paramref name="rank"/> of group <paramref name="color"/>.</summary>
    internal static int V(int color, int rank, int i) => Val(color * 100 + rank, i);

    internal static int[] Values(int color, int rank, int count, int offset = 0)
    {
        var a = new int[count];
        for (int i = 0; i < count; i++)
            a[i] = V(color, rank, i + offset);
        return a;
    }

    internal static Task Run(int ranks, int low, Action<Side> body) =>
        MpiTestHost.RunAsync(ranks, world =>
        {
            var side = Create(world, low);
            try
            {
                body(side);
            }
            finally
            {
                side.Inter.Dispose();
            }
        }, Options);

    /// <summary>Like <see cref="Run"/> with an asynchronous body.</summary>
    internal static Task RunAsync(int ranks, int low, Func<Side, Task> body) =>
        MpiTestHost.RunAsync(ranks, async world =>
        {
            var side = Create(world, low);
            try
            {
                await body(side);
            }
            finally
            {
                side.Inter.Dispose();
            }
        }, Options);

    /// <summary>Completes a nonblocking collective one of two ways: awaits its Task form, or Wait()s its Request form.</summary>
    internal static async Task Complete(bool awaited, Func<Task> task, Func<Request> request)
    {
        if (awaited)
            await task();
        else
            request().Wait();
    }

    /// <summary>Root argument of this rank when rank <paramref name="root"/> of group <paramref name="rootColor"/> is the root.</summary>
    internal static int RootArg(Side s, int rootColor, int root) =>
        rootColor != s.Color ? root : s.Inter.Rank == root ? Communicator.Root : Communicator.ProcNull;

    /// <summary>Sequential sum over the ranks of group <paramref name="color"/> (wrapping).</summary>
    internal static int[] SumOf(int color, int size, int count)
    {
        var sum = new int[count];
        for (int r = 0; r < size; r++)
        {
            for (int i = 0; i < count; i++)
                sum[i] = unchecked(sum[i] + V(color, r, i));
        }
        return sum;
    }

    /// <summary>Sequential rank-ordered matrix product over group <paramref name="color"/>.</summary>
    internal static Mat2[] ProductOf(int color, int size, int count)
    {
        var product = new Mat2[count];
        for (int i = 0; i < count; i++)
        {
            product[i] = Mat2.For(color * 10, i);
            for (int r = 1; r < size; r++)
                product[i] *= Mat2.For(color * 10 + r, i);
        }
        return product;
    }

    internal static Mat2[] Matrices(int color, int rank, int count) =>
        Enumerable.Range(0, count).Select(i => Mat2.For(color * 10 + rank, i)).ToArray();
}
