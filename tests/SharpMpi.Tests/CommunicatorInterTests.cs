namespace SharpMpi.Tests;

/// <summary>Intercommunicators: creation, point-to-point between the groups, Dup and Merge.</summary>
public class CommunicatorInterTests
{
    public static TheoryData<int> Sizes => new() { 2, 3, 4, 5, 7, 8 };

    /// <summary>Even world ranks form group 0, odd ones group 1; leaders are world ranks 0 and 1.</summary>
    private static (Communicator Local, Intercommunicator Inter, int Color) EvenOdd(Communicator world, int tag = 9)
    {
        int color = world.Rank % 2;
        var local = world.Split(color, world.Rank)!;
        var inter = local.CreateInter(localLeader: 0, world, remoteLeader: 1 - color, tag);
        return (local, inter, color);
    }

    private static int[] Members(int size, int color) => Enumerable.Range(0, size).Where(r => r % 2 == color).ToArray();

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task CreateInter_GroupsAndSizes_DescribeBothSides(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            var (local, inter, color) = EvenOdd(world);
            Assert.True(inter.IsInter);
            Assert.False(local.IsInter);
            Assert.Equal(local.Size, inter.Size);
            Assert.Equal(local.Rank, inter.Rank);
            Assert.Equal(Members(world.Size, color), inter.Group.WorldRanks);
            Assert.Equal(Members(world.Size, 1 - color), inter.RemoteGroup.WorldRanks);
            Assert.Equal(Members(world.Size, 1 - color).Length, inter.RemoteSize);
            Assert.Equal(Group.Undefined, inter.RemoteGroup.Rank);
        });
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task PointToPoint_AddressesRemoteRanks_SourceIsSendersLocalRank(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            var (_, inter, color) = EvenOdd(world);
            // Every rank sends (world rank, local rank) to each remote rank.
            var requests = new List<Request>();
            for (int r = 0; r < inter.RemoteSize; r++)
                requests.Add(inter.ISend(new[] { world.Rank, inter.Rank }, r, tag: 1));
            var seen = new bool[inter.RemoteSize];
            var remoteWorld = inter.RemoteGroup.WorldRanks;
            var got = new int[2];
            for (int i = 0; i < inter.RemoteSize; i++)
            {
                var status = inter.Receive(got, Communicator.AnySource, 1);
                Assert.Equal(got[1], status.Source);
                Assert.Equal(remoteWorld[status.Source], got[0]);
                Assert.False(seen[status.Source]);
                seen[status.Source] = true;
            }
            Request.WaitAll(requests.ToArray());
            // Specific source, and the remote rank range is what is checked.
            if (color == 0)
                inter.Send(42, dest: 0, tag: 100);
            else if (inter.Rank == 0)
            {
                int all = 0;
                for (int r = 0; r < inter.RemoteSize; r++)
                    all += inter.Receive<int>(r, 100);
                Assert.Equal(42 * inter.RemoteSize, all);
            }
            Assert.Equal("dest", Assert.Throws<ArgumentOutOfRangeException>(() => inter.Send(1, inter.RemoteSize, 0)).ParamName);
        });
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task Merge_LowGroupFirst_EachGroupInItsOrder(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            var (_, inter, color) = EvenOdd(world);
            var evens = Members(world.Size, 0);
            var odds = Members(world.Size, 1);

            // Odd group high: evens first.
            using var m1 = inter.Merge(high: color == 1);
            Assert.Equal(evens.Concat(odds).ToArray(), m1.Group.WorldRanks);
            Assert.False(m1.IsInter);
            // Even group high: odds first.
            using var m2 = inter.Merge(high: color == 0);
            Assert.Equal(odds.Concat(evens).ToArray(), m2.Group.WorldRanks);
            // Same flag on both sides: the group whose leader has the lower world rank (evens) first.
            using var m3 = inter.Merge(high: true);
            Assert.Equal(evens.Concat(odds).ToArray(), m3.Group.WorldRanks);
            Assert.NotEqual(m1.P2PContext, m2.P2PContext);

            // The merged communicators carry traffic, and each on its own.
            int n = m1.Size;
            m1.Send(1000 + m1.Rank, (m1.Rank + 1) % n, 5);
            m2.Send(2000 + m2.Rank, (m2.Rank + 1) % n, 5);
            Assert.Equal(2000 + (m2.Rank - 1 + n) % n, m2.Receive<int>(Communicator.AnySource, Communicator.AnyTag));
            Assert.Equal(1000 + (m1.Rank - 1 + n) % n, m1.Receive<int>(Communicator.AnySource, Communicator.AnyTag));
        });
    }

    [Theory]
    [InlineData(2)]
    [InlineData(5)]
    public async Task Dup_KeepsGroups_SeparatesTraffic(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            var (_, inter, _) = EvenOdd(world);
            using var dup = inter.Dup();
            Assert.True(dup.IsInter);
            Assert.Equal(ComparisonResult.Congruent, Communicator.Compare(inter, dup));
            Assert.Equal(inter.RemoteGroup, dup.RemoteGroup);
            int to = inter.Rank % inter.RemoteSize;
            dup.Send(7, to, 1);
            inter.Send(8, to, 1);
            // Each of my remote partners sends one message on each; on inter only inter's arrive.
            int expected = Enumerable.Range(0, inter.RemoteSize).Count(r => r % inter.Size == inter.Rank);
            for (int i = 0; i < expected; i++)
                Assert.Equal(8, inter.Receive<int>(Communicator.AnySource, Communicator.AnyTag));
            for (int i = 0; i < expected; i++)
                Assert.Equal(7, dup.Receive<int>(Communicator.AnySource, Communicator.AnyTag));
        });
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task Split_SameColorInBothGroups_FormsAnIntercommunicatorOrderedByKey(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            var (_, inter, color) = EvenOdd(world);
            // Color: parity of the local rank; key: reverse rank order. Group 1 also leaves out its rank 2 (null color).
            int? myColor = color == 1 && inter.Rank == 2 ? null : inter.Rank % 2;
            using var split = inter.Split(myColor, key: -inter.Rank);
            int[] Expected(int c, int parity) =>
                Members(world.Size, c).Where((_, i) => i % 2 == parity && !(c == 1 && i == 2)).Reverse().ToArray();
            if (myColor is not int parity || Expected(1 - color, parity).Length == 0)
            {
                Assert.Null(split);
                return;
            }
            Assert.NotNull(split);
            Assert.Equal(Expected(color, parity), split.Group.WorldRanks);
            Assert.Equal(Expected(1 - color, parity), split.RemoteGroup.WorldRanks);
            // Collectives run on the new intercommunicator: every rank gets the remote group's world ranks.
            Assert.Equal(Expected(1 - color, parity), split.Allgather(world.Rank));
        });
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public async Task Create_SubsetOfEachGroup_FormsAnIntercommunicatorOfTheSubsets(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            var (_, inter, color) = EvenOdd(world);
            // Group 0 keeps its local ranks 0 and 2 (those that exist), group 1 all but its leader, in reverse order.
            int[] Subset(int c, int size) => c == 0 ? Enumerable.Range(0, size).Where(r => r is 0 or 2).ToArray()
                : Enumerable.Range(1, size - 1).Reverse().ToArray();
            var mine = Subset(color, inter.Size);
            using var created = ((Communicator)inter).Create(inter.Group.Include(mine));
            int[] remoteMembers = Members(world.Size, 1 - color);
            int[] remoteWorld = Subset(1 - color, remoteMembers.Length).Select(r => remoteMembers[r]).ToArray();
            if (!mine.Contains(inter.Rank) || remoteWorld.Length == 0)
            {
                Assert.Null(created);
                return;
            }
            var intercommunicator = Assert.IsType<Intercommunicator>(created);
            Assert.Equal(mine.Select(r => Members(world.Size, color)[r]).ToArray(), intercommunicator.Group.WorldRanks);
            Assert.Equal(remoteWorld, intercommunicator.RemoteGroup.WorldRanks);
            Assert.Equal(remoteWorld, intercommunicator.Allgather(world.Rank));
        });
    }

    [Fact]
    public async Task ManagementThatMpiDefinesOnIntracommunicatorsOnly_IsUnsupportedOnIntercommunicators()
    {
        await MpiTestHost.RunAsync(2, world =>
        {
            var (_, inter, _) = EvenOdd(world);
            var e = Assert.Throws<MpiException>(() => inter.CreateCartesian([1], [false]));
            Assert.Equal(ErrorClass.Unsupported, e.ErrorClass);
            Assert.Contains("intracommunicators only", e.Message);
            Assert.Equal(ErrorClass.Unsupported, Assert.Throws<MpiException>(() => inter.CreateGroup(inter.Group)).ErrorClass);
            Assert.Equal(ErrorClass.Unsupported, Assert.Throws<MpiException>(() => inter.CreateDistGraphAdjacent([], [])).ErrorClass);
            Assert.Equal(ErrorClass.Unsupported, Assert.Throws<MpiException>(() => inter.CreateInter(0, world, 0, 1)).ErrorClass);
        });
    }
}
