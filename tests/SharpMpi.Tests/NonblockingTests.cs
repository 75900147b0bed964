namespace SharpMpi.Tests;

/// <summary>Nonblocking requests, send modes, probes and persistent requests on in-process ranks.</summary>
public class NonblockingTests
{
    [Fact]
    public async Task ISendIReceive_WaitAll_ExchangesInRing()
    {
        await MpiTestHost.RunAsync(4, world =>
        {
            int next = (world.Rank + 1) % world.Size, prev = (world.Rank + world.Size - 1) % world.Size;
            var left = new int[100_000];
            var right = Enumerable.Repeat(world.Rank, 100_000).ToArray();
            var reqs = new Request[2];
            reqs[0] = world.IReceive(left, prev, 1);
            reqs[1] = world.ISend(right, next, 1);
            Request.WaitAll(reqs);
            Assert.All(left, v => Assert.Equal(prev, v));
            Assert.True(reqs[0].IsNull);
        });
    }

    [Fact]
    public async Task Await_CompletesWithoutFurtherMpiCalls()
    {
        await MpiTestHost.RunAsync(2, async world =>
        {
            if (world.Rank == 0)
            {
                var buf = new double[4];
                Status s = await world.IReceive(buf, Communicator.AnySource, 5);
                Assert.Equal(1, s.Source);
                Assert.Equal(32, s.ByteCount);
                Assert.Equal(3.0, buf[3]);
            }
            else
            {
                await Task.Delay(50);
                world.Send(new double[] { 0, 1, 2, 3 }, 0, 5);
            }
        });
    }

