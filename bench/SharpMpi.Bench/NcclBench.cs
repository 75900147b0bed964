using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace SharpMpi.Bench;

/// <summary>
/// Collectives in the format of nccl-tests (<c>all_reduce_perf</c> and friends): for each size an out-of-place
/// and an in-place run of <c>-n</c> back-to-back calls after <c>-w</c> warm-up calls, time averaged over ranks
/// (nccl-tests' <c>-a 1</c>), algbw = S / time and busbw = algbw × factor as nccl-tests defines them, and a
/// checked call whose wrong elements (against values computed independently) are counted in <c>#wrong</c>.
/// </summary>
/// <remarks>
/// Sizes are rounded down to a whole number of elements (times the rank count for allgather, reducescatter and
/// alltoall, whose S is count × typesize × n); sizes below one element per rank are skipped. MPI_Bcast has one
/// buffer, so both columns of broadcast time the same call. Inputs are small integers, so every reduction order
/// gives exact results in float and double as well.
/// </remarks>
internal static class NcclBench
{
    private const int Period = 22;

    public static int Run(Communicator world, NcclOptions o) => o.DataType switch
    {
        "double" => Run<double>(world, o),
        "int32" => Run<int>(world, o),
        "int64" => Run<long>(world, o),
        _ => Run<float>(world, o),
    };

    public static string TestName(string verb) => verb switch
    {
        "allreduce" => "all_reduce_perf",
        "allgather" => "all_gather_perf",
        "broadcast" => "broadcast_perf",
        "reduce" => "reduce_perf",
        "reducescatter" => "reduce_scatter_perf",
        "alltoall" => "alltoall_perf",
        _ => "barrier_perf",
    };

    /// <summary>busbw = algbw × this (nccl-tests' doc/PERFORMANCE.md).</summary>
    public static double BusFactor(string verb, int n) => verb switch
    {
        "allreduce" => 2.0 * (n - 1) / n,
        "allgather" or "reducescatter" or "alltoall" => (double)(n - 1) / n,
        "broadcast" or "reduce" => 1,
        _ => 0,
    };

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Run<T>(Communicator world, NcclOptions o) where T : unmanaged, INumber<T>, IMinMaxValue<T>
    {
        string verb = o.Verb;
        int n = world.Size, rank = world.Rank, typeSize = Unsafe.SizeOf<T>();
        bool reduction = verb is "allreduce" or "reduce" or "reducescatter";
        bool rooted = verb is "broadcast" or "reduce";
        int root = rooted ? o.Root : -1;
        int blocks = verb is "allgather" or "reducescatter" or "alltoall" ? n : 1;
        Op op = o.Op switch { "prod" => Op.Prod, "min" => Op.Min, "max" => Op.Max, _ => Op.Sum };
        string testName = TestName(verb);

        PrintHeader(world, o, testName);

        long maxElements = verb == "barrier" ? 1 : Math.Max(1, o.MaxBytes / typeSize);
        if (maxElements > Array.MaxLength)
            throw new BenchUsageException($"-e {o.MaxBytes} is larger than one .NET array of {typeof(T).Name} can hold");
        var send = GC.AllocateArray<T>((int)maxElements, pinned: true);
        var recv = GC.AllocateArray<T>((int)maxElements, pinned: true);
        var data = new Data<T>(o.Op, n);

        var rows = new List<object>();
        double busSum = 0;
        int busCount = 0;
        long wrongTotal = 0;
        IEnumerable<long> sizes = verb == "barrier" ? [0L] : o.Sizes();
        bool warmedUp = false;
        foreach (long requested in sizes)
        {
            int count = verb == "barrier" ? 0 : (int)(requested / typeSize / blocks);
            if (verb != "barrier" && count == 0)
                continue;
            long bytes = (long)count * typeSize * blocks;
            var placements = new (double Time, double AlgBw, double BusBw, long Wrong)[2];
            for (int p = 0; p < 2; p++)
            {
                bool inPlace = p == 1;
                Action call = Call(world, verb, send, recv, count, op, o.Root, inPlace);
                Init(verb, data, send, recv, count, rank, n, o.Root, inPlace);
                if (!warmedUp)
                {
                    JitWarmup.Run(world, call, batch: 10);
                    warmedUp = true;
                }
                for (int i = 0; i < o.Warmup; i++)
                    call();
                world.Barrier();
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < o.Iterations; i++)
                    call();
                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds / o.Iterations;
                seconds = world.Allreduce(seconds, Op.Sum) / n;
                long wrong = -1;
                if (o.Check)
                {
                    Init(verb, data, send, recv, count, rank, n, o.Root, inPlace);
                    call();
                    wrong = world.Allreduce(CountWrong(verb, data, send, recv, count, rank, n, o.Root, inPlace), Op.Sum);
                    wrongTotal += wrong;
                }
                double algBw = seconds > 0 ? bytes / 1e9 / seconds : 0;
                double busBw = algBw * BusFactor(verb, n);
                placements[p] = (seconds * 1e6, algBw, busBw, wrong);
                busSum += busBw;
                busCount++;
            }
            if (rank != 0)
                continue;
            var line = new StringBuilder();
            line.Append(CultureInfo.InvariantCulture, $"{bytes,12}  {count,12}  {TypeName<T>(),8}  {(reduction ? o.Op : "none"),6}  {root,6}");
            foreach (var (time, alg, bus, wrong) in placements)
                line.Append(CultureInfo.InvariantCulture, $"  {FloatStr(time, 7)}  {FloatStr(alg, 6)}  {FloatStr(bus, 6)}  {(wrong < 0 ? "N/A" : wrong.ToString(CultureInfo.InvariantCulture)),6}");
            Console.WriteLine(line.ToString());
            rows.Add(new
            {
                size = bytes,
                count,
                type = TypeName<T>(),
                redop = reduction ? o.Op : "none",
                root,
                out_of_place = Placement(placements[0]),
                in_place = Placement(placements[1]),
            });
        }

