// Computes pi as the integral of 4 / (1 + x^2) over [0, 1] with the midpoint rule. Each rank sums every
// Size-th interval; Reduce adds the partial sums on rank 0.
//   ./mpirun -n 4 examples/Pi [intervals]
using SharpMpi;

return MpiEnvironment.Run(args, world =>
{
    long intervals = args.Length > 0 ? long.Parse(args[0]) : 100_000_000;
    intervals = world.Broadcast(intervals, root: 0);   // every rank uses rank 0's value
    double start = MpiEnvironment.WTime();

    double h = 1.0 / intervals;
    double partial = 0;
    for (long i = world.Rank; i < intervals; i += world.Size)
    {
        double x = h * (i + 0.5);
        partial += 4.0 / (1.0 + x * x);
    }

    double pi = world.Reduce(partial * h, Op.Sum, root: 0);
    if (world.Rank == 0)
        Console.WriteLine($"pi ~ {pi:F12}, error {Math.Abs(pi - Math.PI):E2}, {intervals} intervals on {world.Size} ranks, {MpiEnvironment.WTime() - start:F3} s");
});
