// The four MPI send modes side by side, and when each one returns.
//   ./mpirun -n 2 examples/SendModes
using System.Diagnostics;
using SharpMpi;

return MpiEnvironment.Run(args, world =>
{
    if (world.Size != 2)
        throw new ArgumentException("SendModes needs exactly 2 ranks: ./mpirun -n 2 examples/SendModes");
    const int ReceiverDelayMs = 300;
    var small = new double[16];
    var large = new double[1 << 20]; // 8 MiB: above the eager limit, so it goes by rendezvous

    if (world.Rank == 0)
    {
        Time("Send, small message (eager: copied out, returns at once)", () => world.Send(small, 1, 1));
        Time("Send, large message (rendezvous: returns when the receiver has taken it)", () => world.Send(large, 1, 2));
        Time("SendSync, small message (returns only after the receive matched)", () => world.SendSync(small, 1, 3));
        Time("SendBuffered, large message (copied into a buffer, returns at once)", () => world.SendBuffered(large, 1, 4));

        // Ready mode: the receive must be posted first. Rank 1 posts it, then tells us.
        world.Receive<int>(1, 9);
        Time("SendReady, after the receiver posted (like Send, minus a handshake)", () => world.SendReady(small, 1, 5));
        try
        {
            world.SendReady(small, 1, 6); // nothing posted for tag 6
        }
        catch (MpiException e)
        {
            Console.WriteLine($"SendReady without a posted receive fails: {e.Message}");
        }
    }
    else
    {
        // Rank 1 is slow to post each receive, which shows which sends wait for it.
        foreach (int tag in new[] { 1, 2, 3, 4 })
        {
            Thread.Sleep(ReceiverDelayMs);
            world.Receive(tag == 1 || tag == 3 ? small : large, 0, tag);
        }
        var ready = world.IReceive(small, 0, 5);
        world.Send(0, 0, 9);
        ready.Wait();
    }

    static void Time(string what, Action send)
    {
        var watch = Stopwatch.StartNew();
        send();
        Console.WriteLine($"{watch.ElapsedMilliseconds,5} ms  {what}");
    }
});
