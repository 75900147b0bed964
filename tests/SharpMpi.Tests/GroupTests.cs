namespace SharpMpi.Tests;

/// <summary>Group algebra against hand-computed results (local operations; no communication).</summary>
public class GroupTests
{
    // A group of world ranks [10, 11, ..., 10 + n − 1] seen from world rank `me`.
    private static Group Seq(int n, int me = 10)
    {
        var w = new int[n];
        for (int i = 0; i < n; i++)
            w[i] = 10 + i;
        return new Group(w, me);
    }

    private static Group Of(int me, params int[] worldRanks) => new(worldRanks, me);

    [Fact]
    public void SizeAndRank_MemberAndNonMember()
    {
        var g = Of(12, 10, 11, 12, 13);
        Assert.Equal(4, g.Size);
        Assert.Equal(2, g.Rank);
        Assert.Equal(Group.Undefined, Of(99, 10, 11).Rank);
        Assert.Equal(0, Group.Empty.Size);
        Assert.Equal(Group.Undefined, Group.Empty.Rank);
    }

    [Fact]
    public void Union_KeepsFirstOrderThenNewMembersOfSecond()
    {
        var a = Of(5, 5, 1, 3);
        var b = Of(5, 2, 3, 4, 1);
        var u = Group.Union(a, b);
        Assert.Equal([5, 1, 3, 2, 4], u.WorldRanks);
        Assert.Equal(0, u.Rank);
        Assert.Equal(a.WorldRanks, Group.Union(a, Group.Empty).WorldRanks);
        Assert.Equal(a.WorldRanks, Group.Union(Group.Empty, a).WorldRanks);
        Assert.Equal(a.Rank, Group.Union(Group.Empty, a).Rank);
    }

    [Fact]
    public void IntersectionAndDifference_KeepFirstOrder()
    {
        var a = Of(3, 5, 1, 3, 7);
        var b = Of(3, 7, 3, 9);
        Assert.Equal([3, 7], Group.Intersection(a, b).WorldRanks);
        Assert.Equal([5, 1], Group.Difference(a, b).WorldRanks);
        Assert.Equal(Group.Undefined, Group.Difference(a, b).Rank);
        Assert.Equal(0, Group.Intersection(a, Group.Empty).Size);
        Assert.Equal(a.WorldRanks, Group.Difference(a, Group.Empty).WorldRanks);
        Assert.Equal(0, Group.Difference(a, a).Size);
    }

    [Fact]
    public void IncludeExclude_FollowGivenOrder()
    {
        var g = Seq(6, me: 13);
        var inc = g.Include(4, 0, 3);
        Assert.Equal([14, 10, 13], inc.WorldRanks);
        Assert.Equal(2, inc.Rank);
        Assert.Equal([11, 12, 15], g.Exclude(0, 3, 4).WorldRanks);
        Assert.Equal(0, g.Include().Size);
        Assert.Equal(g.WorldRanks, g.Exclude().WorldRanks);
    }

    [Fact]
    public void IncludeRange_ExpandsTriples()
    {
        var g = Seq(10);
        // (0,8,3) → 0,3,6 ; (9,5,-2) → 9,7,5 ; (1,1,1) → 1
        Assert.Equal([10, 13, 16, 19, 17, 15, 11], g.IncludeRange((0, 8, 3), (9, 5, -2), (1, 1, 1)).WorldRanks);
        // an empty range: first past last in the stride's direction
        Assert.Equal(0, g.IncludeRange((5, 2, 1)).Size);
        Assert.Equal([10, 12, 14, 16, 18], g.ExcludeRange((1, 9, 2)).WorldRanks);
        Assert.Equal([11, 12, 13, 14, 15, 16, 17, 18], g.ExcludeRange((0, 0, 1), (9, 9, -1)).WorldRanks);
    }

    [Fact]
    public void InvalidRanks_ThrowNamingTheParameter()
    {
        var g = Seq(4);
        Assert.Equal("ranks", Assert.Throws<ArgumentOutOfRangeException>(() => g.Include(0, 4)).ParamName);
        Assert.Equal("ranks", Assert.Throws<ArgumentOutOfRangeException>(() => g.Exclude(-1)).ParamName);
        Assert.Equal("ranks", Assert.Throws<ArgumentException>(() => g.Include(1, 1)).ParamName);
        Assert.Equal("ranges", Assert.Throws<ArgumentOutOfRangeException>(() => g.IncludeRange((0, 4, 1))).ParamName);
        Assert.Equal("ranges", Assert.Throws<ArgumentException>(() => g.IncludeRange((0, 3, 0))).ParamName);
        Assert.Equal("ranges", Assert.Throws<ArgumentException>(() => g.IncludeRange((0, 3, 2), (2, 2, 1))).ParamName);
        Assert.Equal("ranks", Assert.Throws<ArgumentOutOfRangeException>(() => g.TranslateRanks([5], g)).ParamName);
    }

    [Fact]
    public void TranslateRanks_MapsMembersAndUndefined()
    {
        var a = Of(0, 4, 5, 6, 7);
        var b = Of(0, 7, 9, 5);
        Assert.Equal([Group.Undefined, 2, Group.Undefined, 0, Communicator.ProcNull], a.TranslateRanks([0, 1, 2, 3, Communicator.ProcNull], b));
        Assert.Equal([], a.TranslateRanks([], b));
    }

    [Fact]
    public void Compare_IdenticalSimilarUnequal()
    {
        Assert.Equal(ComparisonResult.Identical, Group.Compare(Of(0, 1, 2, 3), Of(5, 1, 2, 3)));
        Assert.Equal(ComparisonResult.Similar, Group.Compare(Of(0, 1, 2, 3), Of(0, 3, 1, 2)));
        Assert.Equal(ComparisonResult.Unequal, Group.Compare(Of(0, 1, 2, 3), Of(0, 1, 2)));
        Assert.Equal(ComparisonResult.Unequal, Group.Compare(Of(0, 1, 2, 3), Of(0, 1, 2, 4)));
        Assert.Equal(ComparisonResult.Identical, Group.Compare(Group.Empty, Of(me: 0)));
        Assert.Equal(Of(0, 1, 2), Of(1, 1, 2));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(5)]
    public async Task CommunicatorGroup_DescribesRanks(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            var g = world.Group;
            Assert.Equal(world.Size, g.Size);
            Assert.Equal(world.Rank, g.Rank);
            var odd = g.IncludeRange((1, world.Size - 1, 2));
            Assert.Equal(world.Rank % 2 == 1 ? world.Rank / 2 : Group.Undefined, odd.Rank);
            var reversed = g.IncludeRange((world.Size - 1, 0, -1));
            Assert.Equal(world.Size - 1 - world.Rank, reversed.Rank);
            Assert.Equal(ComparisonResult.Similar == Group.Compare(g, reversed), world.Size > 1);
            Assert.Equal(ComparisonResult.Identical, Group.Compare(world.Environment.Self.Group, g.Include(world.Rank)));
        });
    }
}
