// Two ways to farm out work from rank 0.
//   ./mpirun -n 4 examples/MasterWorker
// 1. By hand: workers ask for work with AnySource, rank 0 answers, a tag says "no more work".
// 2. With MpiTaskPool: `await pool.MapAsync(...)` like mpi4py's MPIPoolExecutor, with backpressure.
using SharpMpi;

return MpiEnvironment.Run(args, async world =>
{
    const int WorkTag = 1, ResultTag = 2, StopTag = 3;
    const int Items = 40;

    // --- 1. a dynamic task farm with point-to-point messages ---------------------------------------
    if (world.Rank == 0)
    {
        int next = 0, done = 0;
        long sum = 0;
        int active = world.Size - 1;
        while (active > 0)
        {
            // A worker's result (or its first "ready", value -1) arrives from any rank.
            long result = world.Receive<long>(Communicator.AnySource, ResultTag, out var status);
            if (result >= 0)
            {
                sum += result;
                done++;
            }
            if (next < Items)
            {
                world.Send(next++, status.Source, WorkTag);
            }
            else
            {
                world.Send(0, status.Source, StopTag);
                active--;
            }
        }
        Console.WriteLine($"task farm: {done} items, sum of squares = {sum} (expected {Enumerable.Range(0, Items).Sum(i => (long)i * i)})");
    }
    else
    {
        world.Send(-1L, 0, ResultTag); // ready
        while (true)
        {
            int item = world.Receive<int>(0, Communicator.AnyTag, out var status);
            if (status.Tag == StopTag)
                break;
            world.Send((long)item * item, 0, ResultTag);
        }
    }

    // --- 2. the same with MpiTaskPool ---------------------------------------------------------------
    await using var pool = new MpiTaskPool(world, maxInFlightPerWorker: 2);
    pool.Register<int, long>("square", x => (long)x * x);
    pool.Register<string, string>("shout", s => s.ToUpperInvariant() + "!");
    if (pool.IsMaster)
    {
        long[] squares = await pool.MapAsync<int, long>("square", Enumerable.Range(0, Items));
        string greeting = await pool.SubmitAsync<string, string>("shout", "hello from the pool");
        Console.WriteLine($"pool: sum of squares = {squares.Sum()}, {greeting}");
    }
    else
    {
        pool.RunWorker();
    }
});
