// Ranks x threads, the .NET counterpart of MPI + OpenMP: each rank integrates its share of a function
// with Parallel.For over its cores, and several threads of each rank talk to MPI at the same time
// (SharpMPI is always MPI_THREAD_MULTIPLE).
//   ./mpirun -n 2 examples/Hybrid
using SharpMpi;

return MpiEnvironment.Run(args, world =>
{
    const long Steps = 20_000_000;
    int threads = Math.Max(2, Environment.ProcessorCount / Math.Max(1, world.Size));

    // 1. Compute with threads inside each rank, combine across ranks with one Allreduce.
    double h = 1.0 / Steps;
    long perRank = Steps / world.Size, first = world.Rank * perRank, last = world.Rank == world.Size - 1 ? Steps : first + perRank;
    double local = 0;
    object gate = new();
    Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
    {
        double sum = 0;
        for (long i = first + t; i < last; i += threads)
        {
            double x = h * (i + 0.5);
            sum += 4.0 / (1.0 + x * x);
        }
        lock (gate)
            local += sum;
    });
    double pi = world.Allreduce(local * h, Op.Sum);

    // 2. Every thread of every rank exchanges messages with the same thread index on the next rank, at once.
    int next = (world.Rank + 1) % world.Size, previous = (world.Rank + world.Size - 1) % world.Size;
    var received = new int[threads];
    Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
    {
        int[] got = new int[1];
        world.SendReceive(new[] { world.Rank * 1000 + t }, next, sendTag: t, got, previous, receiveTag: t);
        received[t] = got[0];
    });
    bool ok = received.Select((v, t) => v == previous * 1000 + t).All(b => b);
    bool allOk = world.Allreduce(ok ? 1 : 0, Op.Min) == 1;

    if (world.Rank == 0)
        Console.WriteLine($"{world.Size} ranks x {threads} threads: pi ~ {pi:F10}; concurrent messages from {threads} threads per rank {(allOk ? "all arrived" : "WRONG")}");
});
