// The classic MPI tutorial in one program: rank and size, point-to-point with tags and Status, an object
// message, broadcast, scatter, gather, and the two-rank deadlock with its nonblocking fix.
//   ./mpirun -n 4 examples/Basics
using SharpMpi;

return MpiEnvironment.Run(args, world =>
{
    int rank = world.Rank, size = world.Size;
    void Say(string text)
    {
        if (rank == 0)
            Console.WriteLine(text);
    }

    // 1. Who am I? Every rank runs this same program; Rank tells them apart.
    Console.WriteLine($"rank {rank} of {size}");
    world.Barrier();

    // 2. Point-to-point: rank 0 sends typed data and an object; the tag says which is which.
    const int NumbersTag = 10, ConfigTag = 11;
    if (rank == 0 && size > 1)
    {
        world.Send(new[] { 3.14, 2.72, 1.41 }, dest: 1, tag: NumbersTag);
        world.SendObject(new Dictionary<string, int> { ["epochs"] = 5, ["batch"] = 32 }, dest: 1, tag: ConfigTag);
    }
    else if (rank == 1)
    {
        // Receive whichever arrives first: Status tells the tag, source and size.
        var numbers = new double[8];
        Status status = world.Receive(numbers, Communicator.AnySource, NumbersTag);
        Console.WriteLine($"rank 1 got {status.GetCount<double>()} doubles from rank {status.Source} with tag {status.Tag}: {string.Join(", ", numbers[..3])}");
        var config = world.ReceiveObject<Dictionary<string, int>>(source: 0, tag: ConfigTag)!;
        Console.WriteLine($"rank 1 got a dictionary: epochs={config["epochs"]}, batch={config["batch"]}");
    }
    world.Barrier();

    // 3. Broadcast: rank 0's value reaches everyone.
    int seed = world.Broadcast(rank == 0 ? 42 : 0, root: 0);
    Say($"broadcast: every rank now has seed {seed}");

    // 4. Scatter: rank 0 deals one chunk of 2 numbers to each rank.
    var all = rank == 0 ? Enumerable.Range(0, 2 * size).Select(i => (double)i).ToArray() : new double[2 * size];
    var mine = new double[2];
    world.Scatter<double>(all, mine, root: 0);

    // 5. Gather: each rank squares its chunk and rank 0 collects the results in rank order.
    for (int i = 0; i < mine.Length; i++)
        mine[i] *= mine[i];
    var gathered = new double[2 * size];
    world.Gather<double>(mine, gathered, root: 0);
    Say($"scatter + gather: squares = {string.Join(" ", gathered)}");

    // 6. The deadlock: two ranks each Send a large message first, then Receive. A large message waits for
    //    the receiver (rendezvous), so both wait forever. The fix: start the send without waiting (ISend),
    //    receive, then wait for the send.
    if (size >= 2 && rank < 2)
    {
        int other = 1 - rank;
        var outgoing = new double[1 << 20];      // 8 MiB
        var incoming = new double[1 << 20];
        // world.Send(outgoing, other, 0);       // <- both ranks block here: deadlock
        // world.Receive(incoming, other, 0);
        Request send = world.ISend(outgoing, other, 0);
        world.Receive(incoming, other, 0);
        send.Wait();
        if (rank == 0)
            Console.WriteLine("exchange of 8 MiB in both directions done with ISend + Receive (plain Send + Send would deadlock)");
    }
    world.Barrier();
    Say("basics done");
});
