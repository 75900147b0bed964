// Scenarios for the launcher's diagnostics tests (tests/SharpMpi.Run.Tests/DiagnosticsTests.cs):
//   pingpong N       ranks 0 and 1 exchange N messages (trace flows)
//   counted          a fixed mix of calls whose numbers the profile must report
//   sendsend         both ranks Send 4 MiB to each other first (classic deadlock)
//   neversent        rank 1 receives from rank 0, which never sends
//   collmismatch     rank 0 in Barrier, rank 1 in Allreduce
//   slow SECONDS     rank 1 computes (sleeps) while rank 0 waits in Receive: must not be reported
//   calls            collectives with bytes and op, probes, matched receives, objects, persistent requests, RMA
//   cost N           N rounds of SendReceive with the next rank, Allreduce, ISend/IReceive/Wait: prints ns per call
//                    (run with and without --trace/--profile to see what recording one call costs)
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
        case "calls":
            {
                // Two ranks. Collectives: Allreduce of 8 doubles (64 B, Sum), Broadcast of 100 ints (400 B), an
                // IAllreduce with a lambda. Messages: TryProbe/MatchedProbe + Message.Receive, SendObject +
                // ReceiveObject, a persistent send/receive pair, and RMA: Put and Get between two Fences.
                int peer = 1 - world.Rank;
                var values = new double[8];
                var sums = new double[8];
                world.Allreduce(values, sums, Op.Sum);
                world.Broadcast(new int[100].AsSpan(), 0);
                world.IAllreduce((ReadOnlyMemory<double>)values, sums.AsMemory(), (a, b) => a + b).Wait();
                var data = new int[10];
                if (world.Rank == 0)
                {
                    world.Send(data, peer, 5);
                    world.SendObject("hello", peer, 6);
                }
                else
                {
                    while (!world.TryProbe(peer, 5, out _))
                    {
                    }
                    var message = world.MatchedProbe(peer, 5);
                    message.Receive(data);
                    if (world.ReceiveObject<string>(peer, 6) != "hello")
                        throw new InvalidOperationException("object message garbled");
                }
                using (var p = world.Rank == 0 ? world.SendInit(data, peer, 7) : world.ReceiveInit(data, peer, 7))
                {
                    for (int i = 0; i < 2; i++)
                    {
                        p.Start();
                        p.Wait();
                    }
                }
                using (var window = world.CreateWindow(new Memory<long>(new long[4])))
                {
                    window.Fence();
                    window.Put(42L, peer, 1);
                    window.Fence();
                    window.Get(peer, 1);
                    window.Fence();
                }
                break;
            }
        case "cost":
            {
                int n = int.Parse(args[1]);
                int next = (world.Rank + 1) % world.Size, prev = (world.Rank + world.Size - 1) % world.Size;
                var a = new double[8];
                var b = new double[8];
                var requests = new Request[2];
                for (int pass = 0; pass < 2; pass++)
                {
                    world.Barrier();
                    long allocated = GC.GetAllocatedBytesForCurrentThread();
                    long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                    for (int i = 0; i < n; i++)
                    {
                        world.SendReceive(a, next, 1, b, prev, 1);
                        world.Allreduce(a.AsSpan(0, 1), b.AsSpan(0, 1), Op.Sum);
                        requests[0] = world.IReceive(b, prev, 2);
                        requests[1] = world.ISend(a, next, 2);
                        Request.WaitAll(requests);
                    }
                    // 6 recorded calls per round: SendReceive, Allreduce, IReceive, ISend, 2 Wait.
                    double ns = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalNanoseconds / (6.0 * n);
                    double bytes = (GC.GetAllocatedBytesForCurrentThread() - allocated) / (6.0 * n);
                    if (pass == 1 && world.Rank == 0)
                        Console.WriteLine($"cost: {ns:F0} ns per call, {bytes:F1} bytes allocated per call");
                }
                break;
            }
        default:
            throw new ArgumentException($"unknown scenario '{scenario}'", nameof(args));
    }
    if (world.Rank == 0)
        Console.WriteLine($"OK {scenario}");
});
