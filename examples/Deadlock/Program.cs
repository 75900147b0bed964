// Deadlock: two ranks each Send 4 MiB to the other before receiving. A message this large goes by
// rendezvous, so each Send waits for the other rank's Receive, which never comes: the classic MPI
// deadlock. Run it under the launcher to see the deadlock detector name both waits and the cycle:
//
//   ./mpirun -n 2 examples/Deadlock            (detected after 5 s; --deadlock-timeout 2 for sooner)
//   ./mpirun -n 2 examples/Deadlock fixed      (uses SendReceive and finishes)
using SharpMpi;

return MpiEnvironment.Run(args, world =>
{
    if (world.Size != 2)
        throw new InvalidOperationException("run with -n 2");
    bool fixedVersion = args.Length > 0 && args[0] == "fixed";
    var mine = new byte[4 << 20];
    var theirs = new byte[4 << 20];
    int peer = 1 - world.Rank;
    if (fixedVersion)
    {
        world.SendReceive(mine, peer, 0, theirs, peer, 0);
    }
    else
    {
        world.Send(mine, peer, 0);
        world.Receive(theirs, peer, 0);
    }
    Console.WriteLine($"rank {world.Rank}: exchanged {theirs.Length} bytes");
});
