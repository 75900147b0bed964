// SharpMPI micro-benchmarks in OSU's output format, run as an MPI job:
//   ./mpirun -n 2 bench/SharpMpi.Bench latency -m 0:4M
using SharpMpi;
using SharpMpi.Bench;

if (args.Length == 4 && args[0] == "summarize")
    return Summarize.Run(args[1], args[2], args[3]);

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
{
    Console.Error.WriteLine($"SharpMpi.Bench: {e.Message}");
    return 2;
}

return MpiEnvironment.Run(args, world =>
{
    switch (options.Verb)
    {
        case "latency":
            PointToPointBench.Latency(world, options);
            break;
        case "bw":
            PointToPointBench.Bandwidth(world, options, bidirectional: false);
            break;
        case "bibw":
            PointToPointBench.Bandwidth(world, options, bidirectional: true);
            break;
        default:
            throw new ArgumentException($"unknown benchmark '{options.Verb}' (latency, bw, bibw)");
    }
});
