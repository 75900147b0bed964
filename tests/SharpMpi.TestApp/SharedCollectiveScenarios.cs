using SharpMpi;

/// <summary>
/// Blocking Barrier, Broadcast, Reduce and Allreduce, many times over, on World and on two halves of it at once:
/// enough calls for the shared-memory collectives to be set up, with sizes that travel in a control line, in a
/// slot, and by messages, interleaved, and a non-commutative operator.
/// </summary>
internal static class SharedCollectiveScenarios
{
    public static void Run(Communicator world)
    {
        using var half = world.Split(world.Rank % 2, world.Rank)!;
        for (int round = 0; round < 40; round++)
        {
            Round(world, round);
            Round(half, round);
        }
        world.Barrier();
    }

    private static void Round(Communicator comm, int round)
    {
        int size = comm.Size, rank = comm.Rank;
        comm.Barrier();
        // 8 B and 56 B fit a control line, 4000 B a slot; 8 KiB and 24 KiB take the message algorithms; 160 KB
        // reductions on 3 or more ranks read the other ranks' buffers directly.
        foreach (int count in new[] { 1, 7, 500, 1024, 3000, 20_000 })
        {
            var mine = new long[count];
            for (int i = 0; i < count; i++)
                mine[i] = rank * 1000L + i + round;
            var sum = new long[count];
            comm.Allreduce<long>(mine, sum, Op.Sum);
            for (int i = 0; i < count; i++)
                Check(sum[i] == 1000L * size * (size - 1) / 2 + (long)size * (i + round), $"{comm.Name}: allreduce of {count}, element {i}, round {round}");

            // Composition of affine maps x ↦ m·x + c (m, c packed in a long) is associative, not commutative:
            // the result shows the order the ranks were combined in.
            var maps = new long[count];
            for (int i = 0; i < count; i++)
                maps[i] = Affine(rank + 2, rank + i + round);
            var composed = new long[count];
            comm.Allreduce<long>(maps, composed, Compose, commutative: false);
            for (int i = 0; i < count; i++)
            {
                long expected = Affine(2, i + round);
                for (int r = 1; r < size; r++)
                    expected = Compose(expected, Affine(r + 2, r + i + round));
                Check(composed[i] == expected, $"{comm.Name}: ordered allreduce of {count}, element {i}, round {round}");
            }

            int root = (round + count) % size;
            var max = new long[count];
            comm.Reduce<long>(mine, max, Op.Max, root);
            if (rank == root)
            {
                for (int i = 0; i < count; i++)
                    Check(max[i] == (size - 1) * 1000L + i + round, $"{comm.Name}: reduce of {count} to {root}, element {i}, round {round}");
            }

            // Broadcasts in a row from one root: the root never waits, so it may run ahead into reused memory.
            for (int b = 0; b < 3; b++)
            {
                var data = rank == root ? mine : new long[count];
                comm.Broadcast<long>(data, root);
                for (int i = 0; i < count; i++)
                    Check(data[i] == root * 1000L + i + round, $"{comm.Name}: broadcast of {count} from {root}, element {i}, round {round}");
            }
        }
    }

    private static long Affine(int m, int c) => (long)((ulong)(uint)m << 32 | (uint)c);

    private static long Compose(long f, long g)
    {
        uint m1 = (uint)((ulong)f >> 32), c1 = (uint)f, m2 = (uint)((ulong)g >> 32), c2 = (uint)g;
        return (long)((ulong)unchecked(m1 * m2) << 32 | unchecked(m1 * c2 + c1));
    }

    private static void Check(bool condition, string what)
    {
        if (!condition)
            throw new InvalidOperationException("check failed: " + what);
    }
}
