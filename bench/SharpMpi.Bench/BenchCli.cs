using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace SharpMpi.Bench;

/// <summary>A bad command line; reported as one line on stderr (by rank 0 only) and exit code 2.</summary>
internal sealed class BenchUsageException(string message) : Exception(message);

/// <summary>
/// The command line: one verb per benchmark. OSU verbs take OSU's options (<c>-m [MIN:]MAX -i -x -W -f</c>),
/// nccl-tests verbs take nccl-tests' (<c>-b -e -f -i -n -w -c -o -d -r</c>); every verb takes <c>--json FILE</c>.
/// Options are validated before MPI is initialized, so a typo costs no job start-up.
/// </summary>
internal static class BenchCli
{
    public const int UsageExitCode = 2;

    /// <summary>OSU verbs: name → (description, kind).</summary>
    private static readonly (string Name, string Description)[] s_osuVerbs =
    [
        ("latency", "OSU ping-pong latency between ranks 0 and 1 (osu_latency)"),
        ("bw", "OSU windowed bandwidth from rank 0 to rank 1 (osu_bw)"),
        ("bibw", "OSU bidirectional windowed bandwidth (osu_bibw)"),
        ("multi-lat", "OSU ping-pong latency of the pairs (i, i+n/2) at once (osu_multi_lat)"),
        ("overlap", "Share of a large ISend/IReceive (rank 0 -> 1, 16 MiB) hidden behind as long a compute (OSU overlap method)"),
        ("osu-allreduce", "OSU Allreduce latency, MPI_FLOAT, Sum (osu_allreduce)"),
        ("osu-allgather", "OSU Allgather latency, bytes per rank (osu_allgather)"),
        ("osu-bcast", "OSU Bcast latency from root 0 (osu_bcast)"),
        ("osu-reduce", "OSU Reduce latency to root 0, MPI_FLOAT, Sum (osu_reduce)"),
        ("osu-alltoall", "OSU Alltoall latency, bytes per peer (osu_alltoall)"),
        ("osu-barrier", "OSU Barrier latency (osu_barrier)"),
        ("put-latency", "OSU MPI_Put latency from rank 0 to rank 1 (osu_put_latency); -s lock|fence|flush, -w allocate|shared|create"),
        ("put-bw", "OSU MPI_Put bandwidth from rank 0 to rank 1 (osu_put_bw); -s lock|fence|flush, -w allocate|shared|create"),
        ("column", "Ping-pong of one column of an N x N double matrix with a vector datatype; -m gives N (4096)"),
    ];

    private static readonly (string Name, string Description)[] s_ncclVerbs =
    [
        ("allreduce", "nccl-tests all_reduce_perf"),
        ("allgather", "nccl-tests all_gather_perf"),
        ("broadcast", "nccl-tests broadcast_perf"),
        ("reduce", "nccl-tests reduce_perf"),
        ("reducescatter", "nccl-tests reduce_scatter_perf"),
        ("alltoall", "nccl-tests alltoall_perf"),
        ("barrier", "barrier in nccl-tests format (one row, size 0)"),
    ];

    public static IEnumerable<string> Verbs => [.. s_osuVerbs.Select(v => v.Name), .. s_ncclVerbs.Select(v => v.Name), "alloc"];

    public static int Run(string[] args)
    {
        var root = new RootCommand("SharpMPI micro-benchmarks (OSU and nccl-tests output formats); run under mpirun / sharpmpi run");
        foreach (var (name, description) in s_osuVerbs)
            root.Subcommands.Add(OsuCommand(name, description));
        foreach (var (name, description) in s_ncclVerbs)
            root.Subcommands.Add(NcclCommand(name, description));
        root.Subcommands.Add(AllocCommand());

        ParseResult parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            string? unmatched = parse.UnmatchedTokens.FirstOrDefault();
            return Usage(unmatched switch
            {
                null when args.Length == 0 => $"no benchmark given (one of: {string.Join(", ", Verbs)})",
                null => parse.Errors[0].Message,
                _ when unmatched.StartsWith('-') => $"unknown option '{unmatched}'",
                _ => $"unknown benchmark '{unmatched}' (one of: {string.Join(", ", Verbs)})",
            });
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (BenchUsageException e)
        {
            return Usage(e.Message);
        }
    }