        double avgBus = busCount > 0 ? busSum / busCount : 0;
        if (rank == 0)
        {
            Console.WriteLine($"# Out of bounds values : {wrongTotal} {(wrongTotal == 0 ? "OK" : "FAILED")}");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# Avg bus bandwidth    : {avgBus:G6} "));
            Console.WriteLine("#");
            Console.WriteLine($"# Collective test concluded: {testName}");
            if (o.Json is string path)
            {
                BenchJson.Write(path, new
                {
                    config = new
                    {
                        benchmark = testName,
                        implementation = "SharpMPI",
                        nranks = n,
                        minbytes = o.MinBytes,
                        maxbytes = o.MaxBytes,
                        stepfactor = o.StepBytes > 0 ? (double?)null : o.StepFactor,
                        stepbytes = o.StepBytes > 0 ? (long?)o.StepBytes : null,
                        iters = o.Iterations,
                        warmup_iters = o.Warmup,
                        check = o.Check ? 1 : 0,
                        op = o.Op,
                        datatype = TypeName<T>(),
                        root = o.Root,
                    },
                    results = rows,
                    out_of_bounds = wrongTotal,
                    avg_bus_bandwidth = avgBus,
                });
            }
        }
        return wrongTotal > 0 ? 1 : 0;
    }

    private static object Placement((double Time, double AlgBw, double BusBw, long Wrong) p) =>
        new { time = p.Time, alg_bw = p.AlgBw, bus_bw = p.BusBw, wrong = p.Wrong < 0 ? (long?)null : p.Wrong };

    private static void PrintHeader(Communicator world, NcclOptions o, string testName)
    {
        string host = Environment.MachineName;
        string?[]? hosts = world.GatherObject(host, 0);
        int[]? pids = world.Gather(Environment.ProcessId, 0);
        if (world.Rank != 0)
            return;
        string step = o.StepBytes > 0 ? $"{o.StepBytes}(bytes)" : string.Create(CultureInfo.InvariantCulture, $"{o.StepFactor:G}(factor)");
        Console.WriteLine("# SharpMPI bench, nccl-tests output format");
        Console.WriteLine($"# Collective test starting: {testName}");
        Console.WriteLine($"# nThread 1 nGpus 1 minBytes {o.MinBytes} maxBytes {o.MaxBytes} step: {step} warmup iters: {o.Warmup} iters: {o.Iterations} agg iters: 1 validation: {(o.Check ? 1 : 0)} graph: 0 unalign: 0");
        Console.WriteLine("#");
        Console.WriteLine("# Using devices");
        for (int r = 0; r < world.Size; r++)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"#  Rank {r,2} Group  0 Pid {pids![r],6} on {hosts![r],10} device  0 [cpu] SharpMPI"));
        Console.WriteLine("#");
        Console.WriteLine("#                                                              out-of-place                       in-place");
        Console.WriteLine("#       size         count      type   redop    root     time   algbw   busbw  #wrong     time   algbw   busbw  #wrong");
        Console.WriteLine("#        (B)    (elements)                               (us)  (GB/s)  (GB/s)             (us)  (GB/s)  (GB/s)");
    }

    /// <summary>nccl-tests' getFloatStr: as many decimals (2, 1, 0) as fit in <paramref name="width"/>, else exponent notation.</summary>
    public static string FloatStr(double value, int width)
    {
        int power = 0;
        for (double v = 1; value >= v && power < 40; v *= 10)
            power++;
        string text = power < width - 2 ? value.ToString("F2", CultureInfo.InvariantCulture)
            : power < width - 1 ? value.ToString("F1", CultureInfo.InvariantCulture)
            : power < width + 1 ? value.ToString("F0", CultureInfo.InvariantCulture)
            : value.ToString("0.0e+00", CultureInfo.InvariantCulture);
        return text.PadLeft(width);
    }

    private static string TypeName<T>() => typeof(T) == typeof(float) ? "float" : typeof(T) == typeof(double) ? "double"
        : typeof(T) == typeof(int) ? "int32" : "int64";

    private static Action Call<T>(Communicator world, string verb, T[] send, T[] recv, int count, Op op, int root, bool inPlace) where T : unmanaged
    {
        int n = world.Size;
        return (verb, inPlace) switch
        {
            ("allreduce", false) => () => world.Allreduce<T>(send.AsSpan(0, count), recv.AsSpan(0, count), op),
            ("allreduce", true) => () => world.Allreduce<T>(recv.AsSpan(0, count), op),
            ("reduce", false) => () => world.Reduce<T>(send.AsSpan(0, count), world.Rank == root ? recv.AsSpan(0, count) : [], op, root),
            ("reduce", true) => () => world.ReduceInPlace<T>(recv.AsSpan(0, count), op, root),
            ("broadcast", _) => () => world.Broadcast<T>(recv.AsSpan(0, count), root),
            ("allgather", false) => () => world.Allgather<T>(send.AsSpan(0, count), recv.AsSpan(0, count * n)),
            ("allgather", true) => () => world.AllgatherInPlace<T>(recv.AsSpan(0, count * n)),
            ("reducescatter", false) => () => world.ReduceScatterBlock<T>(send.AsSpan(0, count * n), recv.AsSpan(0, count), op),
            ("reducescatter", true) => () => world.ReduceScatterBlockInPlace<T>(recv.AsSpan(0, count * n), op),
            ("alltoall", false) => () => world.Alltoall<T>(send.AsSpan(0, count * n), recv.AsSpan(0, count * n)),
            ("alltoall", true) => () => world.AlltoallInPlace<T>(recv.AsSpan(0, count * n)),
            _ => world.Barrier,
        };
    }

    /// <summary>Fills the input (the send buffer, or the receive buffer in place) and poisons the output.</summary>
    private static void Init<T>(string verb, Data<T> d, T[] send, T[] recv, int count, int rank, int n, int root, bool inPlace)
        where T : unmanaged, INumber<T>, IMinMaxValue<T>
    {
        T[] input = inPlace ? recv : send;
        if (!inPlace)
            recv.AsSpan(0, Math.Min(recv.Length, verb is "allgather" or "alltoall" ? count * n : count)).Fill(T.Zero);
        switch (verb)
        {
            case "allreduce":
            case "reduce":
                for (int i = 0; i < count; i++)
                    input[i] = d.Value(rank, i);
                break;
            case "broadcast":
                for (int i = 0; i < count; i++)
                    recv[i] = rank == root ? d.Value(root, i) : T.Zero;
                break;
            case "allgather":
                if (inPlace)
                    recv.AsSpan(0, count * n).Fill(T.Zero);
                int offset = inPlace ? rank * count : 0;
                for (int i = 0; i < count; i++)
                    input[offset + i] = d.Value(rank, i);
                break;
            case "reducescatter":
                for (int i = 0; i < count * n; i++)
                    input[i] = d.Value(rank, i);
                break;
            case "alltoall":
                for (int j = 0; j < n; j++)
                {
                    for (int i = 0; i < count; i++)
                        input[j * count + i] = Data<T>.Pair(rank, j, i);
                }
                break;
        }
    }

    private static long CountWrong<T>(string verb, Data<T> d, T[] send, T[] recv, int count, int rank, int n, int root, bool inPlace)
        where T : unmanaged, INumber<T>, IMinMaxValue<T>
    {
        long wrong = 0;
        switch (verb)
        {
            case "allreduce":
                for (int i = 0; i < count; i++)
                    wrong += recv[i] == d.Reduced(i) ? 0 : 1;
                break;
            case "reduce":
                if (rank == root)
                {
                    for (int i = 0; i < count; i++)
                        wrong += recv[i] == d.Reduced(i) ? 0 : 1;
                }
                break;
            case "broadcast":
                for (int i = 0; i < count; i++)
                    wrong += recv[i] == d.Value(root, i) ? 0 : 1;
                break;
            case "allgather":
                for (int j = 0; j < n; j++)
                {
                    for (int i = 0; i < count; i++)
                        wrong += recv[j * count + i] == d.Value(j, i) ? 0 : 1;
                }
                break;
            case "reducescatter":
                for (int i = 0; i < count; i++)
                    wrong += recv[i] == d.Reduced(rank * count + i) ? 0 : 1;
                break;
            case "alltoall":
                for (int j = 0; j < n; j++)
                {
                    for (int i = 0; i < count; i++)
                        wrong += recv[j * count + i] == Data<T>.Pair(j, rank, i) ? 0 : 1;
                }
                break;
        }
        _ = send;
        return wrong;
    }

    /// <summary>
    /// Input values: small positive integers periodic in the element index, so the expected result of the
    /// reduction over all ranks is a small table (computed here by folding, not by the library).
    /// </summary>
    private sealed class Data<T> where T : unmanaged, INumber<T>, IMinMaxValue<T>
    {
        private readonly T[][] _values;
        private readonly T[] _reduced = new T[Period];

        public Data(string op, int n)
        {
            _values = new T[n][];
            for (int r = 0; r < n; r++)
            {
                _values[r] = new T[Period];
                for (int i = 0; i < Period; i++)
                    _values[r][i] = T.CreateTruncating(op == "prod" ? 1 + (r + i) % 2 : (r * 3 + i) % 11 + 1);
            }
            for (int i = 0; i < Period; i++)
            {
                T acc = _values[0][i];
                for (int r = 1; r < n; r++)
                {
                    T v = _values[r][i];
                    acc = op switch
                    {
                        "prod" => acc * v,
                        "min" => T.Min(acc, v),
                        "max" => T.Max(acc, v),
                        _ => acc + v,
                    };
                }
                _reduced[i] = acc;
            }
        }

        public T Value(int rank, int index) => _values[rank][index % Period];

        public T Reduced(int index) => _reduced[index % Period];

        /// <summary>What <paramref name="source"/> sends to <paramref name="destination"/> at <paramref name="index"/> (alltoall).</summary>
        public static T Pair(int source, int destination, int index) => T.CreateTruncating((source * 5 + destination * 3 + index) % 11 + 1);
    }
}
