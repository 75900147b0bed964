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

    private static void Check(bool condition, string what)
    {
        if (!condition)
            throw new InvalidOperationException("check failed: " + what);
    }
}
