using System.Collections.Concurrent;

namespace SharpMpi.Tests;

/// <summary>Many messages, many threads: nothing lost, nothing duplicated, every byte right.</summary>
public class StressTests
{
    [Fact]
    public async Task EightThreadsPerRank_WithMatchedProbeReceivers_LoseAndDuplicateNothing()
    {
        const int Threads = 8, PerThread = 300;
        await MpiTestHost.RunAsync(2, world =>
        {
            int other = 1 - world.Rank;
            var seen = new ConcurrentDictionary<long, int>();
            var senders = new Thread[Threads];
            var receivers = new Thread[Threads];
            Exception? failure = null;
            for (int t = 0; t < Threads; t++)
            {
                int thread = t;
                senders[t] = new Thread(() =>
                {
                    try
                    {
                        for (int i = 0; i < PerThread; i++)
                        {
                            long id = ((long)world.Rank << 40) | ((long)thread << 20) | (uint)i;
                            int length = 8 + (i * 37 + thread) % 40_000;       // eager and rendezvous sizes
                            var payload = new byte[length];
                            BitConverter.TryWriteBytes(payload, id);
                            for (int k = 8; k < length; k++)
                                payload[k] = (byte)(id + k);
                            world.Send(payload, other, tag: thread);
                        }
                    }
                    catch (Exception e)
                    {
                        failure ??= e;
                    }
                });
                receivers[t] = new Thread(() =>
                {
                    try
                    {
                        for (int i = 0; i < PerThread; i++)
                        {
                            var message = world.MatchedProbe(Communicator.AnySource, Communicator.AnyTag);
                            var buffer = new byte[message.Status.ByteCount];
                            message.Receive(buffer);
                            long id = BitConverter.ToInt64(buffer);
                            for (int k = 8; k < buffer.Length; k++)
                            {
                                if (buffer[k] != (byte)(id + k))
                                    throw new InvalidOperationException($"message {id:x} byte {k} is wrong");
                            }
                            if (!seen.TryAdd(id, 1))
                                throw new InvalidOperationException($"message {id:x} received twice");
                        }
                    }
                    catch (Exception e)
                    {
                        failure ??= e;
                    }
                });
            }
            foreach (var t in senders.Concat(receivers))
                t.Start();
            foreach (var t in senders.Concat(receivers))
                t.Join();
            if (failure is not null)
                throw failure;
            Assert.Equal(Threads * PerThread, seen.Count);
            // Every message from the other rank, each exactly once.
            for (int thread = 0; thread < Threads; thread++)
            {
                for (int i = 0; i < PerThread; i++)
                    Assert.True(seen.ContainsKey(((long)other << 40) | ((long)thread << 20) | (uint)i));
            }
        }, new MpiTestHostOptions { Timeout = TimeSpan.FromMinutes(3) });
    }

    [Fact]
    public async Task HundredThousandNonblockingMessages_RandomTagsAndWildcards_EveryByteChecked()
    {
        const int Messages = 100_000, Window = 1000;
        await MpiTestHost.RunAsync(2, world =>
        {
            var random = new Random(42);
            if (world.Rank == 0)
            {
                var payloads = new long[Window][];
                var requests = new Request[Window];
                for (int start = 0; start < Messages; start += Window)
                {
                    for (int w = 0; w < Window; w++)
                    {
                        int i = start + w;
                        payloads[w] = [i, i * 7L + 3];
                        requests[w] = world.ISend(payloads[w], 1, tag: random.Next(0, 16));
                    }
                    Request.WaitAll(requests);
                }
            }
            else
            {
                var buffers = new long[Window][];
                for (int w = 0; w < Window; w++)
                    buffers[w] = new long[2];
                var requests = new Request[Window];
                var statuses = new Status[Window];
                int next = 0;
                for (int start = 0; start < Messages; start += Window)
                {
                    for (int w = 0; w < Window; w++)
                        requests[w] = world.IReceive(buffers[w], Communicator.AnySource, Communicator.AnyTag);
                    Request.WaitAll(requests, statuses);
                    for (int w = 0; w < Window; w++)
                    {
                        // Same sender, wildcard receives: MPI's order is send order.
                        Assert.Equal(next, buffers[w][0]);
                        Assert.Equal(next * 7L + 3, buffers[w][1]);
                        Assert.Equal(16, statuses[w].ByteCount);
                        Assert.InRange(statuses[w].Tag, 0, 15);
                        next++;
                    }
                }
                Assert.Equal(Messages, next);
            }
        }, new MpiTestHostOptions { Timeout = TimeSpan.FromMinutes(3) });
    }

    [Fact]
    public async Task WaitSome_NoRequestStarves()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            const int Requests = 6, Rounds = 50;
            if (world.Rank == 0)
            {
                for (int round = 0; round < Rounds; round++)
                {
                    for (int r = 0; r < Requests; r++)
                        world.Send(round, 1, tag: r);
                }
                return;
            }
            var reqs = new Request[Requests];
            var bufs = new int[Requests][];
            var served = new int[Requests];
            for (int r = 0; r < Requests; r++)
            {
                bufs[r] = new int[1];
                reqs[r] = world.IReceive(bufs[r], 0, r);
            }
            int total = 0;
            while (total < Requests * Rounds)
            {
                foreach (int index in Request.WaitSome(reqs))
                {
                    served[index]++;
                    total++;
                    if (served[index] < Rounds)
                        reqs[index] = world.IReceive(bufs[index], 0, index);
                }
            }
            Assert.All(served, s => Assert.Equal(Rounds, s));
        });
    }
}
