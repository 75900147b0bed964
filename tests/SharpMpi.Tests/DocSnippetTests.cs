using MemoryPack;

namespace SharpMpi.Tests;

/// <summary>
/// The code samples of docs/*.md, run under <see cref="MpiTestHost"/> so they keep compiling and keep
/// doing what the pages say. Each region names its page; change both together.
/// </summary>
public partial class DocSnippetTests
{
    // ----------------------------------------------------------------- docs/getting-started.md

    [Fact]
    public async Task GettingStarted_FirstProgram()
    {
        var lines = new System.Collections.Concurrent.ConcurrentBag<string>();
        await MpiTestHost.RunAsync(4, world =>
        {
            // --- snippet: the body of MpiEnvironment.Run in "A first program"
            int total = world.Allreduce(world.Rank, Op.Sum);      // MPI_Allreduce: every rank gets the sum
            if (world.Rank == 0)
                lines.Add($"{world.Size} ranks, sum of ranks {total}");
            // --- end
        });
        Assert.Equal("4 ranks, sum of ranks 6", Assert.Single(lines));
    }

    [Fact]
    public async Task GettingStarted_UnitTest()
    {
        // --- snippet: "Unit tests with MpiTestHost"
        await MpiTestHost.RunAsync(ranks: 3, world =>
        {
            int next = (world.Rank + 1) % world.Size;
            int previous = (world.Rank - 1 + world.Size) % world.Size;
            int received = world.SendReceive(new[] { world.Rank }, next, 0, new int[1], previous, 0).Source;
            Assert.Equal(previous, received);
        });
        // --- end
    }

    // ----------------------------------------------------------------- docs/concepts.md

    [Fact]
    public async Task Concepts_ExchangeWithoutDeadlock()
    {
        await MpiTestHost.RunAsync(2, async world =>
        {
            // --- snippet: "Why two large blocking sends can deadlock" (the safe forms)
            var mine = new double[1_000_000];
            var theirs = new double[1_000_000];
            int other = 1 - world.Rank;
            mine.AsSpan().Fill(world.Rank);

            // Either: one call that sends and receives at once (MPI_Sendrecv) ...
            world.SendReceive(mine, other, 0, theirs, other, 0);

            // ... or: start both, then wait for both (MPI_Isend, MPI_Irecv, MPI_Waitall).
            Request receive = world.IReceive(theirs, other, 1);
            Request send = world.ISend(mine, other, 1);
            await Request.WhenAll(receive, send);
            // --- end
            Assert.Equal(other, theirs[^1]);
        });
    }

    // ----------------------------------------------------------------- docs/api.md

