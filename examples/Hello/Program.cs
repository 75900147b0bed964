// Every rank says hello: the smallest MPI program.
//   ./mpirun -n 4 examples/Hello
using SharpMpi;

using var mpi = MpiEnvironment.Initialize(args);
var world = mpi.World;
Console.WriteLine($"Hello from rank {world.Rank} of {world.Size} on {mpi.ProcessorName}");
