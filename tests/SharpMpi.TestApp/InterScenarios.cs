using SharpMpi;

/// <summary>
/// Collectives on an intercommunicator between processes: the first half of the world (group 0) and the rest
/// (group 1). Nonblocking forms (several outstanding, completed as Tasks and as Requests), then the object forms,
/// each rooted one from either group; every value is one any rank can compute on its own.
/// </summary>
internal static class InterScenarios
{
    public static void Run(Communicator world)
    {
        int low = world.Size / 2;
        int color = world.Rank < low ? 0 : 1;
        using var local = world.Split(color, world.Rank)!;
        using var inter = local.CreateInter(0, world, color == 0 ? low : 0, tag: 5);
        Nonblocking(inter, color);
        Objects(inter, color);
        inter.Barrier();
    }

    /// <summary>Element i of rank <paramref name="rank"/> of group <paramref name="color"/>.</summary>
    private static long Value(int color, int rank, int i) => color * 1_000_000L + rank * 1000L + i;

    private static long[] Values(int color, int rank, int count)
    {
        var a = new long[count];
        for (int i = 0; i < count; i++)
            a[i] = Value(color, rank, i);
        return a;
    }

    /// <summary>Root argument when rank 0 of group <paramref name="rootColor"/> is the root.</summary>
    private static int RootArg(Intercommunicator inter, int color, int rootColor) =>
        rootColor != color ? 0 : inter.Rank == 0 ? Communicator.Root : Communicator.ProcNull;

    private static void Nonblocking(Intercommunicator inter, int color)
    {
        int remote = 1 - color;
        foreach (int count in new[] { 1, 1000, 200_000 })
        {
            var mine = Values(color, inter.Rank, count);
            var sum = new long[count];
            var allgathered = new long[count * inter.RemoteSize];
            int broadcastArg = RootArg(inter, color, 0);
            var broadcast = broadcastArg == Communicator.Root ? Values(0, 0, count) : new long[count];
            int gatherArg = RootArg(inter, color, 1);
            var gathered = new long[gatherArg == Communicator.Root ? count * inter.RemoteSize : 0];
            // Posted back to back; the Task forms and the Request forms completed in posting order.
            var allreduce = inter.AllreduceAsync(mine, sum, Op.Sum);
            var bcast = inter.IBroadcast(broadcast, broadcastArg);
            var gather = inter.GatherAsync(gatherArg >= 0 ? mine : [], gathered, gatherArg);
            var barrier = inter.IBarrier();
            var allgather = inter.IAllgather(mine, allgathered);
            allreduce.GetAwaiter().GetResult();
            bcast.Wait();
            gather.GetAwaiter().GetResult();
            barrier.Wait();
            allgather.Wait();
            for (int i = 0; i < count; i++)
            {
                long expected = 0;
                for (int r = 0; r < inter.RemoteSize; r++)
                    expected += Value(remote, r, i);
                Check(sum[i] == expected, $"iallreduce of {count}, element {i}");
                Check(broadcast[i] == (broadcastArg == Communicator.ProcNull ? 0 : Value(0, 0, i)), $"ibroadcast of {count}, element {i}");
                for (int r = 0; r < inter.RemoteSize; r++)
                {
                    Check(allgathered[r * count + i] == Value(remote, r, i), $"iallgather of {count}, block {r}, element {i}");
                    if (gatherArg == Communicator.Root)
                        Check(gathered[r * count + i] == Value(remote, r, i), $"igather of {count}, block {r}, element {i}");
                }
            }
        }
    }

    private static void Objects(Intercommunicator inter, int color)
    {
        int remote = 1 - color;
        string Item(int c, int r) => $"g{c}r{r}" + new string('x', r * 30_000);
        var names = inter.AllgatherObject(Item(color, inter.Rank));
        for (int r = 0; r < inter.RemoteSize; r++)
            Check(names[r] == Item(remote, r), $"allgather object {r}");
        for (int rootColor = 0; rootColor < 2; rootColor++)
        {
            int arg = RootArg(inter, color, rootColor);
            var got = inter.BroadcastObject(arg == Communicator.Root ? Item(color, 0) : null, arg);
            Check(arg == Communicator.ProcNull ? got is null : got == Item(rootColor, 0), $"broadcast object from group {rootColor}");
            var gathered = inter.GatherObject(Item(color, inter.Rank), arg);
            for (int r = 0; r < (arg == Communicator.Root ? inter.RemoteSize : 0); r++)
                Check(gathered![r] == Item(remote, r), $"gather object {r} to group {rootColor}");
            var folded = inter.ReduceObject(Item(color, inter.Rank), (a, b) => a + b, arg);
            if (arg == Communicator.Root)
            {
                string expected = "";
                for (int r = 0; r < inter.RemoteSize; r++)
                    expected += Item(remote, r);
                Check(folded == expected, $"reduce object to group {rootColor}");
            }
        }
    }

    private static void Check(bool condition, string what)
    {
        if (!condition)
            throw new InvalidOperationException("check failed: " + what);
    }
}
