namespace SharpMpi.Tests;

/// <summary>Blocking point-to-point on in-process ranks.</summary>
public class PointToPointTests
{
    public static TheoryData<int> Sizes => new() { 0, 1, 7, 16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 200_000 };

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task SendReceive_AnySize_ArrivesIntact(int count)
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            if (world.Rank == 0)
            {
                var data = new byte[count];
                for (int i = 0; i < count; i++)
                    data[i] = (byte)(i * 31 + 7);
                world.Send(data, dest: 1, tag: 5);
            }
            else
            {
                var buffer = new byte[count + 3];
                var status = world.Receive(buffer, source: 0, tag: 5);
                Assert.Equal(0, status.Source);
                Assert.Equal(5, status.Tag);
                Assert.Equal(count, status.ByteCount);
                for (int i = 0; i < count; i++)
                    Assert.Equal((byte)(i * 31 + 7), buffer[i]);
            }
        });
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task LargeMessage_BothRendezvousPaths_ArriveIntact(bool singleCopy)
    {
        var options = new MpiTestHostOptions { SingleCopy = singleCopy };
        await MpiTestHost.RunAsync(2, world =>
        {
            const int n = 300_000;
            if (world.Rank == 0)
            {
                var data = new double[n];
                for (int i = 0; i < n; i++)
                    data[i] = i * 0.5;
                world.Send(data, 1, 0);
            }
            else
            {
                var buffer = new double[n];
                var status = world.Receive(buffer, 0, 0);
                Assert.Equal(n, status.GetCount<double>());
                for (int i = 0; i < n; i++)
                    Assert.Equal(i * 0.5, buffer[i]);
            }
        }, options);
    }

    [Fact]
    public async Task Messages_FromOneSender_ArriveInSendOrder()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            if (world.Rank == 0)
            {
                for (int i = 0; i < 100; i++)
                    world.Send(i, 1, tag: i % 3);
            }
            else
            {
                for (int i = 0; i < 100; i++)
                {
                    int v = world.Receive<int>(0, Communicator.AnyTag, out var status);
                    Assert.Equal(i, v);
                    Assert.Equal(i % 3, status.Tag);
                }
            }
        });
    }

    [Fact]
    public async Task Receive_ByTag_TakesOldestFittingMessage()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            if (world.Rank == 0)
            {
                world.Send(1, 1, tag: 1);
                world.Send(2, 1, tag: 2);
                world.Send(3, 1, tag: 1);
                world.SendSync(0, 1, tag: 9);
            }
            else
            {
                world.Probe(0, 9);
                Assert.Equal(2, world.Receive<int>(0, 2));
                Assert.Equal(1, world.Receive<int>(0, 1));
                Assert.Equal(3, world.Receive<int>(0, 1));
                world.Receive<int>(0, 9);
            }
        });
    }

    [Fact]
    public async Task AnySource_ReportsActualSource()
    {
        await MpiTestHost.RunAsync(4, world =>
        {
            if (world.Rank != 0)
            {
                world.Send(world.Rank * 10, 0, tag: world.Rank);
                return;
            }
            var seen = new HashSet<int>();
            for (int i = 0; i < 3; i++)
            {
                int v = world.Receive<int>(Communicator.AnySource, Communicator.AnyTag, out var s);
                Assert.Equal(s.Source * 10, v);
                Assert.Equal(s.Source, s.Tag);
                seen.Add(s.Source);
            }
            Assert.Equal([1, 2, 3], seen.Order());
        });
    }

    [Theory]
    [InlineData(10)]
    [InlineData(100_000)]
    public async Task Truncation_Throws_AndTheJobGoesOn(int length)
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            if (world.Rank == 0)
            {
                world.Send(new byte[length], 1, 0);
                world.Send(42, 1, 1);
            }
            else
            {
                var e = Assert.Throws<MpiException>(() => world.Receive(new byte[length - 1], 0, 0));
                Assert.Equal(ErrorClass.Truncate, e.ErrorClass);
                Assert.Equal(42, world.Receive<int>(0, 1));
            }
        });
    }

    [Fact]
    public async Task ProcNull_CompletesAtOnce()
    {
        await MpiTestHost.RunAsync(1, world =>
        {
            world.Send(new int[3], Communicator.ProcNull, 0);
            var s = world.Receive(new int[3], Communicator.ProcNull, 0);
            Assert.Equal(Communicator.ProcNull, s.Source);
            Assert.Equal(0, s.ByteCount);
        });
    }

    [Fact]
    public async Task BadArguments_ThrowWithParameterName()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            var e1 = Assert.Throws<ArgumentOutOfRangeException>(() => world.Send(1, dest: 2, tag: 0));
            Assert.Equal("dest", e1.ParamName);
            var e2 = Assert.Throws<ArgumentOutOfRangeException>(() => world.Send(1, dest: 1, tag: -5));
            Assert.Equal("tag", e2.ParamName);
            var e3 = Assert.Throws<ArgumentOutOfRangeException>(() => world.Receive<int>(source: -7, tag: 0));
            Assert.Equal("source", e3.ParamName);
            var e4 = Assert.Throws<ArgumentOutOfRangeException>(() => world.Receive<int>(source: 0, tag: -3));
            Assert.Equal("tag", e4.ParamName);
        });
    }

    [Fact]
    public async Task SendToSelf_Works()
    {
        await MpiTestHost.RunAsync(1, world =>
        {
            var r = world.SendReceive(new[] { 1, 2, 3 }, 0, 0, new int[3], 0, 0);
            Assert.Equal(12, r.ByteCount);
        });
    }

    [Fact]
    public async Task SendReceive_Ring_DoesNotDeadlock()
    {
        await MpiTestHost.RunAsync(5, world =>
        {
            int next = (world.Rank + 1) % world.Size, prev = (world.Rank + world.Size - 1) % world.Size;
            var send = new long[50_000];
            Array.Fill(send, world.Rank);
            var recv = new long[50_000];
            world.SendReceive(send, next, 0, recv, prev, 0);
            Assert.All(recv, v => Assert.Equal(prev, v));
            var replace = new[] { world.Rank };
            world.SendReceiveReplace(replace, next, 1, prev, 1);
            Assert.Equal(prev, replace[0]);
        });
    }

    [Fact]
    public async Task Objects_RoundTrip()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            if (world.Rank == 0)
            {
                world.SendObject(new Dictionary<string, int> { ["a"] = 1, ["b"] = 2 }, 1, 3);
                world.SendObject("hello", 1, 4);
                world.SendObject(new double[] { 1.5, 2.5 }, 1, 5);
            }
            else
            {
                var d = world.ReceiveObject<Dictionary<string, int>>(0, 3);
                Assert.Equal(2, d!["b"]);
                Assert.Equal("hello", world.ReceiveObject<string>(0, 4));
                Assert.Equal([1.5, 2.5], world.ReceiveObject<double[]>(0, 5)!);
            }
        });
    }

    [Fact]
    public async Task RankFailure_AbortsOthers_AndRethrows()
    {
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => MpiTestHost.RunAsync(3, world =>
        {
            if (world.Rank == 1)
                throw new InvalidOperationException("boom");
            world.Receive<int>(1, 0); // never sent: must be released by the abort
        }));
        Assert.Equal("boom", e.Message);
    }
}
