// Derived datatypes and one-sided communication on a distributed matrix.
//  1. Rank 0 sends one column of its block with a Vector datatype; rank 1 receives it contiguously.
//  2. An N×N matrix distributed by row blocks is transposed with one Alltoall: the send type is a Subarray
//     (a b×b block of the row block), the receive type scatters the block's rows into columns, so no rank
//     copies or transposes anything by hand.
//  3. Each rank accumulates its row sums into rank 0's RMA window, and every rank writes its id into a
//     shared-memory window that all ranks of the node read directly.
//   ./mpirun -n 4 examples/MatrixTranspose [blockSize]
using System.Diagnostics;
using SharpMpi;

return MpiEnvironment.Run(args, world =>
{
    int p = world.Size, me = world.Rank;
    int b = args.Length > 0 ? int.Parse(args[0]) : 3;
    int n = b * p;
    double A(int i, int j) => i * 1000 + j;

    // My row block: rows me*b .. me*b+b-1, all n columns, row-major.
    var local = new double[b * n];
    for (int r = 0; r < b; r++)
        for (int j = 0; j < n; j++)
            local[r * n + j] = A(me * b + r, j);

    // 1. A column with a vector type.
    if (p > 1)
    {
        using var column = Datatype.Vector<double>(b, 1, n).Commit();
        if (me == 0)
        {
            world.Send(local.AsSpan(2 % n), column, 1, dest: 1, tag: 0);
        }
        else if (me == 1)
        {
            var col = new double[b];
            world.Receive(col, Datatype.Of<double>(), b, source: 0, tag: 0);
            for (int r = 0; r < b; r++)
                Trace.Assert(col[r] == A(r, 2 % n));
            Console.WriteLine($"column OK: [{string.Join(", ", col)}]");
        }
    }

    // 2. Transpose. Block j of my rows (b×b at column j*b) goes to rank j.
    using var sendBlock = Datatype.Subarray<double>([b, n], [b, b], [0, 0]).Resized(0, b * sizeof(double)).Commit();
    // Received from rank i: its rows rr, my columns cc, in order (rr, cc) → my transposed row cc, column i*b + rr.
    using var columnOfT = Datatype.Vector<double>(b, 1, n).Resized(0, sizeof(double));
    using var receiveBlock = Datatype.Contiguous(b, columnOfT).Resized(0, b * sizeof(double)).Commit();
    var transposed = new double[b * n];
    world.Alltoall(local, sendBlock, 1, transposed, receiveBlock, 1);
    bool ok = true;
    for (int r = 0; r < b; r++)
        for (int j = 0; j < n; j++)
            ok &= transposed[r * n + j] == A(j, me * b + r);
    bool allOk = world.Allreduce(ok ? 1 : 0, Op.Min) == 1;
    if (me == 0)
        Console.WriteLine(allOk ? $"transpose OK ({n}x{n} on {p} ranks)" : "transpose FAILED");

    // 3a. RMA: row sums of the transposed matrix (= column sums of A) accumulated at rank 0.
    using (var win = world.AllocateWindow<double>(n))
    {
        win.Fence();
        for (int r = 0; r < b; r++)
        {
            double sum = 0;
            for (int j = 0; j < n; j++)
                sum += transposed[r * n + j];
            win.Accumulate(sum, 0, me * b + r, Op.Sum);
        }
        win.Fence();
        if (me == 0)
        {
            bool rmaOk = true;
            for (int c = 0; c < n; c++)
            {
                double expected = 0;
                for (int i = 0; i < n; i++)
                    expected += A(i, c);
                rmaOk &= win.Local[c] == expected;
            }
            Console.WriteLine(rmaOk ? "rma OK" : "rma FAILED");
        }
    }

    // 3b. Shared window: everyone writes its part, everyone reads all parts.
    using var node = world.SplitShared();
    using (var shared = node.AllocateSharedWindow<int>(4))
    {
        shared.GetSpan(node.Rank).Fill(node.Rank + 1);
        shared.Fence();
        int total = 0;
        for (int r = 0; r < node.Size; r++)
            total += shared.GetSpan(r)[3];
        bool sharedOk = world.Allreduce(total == node.Size * (node.Size + 1) / 2 ? 1 : 0, Op.Min) == 1;
        if (me == 0)
            Console.WriteLine(sharedOk ? "shared window OK" : "shared window FAILED");
        shared.Fence();
    }

    // Optional: `--bench` times Put latency (8 B) and bandwidth (1 MiB) from rank 0 to rank 1.
    if (args.Contains("--bench") && p > 1)
        RmaBench(world);
});

static void RmaBench(Communicator world)
{
    const int Iterations = 2000, LargeIterations = 50, Large = 1 << 20;
    using var win = world.AllocateWindow<byte>(Large);
    var small = new byte[8];
    var big = new byte[Large];
    using (win.LockAll())
    {
        if (world.Rank == 0)
        {
            for (int i = 0; i < 100; i++)
            {
                win.Put(small.AsSpan(), 1, 0);
                win.Flush(1);
            }
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < Iterations; i++)
            {
                win.Put(small.AsSpan(), 1, 0);
                win.Flush(1);
            }
            double latency = sw.Elapsed.TotalMicroseconds / Iterations;
            win.Put(big.AsSpan(), 1, 0);
            win.Flush(1);
            sw.Restart();
            for (int i = 0; i < LargeIterations; i++)
                win.Put(big.AsSpan(), 1, 0);
            win.Flush(1);
            double mbps = (double)Large * LargeIterations / sw.Elapsed.TotalSeconds / 1e6;
            Console.WriteLine($"rma bench: Put 8 B + Flush latency {latency:F2} us, Put 1 MiB bandwidth {mbps:F0} MB/s");
        }
    }
    world.Barrier();

    // Reference on the same machine at the same moment: an 8 B Send/Receive round trip.
    var token = new byte[8];
    var watch = Stopwatch.StartNew();
    for (int i = 0; i < Iterations + 100; i++)
    {
        if (i == 100)
            watch.Restart();
        if (world.Rank == 0)
        {
            world.Send<byte>(token, 1, 7);
            world.Receive<byte>(token, 1, 7);
        }
        else if (world.Rank == 1)
        {
            world.Receive<byte>(token, 0, 7);
            world.Send<byte>(token, 0, 7);
        }
    }
    if (world.Rank == 0)
        Console.WriteLine($"p2p reference: 8 B Send/Receive round trip {watch.Elapsed.TotalMicroseconds / Iterations:F2} us");
}