    /// <summary>
    /// Prints the message once per job (rank 0, or a process not started by a launcher). The other ranks wait a
    /// moment before exiting, so the launcher, which ends the job at the first failing rank, lets rank 0 print.
    /// </summary>
    private static int Usage(string message)
    {
        string? rank = Environment.GetEnvironmentVariable("SHARPMPI_RANK");
        if (rank is null or "0")
            Console.Error.WriteLine($"SharpMpi.Bench: {message}");
        else
            Thread.Sleep(2000);
        return UsageExitCode;
    }

    private static Option<string?> JsonOption() => new("--json")
    {
        Description = "Also write the results as JSON to FILE (rank 0)",
        HelpName = "FILE",
    };

    private static Option<long?> SizeOption(string name, string alias, string description) => new(name, alias)
    {
        Description = description,
        HelpName = "BYTES",
        CustomParser = r => ParseSize(r, r.Tokens[0].Value),
    };

    private static Option<int?> IntOption(string name, string alias, string description, string helpName) => new(name, alias)
    {
        Description = description,
        HelpName = helpName,
    };

    private static Command OsuCommand(string name, string description)
    {
        var sizes = new Option<string?>("-m", "--message-size") { Description = "Message sizes [MIN:]MAX in bytes (K, M, G suffixes)", HelpName = "[MIN:]MAX" };
        var iterations = IntOption("-i", "--iterations", "Timed iterations per size (default: OSU's, by size)", "N");
        var warmup = IntOption("-x", "--warmup", "Warm-up iterations per size (default: OSU's, by size)", "N");
        var window = IntOption("-W", "--window-size", "Messages in flight per iteration for bw/bibw (64)", "N");
        var full = new Option<bool>("-f", "--full") { Description = "Collectives: add Min/Max latency and Iterations columns" };
        var sync = new Option<string>("-s", "--sync") { Description = "put-*: lock (Lock/Unlock per iteration), fence, or flush (LockAll, Flush per iteration)", HelpName = "SYNC", DefaultValueFactory = _ => "lock" };
        sync.AcceptOnlyFromAmong("lock", "fence", "flush");
        var windowKind = new Option<string>("-w", "--win") { Description = "put-*: allocate (AllocateWindow), shared (AllocateSharedWindow) or create (CreateWindow)", HelpName = "KIND", DefaultValueFactory = _ => "allocate" };
        windowKind.AcceptOnlyFromAmong("allocate", "shared", "create");
        var json = JsonOption();
        var command = new Command(name, description) { sizes, iterations, warmup, window, full, json };
        bool rma = name.StartsWith("put-", StringComparison.Ordinal);
        if (rma)
        {
            command.Options.Add(sync);
            command.Options.Add(windowKind);
        }
        command.SetAction(parse =>
        {
            bool collective = name.StartsWith("osu-", StringComparison.Ordinal);
            long defaultMin = collective ? (name is "osu-allreduce" or "osu-reduce" ? 4 : 1)
                : name == "column" ? 4096 : name == "overlap" ? 16 << 20 : rma ? 1 : 0;
            long defaultMax = collective || rma ? 1 << 20 : name == "column" ? 4096 : name == "overlap" ? 16 << 20 : 4 << 20;
            string? sizeText = parse.GetValue(sizes);
            if (name == "column" && sizeText is not null && !sizeText.Contains(':'))
                sizeText = sizeText + ":" + sizeText; // one N, as osu_ddt.c reads it
            var (min, max) = ParseRange(sizeText, defaultMin, defaultMax);
            var options = new OsuOptions(name, min, max,
                Positive(parse.GetValue(iterations), "-i"), NonNegative(parse.GetValue(warmup), "-x"),
                Positive(parse.GetValue(window), "-W") ?? (rma ? 32 : 64), parse.GetValue(full), parse.GetValue(json));
            return RunJob(world =>
            {
                var results = new BenchResults(name, world.Size);
                switch (name)
                {
                    case "latency": PointToPointBench.Latency(world, options, results); break;
                    case "bw": PointToPointBench.Bandwidth(world, options, bidirectional: false, results); break;
                    case "bibw": PointToPointBench.Bandwidth(world, options, bidirectional: true, results); break;
                    case "multi-lat": PointToPointBench.MultiLatency(world, options, results); break;
                    case "column": DatatypeBench.Column(world, options, results); break;
                    case "put-latency" or "put-bw": RmaBench.Put(world, options, parse.GetValue(sync)!, parse.GetValue(windowKind)!, results); break;
                    case "overlap": OverlapBench.Run(world, options, results); break;
                    default: OsuCollectiveBench.Run(world, options, results); break;
                }
                if (world.Rank == 0 && options.Json is string path)
                    results.Write(path);
                return 0;
            });
        });
        return command;
    }

