// Scenarios for the multi-process tests: `sharpmpi run -n N dotnet SharpMpi.TestApp.dll <scenario> [args]`.
// Each prints "OK <scenario>" on rank 0 when every check passed; a failed check throws, which aborts the job.
using System.Diagnostics;
using SharpMpi;

string scenario = args.Length > 0 ? args[0] : "sizes";
return MpiEnvironment.Run(args, world =>
{
    if (world.Rank == 0)
        Console.WriteLine($"jobid={Environment.GetEnvironmentVariable("SHARPMPI_JOBID")}");
    switch (scenario)
    {
        case "sizes":
            Scenarios.Sizes(world, args.Length > 1 ? args[1].Split(',').Select(long.Parse).ToArray() : Scenarios.DefaultSizes);
            break;
        case "allpairs":
            Scenarios.AllPairs(world);
            break;
        case "wildcard":
            Scenarios.Wildcard(world);
            break;
        case "truncate":
            Scenarios.Truncate(world);
            break;
        case "p2p":
            // The point-to-point scenarios in one job (one start-up instead of four).
            Scenarios.Sizes(world, Scenarios.DefaultSizes);
            Scenarios.AllPairs(world);
            Scenarios.Wildcard(world);
            Scenarios.Truncate(world);
            break;
        case "collectives":
            Scenarios.Collectives(world);
            break;
        case "shm-collectives":
            SharedCollectiveScenarios.Run(world);
            break;
        case "split-copy":
            SplitCopyScenarios.Run(world);
            break;
        case "allreduce-forever":
            Scenarios.AllreduceForever(world);
            break;
        case "killed":
            // Rank 1 dies by SIGKILL while rank 0 waits for it.
            if (world.Rank == 1)
                Process.GetCurrentProcess().Kill();
            world.Receive<int>(Communicator.AnySource, 0);
            break;
        case "throw":
            if (world.Rank == world.Size - 1)
                throw new InvalidOperationException("deliberate failure");
            world.Receive<int>(Communicator.AnySource, 0);
            break;
        case "abort":
            if (world.Rank == 1)
                world.Environment.Abort(7, "deliberate abort");
            world.Receive<int>(Communicator.AnySource, 0);
            break;
        case "hang":
            world.Receive<int>(Communicator.AnySource, 0);
            break;
        case "idle":
            Scenarios.Idle(world);
            break;
        case "rma":
            RmaScenarios.Run(world);
            break;
        case "inter":
            InterScenarios.Run(world);
            break;
        case "exit":
            // A rank that exits with a code without finalizing.
            if (world.Rank == 1)
                Environment.Exit(int.Parse(args[1]));
            world.Receive<int>(Communicator.AnySource, 0);
            break;
        default:
            throw new ArgumentException($"unknown scenario '{scenario}'", nameof(args));
    }
    if (world.Rank == 0)
        Console.WriteLine($"OK {scenario}");
});

internal static class Scenarios
{
    public static readonly long[] DefaultSizes = [0, 1, 8, 1000, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 65536, 1 << 20, 8 << 20];

    private static byte Pattern(long i, int seed) => (byte)((i * 131 + seed * 7 + (i >> 8)) & 0xFF);

    /// <summary>Rank 0 sends each size to every other rank, which checks every byte and echoes it back.</summary>
    public static void Sizes(Communicator world, long[] sizes)
    {
        foreach (long size in sizes)
        {
            if (size < 0)
                continue;
            if (world.Rank == 0)
            {
                var data = GC.AllocateUninitializedArray<byte>(checked((int)Math.Min(size, int.MaxValue)));
                for (long i = 0; i < data.Length; i++)
                    data[i] = Pattern(i, (int)(size % 251));
                for (int peer = 1; peer < world.Size; peer++)
                {
                    world.Send(data, peer, 1);
                    var back = new byte[data.Length];
                    var s = world.Receive(back, peer, 2);
                    Check(s.ByteCount == size, $"echo of {size} bytes came back with {s.ByteCount}");
                    Check(back.AsSpan().SequenceEqual(data), $"echo of {size} bytes differs");
                }
            }
            else
            {
                var buffer = new byte[size];
                var s = world.Receive(buffer, 0, 1);
                Check(s.ByteCount == size && s.Source == 0 && s.Tag == 1, $"status {s} for {size} bytes");
                for (long i = 0; i < size; i++)
                {
                    if (buffer[i] != Pattern(i, (int)(size % 251)))
                        throw new InvalidOperationException($"byte {i} of {size} is wrong");
                }
                world.Send(buffer, 0, 2);
            }
        }
        // A message over 2 GiB when asked for: 64-bit counts end to end.
        if (sizes.Contains(-1))
            Huge(world);
    }