    [Fact]
    public async Task Api_PointToPoint()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            // --- snippet: "Point-to-point"
            if (world.Rank == 0)
            {
                world.Send(new[] { 1.0, 2.0, 3.0 }, dest: 1, tag: 7);   // MPI_Send
                world.Send(42, dest: 1, tag: 8);                        // one value
            }
            else if (world.Rank == 1)
            {
                var buffer = new double[10];                            // may be longer than the message
                Status s = world.Receive(buffer, source: 0, tag: 7);    // MPI_Recv
                long count = s.GetCount<double>();                      // 3 (MPI_Get_count)
                int answer = world.Receive<int>(Communicator.AnySource, Communicator.AnyTag);
                Assert.Equal(3, count);
                Assert.Equal(42, answer);
            }
            // --- end
        });
    }

    [Fact]
    public async Task Api_NonblockingAwait()
    {
        await MpiTestHost.RunAsync(3, async world =>
        {
            // --- snippet: "Nonblocking and await"
            if (world.Rank == 0)
            {
                var parts = new int[world.Size - 1][];
                var requests = new Request[world.Size - 1];
                for (int source = 1; source < world.Size; source++)
                {
                    parts[source - 1] = new int[4];
                    requests[source - 1] = world.IReceive(parts[source - 1], source, tag: 0);  // MPI_Irecv
                }
                Status[] statuses = await Request.WhenAll(requests);                        // like MPI_Waitall
                Assert.All(statuses, s => Assert.Equal(4, s.GetCount<int>()));
            }
            else
            {
                Request r = world.ISend(new[] { 1, 2, 3, 4 }, dest: 0, tag: 0);              // MPI_Isend
                while (!r.Test(out _))                                                       // MPI_Test
                    Thread.Yield();                                                          // ... compute ...
            }
            // --- end
        });
    }

    [Fact]
    public async Task Api_MatchedProbe()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            if (world.Rank == 1)
                world.Send(new int[37], dest: 0, tag: 5);
            else
            {
                // --- snippet: "Probes"
                Message message = world.MatchedProbe(Communicator.AnySource, tag: 5);   // MPI_Mprobe
                var data = new int[message.Status.GetCount<int>()];                     // exactly the right size
                message.Receive(data);                                                  // MPI_Mrecv
                // --- end
                Assert.Equal(37, data.Length);
            }
        });
    }

    [Fact]
    public async Task Api_Persistent()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            // --- snippet: "Persistent requests"
            var halo = new double[64];
            int other = 1 - world.Rank;
            using PersistentRequest send = world.SendInit(halo, other, tag: 3);     // MPI_Send_init
            var incoming = new double[64];
            using PersistentRequest receive = world.ReceiveInit(incoming, other, tag: 3);   // MPI_Recv_init
            for (int step = 0; step < 10; step++)
            {
                halo.AsSpan().Fill(step);
                PersistentRequest.StartAll(receive, send);                          // MPI_Startall
                receive.Wait();
                send.Wait();
                Assert.Equal(step, incoming[0]);
            }
            // --- end
        });
    }

    // --- snippet: "Objects" (the type)
    [MemoryPackable]
    public partial record WorkItem(int Id, string Name, double[] Values);
    // --- end

    [Fact]
    public async Task Api_Objects()
    {
        await MpiTestHost.RunAsync(2, async world =>
        {
            // --- snippet: "Objects"
            if (world.Rank == 0)
            {
                world.SendObject(new WorkItem(1, "first", [1.0, 2.0]), dest: 1, tag: 0);
                world.SendObject(new Dictionary<string, int> { ["jobs"] = 3 }, dest: 1, tag: 1);
            }
            else if (world.Rank == 1)
            {
                WorkItem? item = world.ReceiveObject<WorkItem>(source: 0, tag: 0);
                var config = await world.ReceiveObjectAsync<Dictionary<string, int>>(source: 0, tag: 1);
                Assert.Equal("first", item!.Name);
                Assert.Equal(3, config!["jobs"]);
            }
            // Object collectives: any serializable value, one per rank.
            string?[] names = world.AllgatherObject($"rank-{world.Rank}");
            // --- end
            Assert.Equal(new string?[] { "rank-0", "rank-1" }, names);
        });
    }

    // --- snippet: "User operators" (the type)
    /// <summary>Largest absolute value: a user reduction operator.</summary>
    public readonly struct MaxAbs : IReduceOp<double>
    {
        /// <inheritdoc/>
        public static double Combine(double a, double b) => Math.Max(Math.Abs(a), Math.Abs(b));
    }
    // --- end

    [Fact]
    public async Task Api_Collectives()
    {
        await MpiTestHost.RunAsync(4, async world =>
        {
            // --- snippet: "Collectives"
            var config = new double[3];
            if (world.Rank == 0)
                config = [0.1, 0.2, 0.3];
            world.Broadcast(config, root: 0);                                   // MPI_Bcast

            double[] local = [world.Rank, -world.Rank];
            var sum = new double[2];
            world.Allreduce(local, sum, Op.Sum);                                // MPI_Allreduce
            world.Reduce(local, sum, Op.Max, root: 0);                          // MPI_Reduce (result at the root)

            int[]? perRank = world.Gather(world.Rank * 10, root: 0);            // MPI_Gather, one value each
            int myShare = world.Scatter<int>([100, 101, 102, 103], root: 0);    // MPI_Scatter (values read at the root)
            int prefix = world.Scan(1, Op.Sum);                                 // MPI_Scan: 1, 2, 3, ...

            // User operators: a struct (inlined) or a lambda.
            var largest = new double[2];
            world.Allreduce<double, MaxAbs>(local, largest);
            long product = world.Allreduce(world.Rank + 1L, (a, b) => a * b);

            // Nonblocking collectives (MPI_Iallreduce): start, compute, await.
            var total = new double[2];
            Task pending = world.AllreduceAsync(local, total, Op.Sum);
            await pending;
            // --- end
            Assert.Equal(0.3, config[2]);
            Assert.Equal(6, total[0]);
            Assert.Equal(100 + world.Rank, myShare);
            Assert.Equal(world.Rank + 1, prefix);
            Assert.Equal(3, largest[0]);
            Assert.Equal(24, product);
            if (world.Rank == 0)
                Assert.Equal(new[] { 0, 10, 20, 30 }, perRank!);
        });
    }

    [Fact]
    public async Task Api_Communicators()
    {
        await MpiTestHost.RunAsync(6, world =>
        {
            // --- snippet: "Communicators and groups"
            // Rows of 3: ranks 0-2 and 3-5 (MPI_Comm_split). A null color leaves a rank out.
            using Communicator row = world.Split(color: world.Rank / 3, key: world.Rank)!;
            int rowSum = row.Allreduce(world.Rank, Op.Sum);

            // The even ranks, from a group (MPI_Group_incl, MPI_Comm_create).
            Group evens = world.Group.Include(0, 2, 4);
            using Communicator? evenComm = world.Create(evens);             // null on odd ranks

            using Communicator copy = world.Dup();                          // MPI_Comm_dup: same ranks, separate traffic
            // --- end
            Assert.Equal(world.Rank < 3 ? 3 : 12, rowSum);
            Assert.Equal(world.Rank % 2 == 0, evenComm is not null);
            Assert.Equal(world.Size, copy.Size);
        });
    }

    [Fact]
    public async Task Api_Cartesian()
    {
        await MpiTestHost.RunAsync(4, world =>
        {
            // --- snippet: "Topologies"
            int[] dims = CartesianCommunicator.ComputeDims(world.Size, [0, 0]);   // MPI_Dims_create: [2, 2]
            using CartesianCommunicator grid = world.CreateCartesian(dims, periodic: [true, false])!;
            int[] me = grid.Coordinates();                                          // MPI_Cart_coords
            (int up, int down) = grid.Shift(dimension: 0, displacement: 1);         // MPI_Cart_shift
            var edge = new double[8];
            var halo = new double[8];
            grid.SendReceive(edge, down, 0, halo, up, 0);                           // halo exchange
            // --- end
            Assert.Equal(new[] { 2, 2 }, dims);
            Assert.Equal(grid.Rank, grid.RankOf(me));
        });
    }

    [Fact]
    public async Task Api_Errors()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            // --- snippet: "Errors"
            if (world.Rank == 0)
                world.Send(new int[100], dest: 1, tag: 0);
            else
            {
                try
                {
                    world.Receive(new int[10], source: 0, tag: 0);
                }
                catch (MpiException e) when (e.ErrorClass == ErrorClass.Truncate)
                {
                    // The message was longer than the buffer: it is consumed, the job goes on.
                }
            }
            // A bad rank is an argument error that names the parameter.
            Assert.Throws<ArgumentOutOfRangeException>("dest", () => world.Send(1, dest: 99, tag: 0));
            // --- end
        });
    }
}
