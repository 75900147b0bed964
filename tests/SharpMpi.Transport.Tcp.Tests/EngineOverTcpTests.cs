using SharpMpi.Bootstrap;
using SharpMpi.Engine;
using SharpMpi.Transport.InProcess;

namespace SharpMpi.Transport.Tcp.Tests;

/// <summary>The real progress engine and MPI API over TCP transports (ranks as threads of this process).</summary>
public sealed class EngineOverTcpTests
{
    [Theory(Timeout = 120_000)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task PointToPoint_EagerAndRendezvous_AroundTheRing(int ranks)
    {
        using var job = await TcpJob.StartAsync(ranks, null, TestContext.Current.CancellationToken);
        var environments = new MpiEnvironment[ranks];
        for (int r = 0; r < ranks; r++)
        {
            var loopback = new InProcessHub(ranks, new InProcessOptions(), job.Doorbells[r]).CreateTransport(r);
            var routes = new ITransport[ranks];
            for (int p = 0; p < ranks; p++)
                routes[p] = p == r ? loopback : job[r];
            var engine = new ProgressEngine(r, routes, job.Doorbells[r], WaitPolicy.ForLocalRanks(ranks));
            environments[r] = new MpiEnvironment(engine, r, ranks, "localhost", new NoJobControl());
        }

        long[] sizes = [0, 1, 8, 1000, 64 * 1024, 64 * 1024 + 1, 1 << 20, 8 * 1024 * 1024 + 5];
        Exception? firstFailure = null;
        var rankThreads = environments.Select(env => Threads.Start(() =>
        {
            try
            {
                RunRank(env, sizes);
            }
            catch (Exception e)
            {
                // The other ranks would wait for this one forever: abort them, report this one.
                if (Interlocked.CompareExchange(ref firstFailure, e, null) == null)
                {
                    foreach (var other in environments)
                        other.Engine.Abort(e);
                }

                throw;
            }
        })).ToArray();

        try
        {
            await Task.WhenAll(rankThreads).WaitAsync(TimeSpan.FromSeconds(90), TestContext.Current.CancellationToken);
        }
        catch when (firstFailure is not null)
        {
            throw firstFailure;
        }
        finally
        {
            foreach (var env in environments)
            {
                if (!env.IsFinalized)
                    env.Engine.Abort(new TimeoutException("test ended"));
            }
        }
    }

    private static void RunRank(MpiEnvironment env, long[] sizes)
    {
        var world = env.World;
        int next = (world.Rank + 1) % world.Size, previous = (world.Rank + world.Size - 1) % world.Size;
        foreach (long size in sizes)
        {
            byte[] outgoing = Pattern.Bytes((int)size, size * 31 + world.Rank);
            byte[] incoming = new byte[size];
            var status = world.SendReceive(outgoing, next, 5, incoming, previous, 5);
            Assert.Equal(size, status.ByteCount);
            Assert.True(incoming.AsSpan().SequenceEqual(Pattern.Bytes((int)size, size * 31 + previous)), $"{size} bytes from rank {previous} differ");
        }

        // Synchronous sends (odd ranks receive first, so the ring cannot deadlock) and a send to self.
        if (world.Rank % 2 == 0)
        {
            world.SendSync(world.Rank, next, 6);
            Assert.Equal(previous, world.Receive<int>(previous, 6));
        }
        else
        {
            Assert.Equal(previous, world.Receive<int>(previous, 6));
            world.SendSync(world.Rank, next, 6);
        }

        world.Send(42, world.Rank, 7);
        Assert.Equal(42, world.Receive<int>(world.Rank, 7));
        env.Dispose(); // finalize: a barrier, then goodbyes
    }

    private sealed class NoJobControl : IJobControl
    {
        public void Abort(int rank, int exitCode, string message) => throw new InvalidOperationException(message);

        public void Fence()
        {
        }

        public void Finalized()
        {
        }

        public void Dispose()
        {
        }
    }
}