    private static void Huge(Communicator world)
    {
        const long count = 300_000_000; // doubles: 2.4 GB
        if (world.Rank == 0)
        {
            var data = GC.AllocateUninitializedArray<double>((int)count);
            for (int i = 0; i < data.Length; i += 4096)
                data[i] = i;
            data[^1] = -1;
            world.Send(data, 1, 3);
        }
        else if (world.Rank == 1)
        {
            var buffer = GC.AllocateUninitializedArray<double>((int)count);
            var s = world.Receive(buffer, 0, 3);
            Check(s.ByteCount == count * 8, $"huge message reported {s.ByteCount} bytes");
            for (int i = 0; i < buffer.Length - 1; i += 4096)
                Check(buffer[i] == i, $"huge message element {i}");
            Check(buffer[^1] == -1, "huge message last element");
            Console.WriteLine($"huge message of {s.ByteCount} bytes received intact");
        }
    }

    /// <summary>Every rank sends to every other rank at once (many ranks on few cores).</summary>
    public static void AllPairs(Communicator world)
    {
        var requests = new List<Request>();
        var inbox = new int[world.Size][];
        for (int peer = 0; peer < world.Size; peer++)
        {
            inbox[peer] = new int[100];
            if (peer != world.Rank)
                requests.Add(world.IReceive(inbox[peer], peer, 5));
        }
        var payload = Enumerable.Repeat(world.Rank, 100).ToArray();
        for (int peer = 0; peer < world.Size; peer++)
        {
            if (peer != world.Rank)
                world.Send(payload, peer, 5);
        }
        Request.WaitAll(requests.ToArray());
        for (int peer = 0; peer < world.Size; peer++)
        {
            if (peer != world.Rank)
                Check(inbox[peer].All(v => v == peer), $"message from {peer}");
        }
    }

    /// <summary>Rank 0 receives from AnySource/AnyTag; per-sender order must hold.</summary>
    public static void Wildcard(Communicator world)
    {
        const int perSender = 200;
        if (world.Rank == 0)
        {
            var next = new int[world.Size];
            for (int k = 0; k < perSender * (world.Size - 1); k++)
            {
                int v = world.Receive<int>(Communicator.AnySource, Communicator.AnyTag, out var s);
                Check(v == next[s.Source]++, $"message {v} from {s.Source} out of order");
                Check(s.Tag == v % 5, "tag");
            }
        }
        else
        {
            for (int i = 0; i < perSender; i++)
                world.Send(i, 0, i % 5);
        }
    }

    public static void Truncate(Communicator world)
    {
        if (world.Rank == 0)
        {
            world.Send(new byte[100_000], 1, 0);
            world.Send(new byte[100], 1, 0);
            world.Send(5, 1, 1);
        }
        else if (world.Rank == 1)
        {
            foreach (int len in new[] { 99_999, 99 })
            {
                try
                {
                    world.Receive(new byte[len], 0, 0);
                    throw new InvalidOperationException("truncation not reported");
                }
                catch (MpiException e) when (e.ErrorClass == ErrorClass.Truncate)
                {
                }
            }
            Check(world.Receive<int>(0, 1) == 5, "message after truncation");
        }
    }

    /// <summary>Rank 0 waits about a second for rank 1 and reports the CPU it burned meanwhile.</summary>
    public static void Idle(Communicator world)
    {
        if (world.Rank == 0)
        {
            var p = Process.GetCurrentProcess();
            var cpu0 = p.TotalProcessorTime;
            var t0 = Stopwatch.GetTimestamp();
            world.Receive<int>(1, 0);
            p.Refresh();
            double cpu = (p.TotalProcessorTime - cpu0).TotalSeconds;
            double wall = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            Console.WriteLine($"idle-cpu-fraction={cpu / wall:F3} over {wall:F2} s");
        }
        else if (world.Rank == 1)
        {
            Thread.Sleep(1000);
            world.Send(1, 0, 0);
        }
    }

