namespace SharpMpi.Tests;

/// <summary>Dup, Split, SplitShared, Create, CreateGroup and Compare on in-process ranks.</summary>
public class CommunicatorTests
{
    public static TheoryData<int> Sizes => new() { 1, 2, 3, 4, 5, 7, 8 };

    /// <summary>Each rank sends its world rank to the next rank of <paramref name="comm"/> and checks what arrives from the previous one.</summary>
    private static void CheckRing(Communicator comm, int tag = 3)
    {
        int n = comm.Size;
        int next = (comm.Rank + 1) % n;
        int prev = (comm.Rank - 1 + n) % n;
        int mine = comm.Environment.Rank;
        int got = -1;
        var status = comm.SendReceive<int, int>([mine], next, tag, new Span<int>(ref got), prev, tag);
        Assert.Equal(prev, status.Source);
        Assert.Equal(comm.Group.WorldRanks[prev], got);
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task Dup_SameTagAnyTagReceiveOnParent_NeverMatchesDupTraffic(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            using var dup = world.Dup();
            Assert.Equal(world.Size, dup.Size);
            Assert.Equal(world.Rank, dup.Rank);
            Assert.Equal(ComparisonResult.Congruent, Communicator.Compare(world, dup));
            Assert.NotEqual(world.P2PContext, dup.P2PContext);
            int n = world.Size;
            int next = (world.Rank + 1) % n;
            int prev = (world.Rank - 1 + n) % n;

            var onWorld = new int[1];
            var pending = world.IReceive(onWorld, Communicator.AnySource, Communicator.AnyTag);
            dup.Send(100 + world.Rank, next, tag: 7);
            Assert.Equal(100 + prev, dup.Receive<int>(prev, 7));
            Assert.False(pending.IsCompleted);
            // Nobody sends on world before everyone has checked.
            Collectives.DisseminationBarrier.Run(dup);

            world.Send(200 + world.Rank, next, tag: 7);
            var status = pending.Wait();
            Assert.Equal(7, status.Tag);
            Assert.Equal(prev, status.Source);
            Assert.Equal(200 + prev, onWorld[0]);
        });
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task Split_ByColorAndKey_OrdersByKeyThenOldRank(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            int n = world.Size;
            int Color(int r) => r % 3;
            int Key(int r) => (n - r) / 2; // decreasing, with ties between neighbors
            using var sub = world.Split(Color(world.Rank), Key(world.Rank));
            Assert.NotNull(sub);
            var expected = Enumerable.Range(0, n).Where(r => Color(r) == Color(world.Rank))
                .OrderBy(Key).ThenBy(r => r).ToArray();
            Assert.Equal(expected, sub.Group.WorldRanks);
            Assert.Equal(Array.IndexOf(expected, world.Rank), sub.Rank);
            CheckRing(sub);
        });
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task Split_NullColor_ReturnsNullAndOthersStillSplit(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            int? color = world.Rank == 0 ? null : 1;
            using var sub = world.Split(color, key: -world.Rank);
            if (world.Rank == 0)
            {
                Assert.Null(sub);
                return;
            }
            Assert.NotNull(sub);
            Assert.Equal(world.Size - 1, sub.Size);
            Assert.Equal(world.Size - 1 - world.Rank, sub.Rank);
            CheckRing(sub);
        });
    }

    [Fact]
    public async Task Split_NegativeColor_Throws()
    {
        await MpiTestHost.RunAsync(1, world =>
        {
            Assert.Equal("color", Assert.Throws<ArgumentOutOfRangeException>(() => world.Split(-1)).ParamName);
        });
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(8)]
    public async Task SplitShared_GroupsRanksByNode(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            // Pretend ranks 0–2 are on one host, 3–5 on another, and so on.
            var nodes = world.Environment.NodeOfWorldRank;
            for (int r = 0; r < nodes.Length; r++)
                nodes[r] = r / 3;
            using var local = world.SplitShared();
            var expected = Enumerable.Range(0, world.Size).Where(r => r / 3 == world.Rank / 3).ToArray();
            Assert.Equal(expected, local.Group.WorldRanks);
            Assert.Equal(world.Rank % 3, local.Rank);
            CheckRing(local);
        });
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task Create_EvenRanks_MembersGetCommunicatorOthersNull(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            var evens = world.Group.IncludeRange((0, world.Size - 1, 2));
            using var comm = world.Create(evens);
            if (world.Rank % 2 == 1)
            {
                Assert.Null(comm);
                return;
            }
            Assert.NotNull(comm);
            Assert.Equal((world.Size + 1) / 2, comm.Size);
            Assert.Equal(world.Rank / 2, comm.Rank);
            CheckRing(comm);
        });
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task Create_DisjointGroupsPerRank_EachGetsItsOwn(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            // Each rank passes the group it belongs to (MPI-2.2), reversed to check the order is kept.
            int parity = world.Rank % 2;
            var mine = Enumerable.Range(0, world.Size).Where(r => r % 2 == parity).Reverse().ToArray();
            using var comm = world.Create(world.Group.Include(mine));
            Assert.NotNull(comm);
            Assert.Equal(mine, comm.Group.WorldRanks);
            CheckRing(comm);
        });
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task CreateGroup_OnlyMembersCall_Works(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            if (world.Rank % 2 == 1 && world.Rank != world.Size - 1)
                return; // not a member: does not call at all
            // Members: the even ranks and the last rank, in reverse order.
            var members = Enumerable.Range(0, world.Size).Where(r => r % 2 == 0 || r == world.Size - 1).Reverse().ToArray();
            using var comm = world.CreateGroup(world.Group.Include(members), tag: 11);
            Assert.Equal(members, comm.Group.WorldRanks);
            Assert.Equal(Array.IndexOf(members, world.Rank), comm.Rank);
            CheckRing(comm);
        });
    }

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public async Task CreateGroup_SequentialOverlappingGroupsSameTag_DoNotMix(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            // Rank 0 is in both groups; rank 1 only in the first, rank 2 only in the second. Rank 2 may run
            // ahead while rank 0 still builds the first, with the same tag.
            Communicator? first = null, second = null;
            if (world.Rank is 0 or 1)
                first = world.CreateGroup(world.Group.Include(0, 1), tag: 4);
            if (world.Rank is 0 or 2)
                second = world.CreateGroup(world.Group.Include(2, 0), tag: 4);
            if (first is not null)
            {
                Assert.Equal([0, 1], first.Group.WorldRanks);
                CheckRing(first);
            }
            if (second is not null)
            {
                Assert.Equal([2, 0], second.Group.WorldRanks);
                CheckRing(second);
            }
        });
    }

    [Fact]
    public async Task CreateGroup_NotAMember_Throws()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            var other = world.Group.Include(1 - world.Rank);
            Assert.Equal("group", Assert.Throws<ArgumentException>(() => world.CreateGroup(other)).ParamName);
        });
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public async Task Compare_AllFourResults(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            Assert.Equal(ComparisonResult.Identical, Communicator.Compare(world, world));
            using var dup = world.Dup();
            Assert.Equal(ComparisonResult.Congruent, Communicator.Compare(world, dup));
            using var reversed = world.Split(0, key: -world.Rank)!;
            Assert.Equal(world.Size > 1 ? ComparisonResult.Similar : ComparisonResult.Congruent, Communicator.Compare(world, reversed));
            using var self = world.Split(world.Rank, 0)!;
            Assert.Equal(world.Size > 1 ? ComparisonResult.Unequal : ComparisonResult.Congruent, Communicator.Compare(world, self));
        });
    }

    [Theory]
    [InlineData(2)]
    [InlineData(5)]
    public async Task ConcurrentCreation_OnDifferentParentsFromTwoThreads_GetsDistinctAgreedContexts(int ranks)
    {
        const int rounds = 12;
        var contexts = await MpiTestHost.RunAsync(ranks, async world =>
        {
            var a = world.Dup();
            var b = world.Dup();
            var fromA = new int[rounds];
            var fromB = new int[rounds];
            using var start = new Barrier(2);
            void Work(Communicator parent, int[] created, int salt)
            {
                start.SignalAndWait();
                for (int i = 0; i < rounds; i++)
                {
                    // Alternate Dup and Split so both kinds of creation race with each other.
                    using var c = i % 2 == 0 ? parent.Dup() : parent.Split(0, parent.Rank)!;
                    created[i] = c.P2PContext;
                    int n = c.Size;
                    c.Send(salt * 1000 + i, (c.Rank + 1) % n, tag: i);
                    int got = c.Receive<int>(Communicator.AnySource, Communicator.AnyTag, out var status);
                    Assert.Equal(salt * 1000 + i, got);
                    Assert.Equal(i, status.Tag);
                }
            }
            var t1 = Task.Factory.StartNew(() => Work(a, fromA, 1), TaskCreationOptions.LongRunning);
            var t2 = Task.Factory.StartNew(() => Work(b, fromB, 2), TaskCreationOptions.LongRunning);
            await Task.WhenAll(t1, t2);
            Assert.Empty(fromA.Intersect(fromB));
            return (fromA, fromB);
        }, new MpiTestHostOptions { Timeout = TimeSpan.FromSeconds(120) });
        for (int r = 1; r < ranks; r++)
        {
            Assert.Equal(contexts[0].fromA, contexts[r].fromA);
            Assert.Equal(contexts[0].fromB, contexts[r].fromB);
        }
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public async Task CreateGroup_ConcurrentOnOneParentWithDifferentTags_BothSucceed(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, async world =>
        {
            // Two threads create from the same parent at once over overlapping groups; only the tags differ.
            var all = world.Group;
            var firstThree = world.Group.Include(2, 1, 0);
            Communicator? a = null, b = null;
            using var start = new Barrier(2);
            var t1 = Task.Factory.StartNew(() =>
            {
                start.SignalAndWait();
                a = world.CreateGroup(all, tag: 1);
            }, TaskCreationOptions.LongRunning);
            var t2 = Task.Factory.StartNew(() =>
            {
                start.SignalAndWait();
                if (world.Rank < 3)
                    b = world.CreateGroup(firstThree, tag: 2);
            }, TaskCreationOptions.LongRunning);
            await Task.WhenAll(t1, t2);
            Assert.NotNull(a);
            Assert.Equal(all.WorldRanks, a.Group.WorldRanks);
            CheckRing(a);
            if (world.Rank < 3)
            {
                Assert.NotNull(b);
                Assert.NotEqual(a.P2PContext, b.P2PContext);
                Assert.Equal([2, 1, 0], b.Group.WorldRanks);
                CheckRing(b);
            }
        });
    }

    [Fact]
    public async Task Dispose_ThenUse_Throws()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            var dup = world.Dup();
            dup.Dispose();
            Assert.Throws<ObjectDisposedException>(() => dup.Send(1, 0, 0));
            Assert.Throws<ObjectDisposedException>(() => dup.Dup());
        });
    }
}