    private static Command NcclCommand(string name, string description)
    {
        var minBytes = SizeOption("-b", "--minbytes", "Smallest size in bytes, K/M/G = 1024-based (8)");
        var maxBytes = SizeOption("-e", "--maxbytes", "Largest size in bytes (128M)");
        var stepFactor = new Option<double?>("-f", "--stepfactor") { Description = "Multiply the size by this each step (2)", HelpName = "FACTOR" };
        var stepBytes = SizeOption("-i", "--stepbytes", "Add this to the size each step instead of multiplying");
        var iters = IntOption("-n", "--iters", "Timed iterations per size (20)", "N");
        var warmup = IntOption("-w", "--warmup_iters", "Warm-up iterations per size (1)", "N");
        var check = IntOption("-c", "--check", "Check results: 1 (default) counts wrong elements in #wrong, 0 skips", "0|1");
        var op = new Option<string>("-o", "--op") { Description = "Reduction: sum, prod, min, max", HelpName = "OP", DefaultValueFactory = _ => "sum" };
        op.AcceptOnlyFromAmong("sum", "prod", "min", "max");
        var dtype = new Option<string>("-d", "--dtype", "--datatype") { Description = "Element type: float, double, int32, int64", HelpName = "TYPE", DefaultValueFactory = _ => "float" };
        dtype.AcceptOnlyFromAmong("float", "double", "int32", "int64");
        var root = IntOption("-r", "--root", "Root rank of broadcast and reduce (0)", "RANK");
        var json = JsonOption();
        var command = new Command(name, description) { minBytes, maxBytes, stepFactor, stepBytes, iters, warmup, check, op, dtype, root, json };
        command.SetAction(parse =>
        {
            long min = parse.GetValue(minBytes) ?? 8, max = parse.GetValue(maxBytes) ?? 128L << 20;
            if (min < 0 || max < min)
                throw new BenchUsageException($"bad size range -b {min} -e {max}");
            double factor = parse.GetValue(stepFactor) ?? 2;
            long step = parse.GetValue(stepBytes) ?? 0;
            if (step == 0 && factor <= 1)
                throw new BenchUsageException($"-f must be greater than 1 (got {factor.ToString(CultureInfo.InvariantCulture)})");
            if (step < 0)
                throw new BenchUsageException($"-i must be positive (got {step})");
            int checkValue = NonNegative(parse.GetValue(check), "-c") ?? 1;
            var options = new NcclOptions(name, min, max, factor, step,
                Positive(parse.GetValue(iters), "-n") ?? 20, NonNegative(parse.GetValue(warmup), "-w") ?? 1,
                checkValue > 0, parse.GetValue(op)!, parse.GetValue(dtype)!, NonNegative(parse.GetValue(root), "-r") ?? 0,
                parse.GetValue(json));
            return RunJob(world =>
            {
                if (options.Root >= world.Size)
                    throw new BenchUsageException($"--root {options.Root} is not a rank of this {world.Size}-rank job");
                // As nccl-tests: wrong results make the run fail.
                return NcclBench.Run(world, options) > 0 ? 1 : 0;
            });
        });
        return command;
    }

    private static Command AllocCommand()
    {
        var sends = IntOption("--sends", "-s", "8-byte round trips between ranks 0 and 1, blocking and again nonblocking (100000)", "N");
        var allreduces = IntOption("--allreduces", "-a", "Allreduce calls on 8 doubles (10000)", "N");
        var check = new Option<bool>("--check") { Description = "Exit 1 unless every loop allocated 0 bytes on every rank's thread" };
        var json = JsonOption();
        var command = new Command("alloc", "Managed bytes allocated per operation in steady state (Send/Receive and ISend/IReceive 8 B, Allreduce 8 doubles)")
        {
            sends, allreduces, check, json,
        };
        command.SetAction(parse =>
        {
            int s = Positive(parse.GetValue(sends), "--sends") ?? 100_000, a = Positive(parse.GetValue(allreduces), "--allreduces") ?? 10_000;
            string? path = parse.GetValue(json);
            bool c = parse.GetValue(check);
            return RunJob(world => AllocationBench.Run(world, s, a, path, c));
        });
        return command;
    }

