// A token travels around the ring of ranks several times; each rank adds one per visit.
//   ./mpirun -n 4 examples/Ring [laps]
using SharpMpi;

return MpiEnvironment.Run(args, world =>
{
    int laps = args.Length > 0 ? int.Parse(args[0]) : 3;
    int next = (world.Rank + 1) % world.Size;
    int previous = (world.Rank + world.Size - 1) % world.Size;
    const int Tag = 1;

    if (world.Rank == 0)
    {
        int token = 0;
        for (int lap = 1; lap <= laps; lap++)
        {
            world.Send(token + 1, next, Tag);                 // start the lap
            token = world.Receive<int>(previous, Tag);        // ... and wait for it to come back
            Console.WriteLine($"lap {lap}: token = {token}");
        }
        world.Send(-1, next, Tag);                            // tell everyone to stop
        world.Receive<int>(previous, Tag);
        Console.WriteLine($"done: {laps} laps of {world.Size} ranks, token = {token} (expected {laps * world.Size})");
    }
    else
    {
        while (true)
        {
            int token = world.Receive<int>(previous, Tag);
            world.Send(token < 0 ? token : token + 1, next, Tag);
            if (token < 0)
                break;
        }
    }
});