    /// <summary>
    /// Every blocking collective at an eager-sized and a rendezvous-sized count, each root, checked
    /// element by element against the value every rank can compute on its own.
    /// </summary>
    public static void Collectives(Communicator world)
    {
        int size = world.Size, rank = world.Rank;
        world.Barrier();
        foreach (int count in new[] { 1, 1000, 200_000 })
        {
            for (int root = 0; root < size; root++)
            {
                var b = new long[count];
                if (rank == root)
                {
                    for (int i = 0; i < count; i++)
                        b[i] = i * 3L + root;
                }
                world.Broadcast<long>(b, root);
                for (int i = 0; i < count; i++)
                    Check(b[i] == i * 3L + root, $"broadcast of {count} from {root}, element {i}");
            }

            var mine = new long[count];
            for (int i = 0; i < count; i++)
                mine[i] = (long)rank * count + i;
            var sum = new long[count];
            world.Allreduce<long>(mine, sum, Op.Sum);
            long rankSum = (long)size * (size - 1) / 2;
            for (int i = 0; i < count; i++)
                Check(sum[i] == rankSum * count + (long)size * i, $"allreduce of {count}, element {i}");

            int reduceRoot = count % size;
            var reduced = new long[count];
            world.Reduce<long>(mine, reduced, Op.Max, reduceRoot);
            if (rank == reduceRoot)
            {
                for (int i = 0; i < count; i++)
                    Check(reduced[i] == (long)(size - 1) * count + i, $"reduce of {count}, element {i}");
            }

            var scan = new long[count];
            world.Scan<long>(mine, scan, Op.Sum);
            long below = (long)rank * (rank + 1) / 2;
            for (int i = 0; i < count; i++)
                Check(scan[i] == below * count + (long)(rank + 1) * i, $"scan of {count}, element {i}");

            var gathered = new long[count * size];
            world.Allgather<long>(mine, gathered);
            for (int i = 0; i < gathered.Length; i++)
                Check(gathered[i] == i, $"allgather of {count}, element {i}");

            var rooted = new long[rank == 0 ? count * size : 0];
            world.Gather<long>(mine, rooted, 0);
            if (rank == 0)
            {
                for (int i = 0; i < rooted.Length; i++)
                    Check(rooted[i] == i, $"gather of {count}, element {i}");
            }
            var scattered = new long[count];
            world.Scatter<long>(rank == 0 ? rooted : [], scattered, 0);
            Check(scattered.AsSpan().SequenceEqual(mine), $"scatter of {count}");

            // Alltoall: block j of rank r carries r * size + j everywhere.
            int block = Math.Max(1, count / size);
            var outgoing = new long[block * size];
            for (int i = 0; i < outgoing.Length; i++)
                outgoing[i] = (long)rank * size + i / block;
            var incoming = new long[block * size];
            world.Alltoall<long>(outgoing, incoming);
            for (int i = 0; i < incoming.Length; i++)
                Check(incoming[i] == (long)(i / block) * size + rank, $"alltoall of {block} per rank, element {i}");

            var reduceScattered = new long[block];
            world.ReduceScatterBlock<long>(outgoing, reduceScattered, Op.Sum);
            for (int i = 0; i < block; i++)
                Check(reduceScattered[i] == rankSum * size + (long)size * rank, $"reduce-scatter of {block}, element {i}");
        }

        var names = world.AllgatherObject($"rank {rank}");
        for (int r = 0; r < size; r++)
            Check(names[r] == $"rank {r}", $"allgather object {r}");
        world.Barrier();
    }

    /// <summary>
    /// Every rank prints "pid P rank R" and then all-reduces 1 MiB at a time forever (rank 0 prints "looping"
    /// after the first); fault tests kill a rank meanwhile.
    /// </summary>
    public static void AllreduceForever(Communicator world)
    {
        Console.WriteLine($"pid {Environment.ProcessId} rank {world.Rank}");
        var data = new double[128 * 1024];
        var result = new double[data.Length];
        data.AsSpan().Fill(1);
        for (long round = 0; ; round++)
        {
            world.Allreduce<double>(data, result, Op.Sum);
            Check(result[^1] == world.Size, "allreduce result");
            if (round == 0 && world.Rank == 0)
                Console.WriteLine("looping");
        }
    }

    private static void Check(bool condition, string what)
    {
        if (!condition)
            throw new InvalidOperationException("check failed: " + what);
    }
}