    [Fact]
    public async Task BothRanksSendLargeFirst_WithISend_Completes()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            int other = 1 - world.Rank;
            var mine = new byte[4 << 20];
            mine.AsSpan().Fill((byte)world.Rank);
            var theirs = new byte[4 << 20];
            var send = world.ISend(mine, other, 0);
            world.Receive(theirs, other, 0);
            send.Wait();
            Assert.All(theirs, b => Assert.Equal((byte)other, b));
        });
    }

    [Fact]
    public async Task Cancel_PostedReceive_ReportsCancelled()
    {
        await MpiTestHost.RunAsync(1, world =>
        {
            var r = world.IReceive(new int[1], 0, 99);
            Assert.True(r.Cancel());
            var s = r.Wait();
            Assert.True(s.IsCancelled);
        });
    }

    [Fact]
    public async Task Test_ReturnsFalseUntilMatched_ThenReleases()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            if (world.Rank == 1)
            {
                var r = world.IReceive(new int[1], 0, 0);
                Assert.False(r.Test(out _));
                world.Send(0, 0, 1); // tell rank 0 to send
                Status s;
                while (!r.Test(out s))
                    Thread.Yield();
                Assert.Equal(4, s.ByteCount);
                Assert.Throws<InvalidOperationException>(() => r.Wait());
            }
            else
            {
                world.Receive<int>(1, 1);
                world.Send(7, 1, 0);
            }
        });
    }

    [Fact]
    public async Task SendSync_ReturnsOnlyAfterMatch()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            if (world.Rank == 0)
            {
                var r = world.ISendSync(new[] { 1 }, 1, 0);
                world.Send(0, 1, 1); // receiver posts only after this
                r.Wait();
            }
            else
            {
                world.Receive<int>(0, 1);
                Assert.Equal(1, world.Receive<int>(0, 0));
            }
        });
    }

    [Fact]
    public async Task SendReady_WithoutPostedReceive_Fails()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            if (world.Rank == 0)
            {
                var e = Assert.Throws<MpiException>(() => world.SendReady(1, 1, 0));
                Assert.Equal(ErrorClass.Other, e.ErrorClass);
                world.Send(0, 1, 1);
                world.Receive<int>(1, 2); // rank 1 has posted tag 3 now
                world.SendReady(5, 1, 3);
            }
            else
            {
                world.Receive<int>(0, 1);
                var r = world.IReceive(new int[1], 0, 3);
                world.Send(0, 0, 2);
                r.Wait();
            }
        });
    }

    [Fact]
    public async Task SendBuffered_AttachedBufferOverflow_Throws()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            if (world.Rank == 0)
            {
                world.Environment.AttachBuffer(1000);
                world.SendBuffered(new byte[500], 1, 0);
                var e = Assert.Throws<MpiException>(() => world.SendBuffered(new byte[2000], 1, 0));
                Assert.Equal(ErrorClass.NoMem, e.ErrorClass);
                world.Send(0, 1, 1);
                world.Environment.DetachBuffer();
            }
            else
            {
                world.Receive<int>(0, 1);
                var s = world.Receive(new byte[500], 0, 0);
                Assert.Equal(500, s.ByteCount);
            }
        });
    }

    [Fact]
    public async Task MatchedProbe_ReceivesExactlyOnce()
    {
        await MpiTestHost.RunAsync(2, async world =>
        {
            if (world.Rank == 0)
            {
                world.SendObject(new[] { "a", "b" }, 1, 9);
                world.Send(new long[] { 1, 2, 3 }, 1, 8);
            }
            else
            {
                var msg = world.MatchedProbe(Communicator.AnySource, 9);
                Assert.Equal(["a", "b"], msg.ReceiveObject<string[]>()!);
                Assert.Throws<InvalidOperationException>(() => msg.ReceiveObject<string[]>());
                var m2 = await world.MatchedProbeAsync(0, 8);
                Assert.Equal(24, m2.Status.ByteCount);
                var buf = new long[3];
                m2.Receive(buf);
                Assert.Equal(3, buf[2]);
            }
        });
    }

    [Fact]
    public async Task Persistent_StartedManyTimes()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            var halo = new int[10];
            int other = 1 - world.Rank;
            using var send = world.SendInit(halo, other, 0);
            var got = new int[10];
            using var recv = world.ReceiveInit(got, other, 0);
            for (int iter = 0; iter < 20; iter++)
            {
                Array.Fill(halo, iter * 10 + world.Rank);
                PersistentRequest.StartAll(recv, send);
                recv.Wait();
                send.Wait();
                Assert.All(got, v => Assert.Equal(iter * 10 + other, v));
            }
        });
    }

    [Fact]
    public async Task ReceiveObjectAsync_SizesAtMatch()
    {
        await MpiTestHost.RunAsync(2, async world =>
        {
            if (world.Rank == 0)
            {
                await world.ISendObject(new List<int>(Enumerable.Range(0, 10_000)), 1, 2);
            }
            else
            {
                var list = await world.ReceiveObjectAsync<List<int>>(0, 2);
                Assert.Equal(10_000, list!.Count);
                Assert.Equal(9_999, list[^1]);
            }
        });
    }

    [Fact]
    public async Task WaitAny_ServesEveryRequest()
    {
        await MpiTestHost.RunAsync(3, world =>
        {
            if (world.Rank == 0)
            {
                var reqs = new Request[4];
                var bufs = new int[4][];
                for (int i = 0; i < 4; i++)
                {
                    bufs[i] = new int[1];
                    reqs[i] = world.IReceive(bufs[i], Communicator.AnySource, i);
                }
                var seen = new List<int>();
                for (int k = 0; k < 4; k++)
                    seen.Add(Request.WaitAny(reqs, out _));
                Assert.Equal([0, 1, 2, 3], seen.Order());
                Assert.Equal(-1, Request.WaitAny(reqs, out _));
            }
            else
            {
                for (int i = world.Rank - 1; i < 4; i += 2)
                    world.Send(i, 0, i);
            }
        });
    }

    [Fact]
    public async Task ISendReceive_CompletesBoth()
    {
        await MpiTestHost.RunAsync(3, async world =>
        {
            int next = (world.Rank + 1) % world.Size, prev = (world.Rank + world.Size - 1) % world.Size;
            var got = new int[1];
            var s = await world.ISendReceive(new[] { world.Rank }, next, 0, got, prev, 0);
            Assert.Equal(prev, got[0]);
            Assert.Equal(prev, s.Source);
        });
    }
}
