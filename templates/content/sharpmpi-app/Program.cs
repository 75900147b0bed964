// A SharpMPI program: every copy of it is one rank of the job.
//   sharpmpi run -n 4 .        (dotnet tool install -g SharpMpi.Tool)
using SharpMpi;

return MpiEnvironment.Run(args, world =>
{
    Console.WriteLine($"Hello from rank {world.Rank} of {world.Size}");

    // Every rank contributes its rank number; every rank gets the total (MPI_Allreduce).
    int total = world.Allreduce(world.Rank, Op.Sum);
    if (world.Rank == 0)
        Console.WriteLine($"Sum of all ranks: {total} (expected {world.Size * (world.Size - 1) / 2})");
});
