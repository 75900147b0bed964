// Scenarios for the launcher's diagnostics tests (tests/SharpMpi.Run.Tests/DiagnosticsTests.cs):
//   pingpong N       ranks 0 and 1 exchange N messages (trace flows)
//   counted          a fixed mix of calls whose numbers the profile must report
//   sendsend         both ranks Send 4 MiB to each other first (classic deadlock)
//   neversent        rank 1 receives from rank 0, which never sends
//   collmismatch     rank 0 in Barrier, rank 1 in Allreduce
//   slow SECONDS     rank 1 computes (sleeps) while rank 0 waits in Receive: must not be reported
using SharpMpi;

return MpiEnvironment.Run(args, world =>
{
    string scenario = args.Length > 0 ? args[0] : "pingpong";
    switch (scenario)
    {
        case "pingpong":
            {
                int n = args.Length > 1 ? int.Parse(args[1]) : 10;
                var buffer = new double[16];
                for (int i = 0; i < n; i++)
                {
                    if (world.Rank == 0)
                    {
                        world.Send(buffer, 1, 7);
                        world.Receive(buffer, 1, 7);
                    }
                    else if (world.Rank == 1)
                    {
                        world.Receive(buffer, 0, 7);
                        world.Send(buffer, 0, 7);
                    }
                }
                break;
            }
        case "counted":
            {
                // Per rank: 3 Send, 3 Receive, 2 Barrier, 4 Allreduce, 1 Broadcast, 1 ISend, 1 IReceive, 2 Wait.
                int peer = world.Rank ^ 1;
                var data = new int[100];
                for (int i = 0; i < 3; i++)
                {
                    if (world.Rank % 2 == 0)
                    {
                        world.Send(data, peer, i);
                        world.Receive(data, peer, i);
                    }
                    else
                    {
                        world.Receive(data, peer, i);
                        world.Send(data, peer, i);
                    }
                }
                world.Barrier();
                for (int i = 0; i < 4; i++)
                    world.Allreduce(i, Op.Sum);
                world.Broadcast(data.AsSpan(), 0);
                var r = world.IReceive(new int[100], peer, 99);
                var s = world.ISend(data, peer, 99);
                s.Wait();
                r.Wait();
                world.Barrier();
                break;
            }
        case "sendsend":
            {
                var big = new byte[4 << 20];
                int peer = 1 - world.Rank;
                world.Send(big, peer, 0);
                world.Receive(big, peer, 0);
                break;
            }
        case "neversent":
            if (world.Rank == 1)
                world.Receive<int>(0, 5);
            break;
        case "collmismatch":
            if (world.Rank == 0)
                world.Barrier();
            else
                world.Allreduce(1, Op.Sum);
            break;
        case "slow":
            {
                double seconds = double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
                if (world.Rank == 1)
                {
                    Thread.Sleep(TimeSpan.FromSeconds(seconds));
                    world.Send(42, 0, 3);
                }
                else if (world.Rank == 0)
                {
                    world.Receive<int>(1, 3);
                }
                break;
            }
        default:
            throw new ArgumentException($"unknown scenario '{scenario}'", nameof(args));
    }
    if (world.Rank == 0)
        Console.WriteLine($"OK {scenario}");
});