    /// <summary>
    /// Runs the benchmark as an MPI job; returns its exit code. Checks that depend on the job (rank count, root)
    /// fail the same way on every rank, so they end the job cleanly with a one-line message instead of an abort.
    /// </summary>
    private static int RunJob(Func<Communicator, int> body)
    {
        int code = 0;
        int rc = MpiEnvironment.Run([], world =>
        {
            try
            {
                code = body(world);
            }
            catch (BenchUsageException e)
            {
                code = Usage(e.Message);
            }
        });
        return rc != 0 ? rc : code;
    }

    private static int? Positive(int? value, string option) =>
        value is < 1 ? throw new BenchUsageException($"{option} must be at least 1 (got {value})") : value;

    private static int? NonNegative(int? value, string option) =>
        value is < 0 ? throw new BenchUsageException($"{option} must not be negative (got {value})") : value;

    private static (long Min, long Max) ParseRange(string? text, long defaultMin, long defaultMax)
    {
        if (text is null)
            return (defaultMin, defaultMax);
        int colon = text.IndexOf(':');
        long min = defaultMin, max = defaultMax;
        if (colon < 0)
        {
            max = ParseSize(text);
        }
        else
        {
            if (colon > 0)
                min = ParseSize(text[..colon]);
            if (colon < text.Length - 1)
                max = ParseSize(text[(colon + 1)..]);
        }
        if (min < 0 || max < min)
            throw new BenchUsageException($"bad size range -m {text}");
        return (min, max);
    }

    private static long? ParseSize(ArgumentResult result, string text)
    {
        try
        {
            return ParseSize(text);
        }
        catch (BenchUsageException e)
        {
            result.AddError(e.Message);
            return null;
        }
    }

    /// <summary>Bytes with an optional K, M or G suffix (1024-based, as OSU and nccl-tests).</summary>
    public static long ParseSize(string text)
    {
        string t = text.Trim();
        long factor = 1;
        if (t.Length > 0 && char.ToUpperInvariant(t[^1]) is 'K' or 'M' or 'G')
        {
            factor = char.ToUpperInvariant(t[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, _ => 1L << 30 };
            t = t[..^1];
        }
        if (!long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out long value) || value > long.MaxValue / factor)
            throw new BenchUsageException($"'{text}' is not a size in bytes (e.g. 8, 64K, 4M)");
        return value * factor;
    }
}

/// <summary>Options of the OSU verbs.</summary>
internal sealed record OsuOptions(string Verb, long MinSize, long MaxSize, int? Iterations, int? Warmup, int Window, bool Full, string? Json)
{
    /// <summary>Sizes 0 (if in range), then powers of two from max(1, min) to max, as OSU does.</summary>
    public IEnumerable<long> Sizes()
    {
        if (MinSize == 0)
            yield return 0;
        for (long s = Math.Max(1, MinSize); s <= MaxSize; s *= 2)
            yield return s;
    }

    /// <summary>
    /// Iterations + warm-up up to / above 8 KiB: latency 10000+1000 / 1000+100 (OSU's iterations, a longer
    /// warm-up for the JIT; bench/native/osu_p2p.c uses the same), bandwidth 100+10 / 20+2, collectives
    /// 1000+100 / 100+10 (OSU's).
    /// </summary>
    public (int Iterations, int Warmup) IterationsFor(long size, bool bandwidth, bool collective = false)
    {
        bool large = size > 8192;
        int iters = Iterations ?? (bandwidth ? (large ? 20 : 100) : collective ? (large ? 100 : 1000) : (large ? 1000 : 10000));
        int warm = Warmup ?? (bandwidth ? (large ? 2 : 10) : collective ? (large ? 10 : 100) : (large ? 100 : 1000));
        return (iters, warm);
    }
}

/// <summary>Options of the nccl-tests verbs.</summary>
internal sealed record NcclOptions(string Verb, long MinBytes, long MaxBytes, double StepFactor, long StepBytes, int Iterations, int Warmup,
    bool Check, string Op, string DataType, int Root, string? Json)
{
    public IEnumerable<long> Sizes()
    {
        for (long s = MinBytes; s <= MaxBytes;)
        {
            yield return s;
            long next = StepBytes > 0 ? s + StepBytes : (long)(s * StepFactor);
            if (next <= s)
                next = s + 1;
            s = next;
        }
    }
}
