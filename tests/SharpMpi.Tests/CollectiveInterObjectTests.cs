using static SharpMpi.Tests.InterTestSupport;

namespace SharpMpi.Tests;

/// <summary>
/// Object collectives on intercommunicators against a sequential reference, with the buffer forms' root
/// semantics: the root in either group, results from the remote group in its rank order. Some objects are
/// longer than the 16 KiB eager limit.
/// </summary>
public class CollectiveInterObjectTests
{
    /// <summary>(world size, size of group 0): group sizes (1,1), (1,2), (2,1), (2,3), (3,2).</summary>
    public static TheoryData<int, int> Splits => new() { { 2, 1 }, { 3, 1 }, { 3, 2 }, { 5, 2 } };

    /// <summary>The object rank <paramref name="rank"/> of group <paramref name="color"/> contributes (rank 1's is long).</summary>
    private static string Item(int color, int rank, string tag = "") => $"{tag}g{color}r{rank};" + (rank == 1 ? new string('x', 20_000) : "");

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task BroadcastObject_FromEachRankOfEachGroup_ReachesTheOtherGroup(int ranks, int low)
    {
        await Run(ranks, low, s =>
        {
            for (int rootColor = 0; rootColor < 2; rootColor++)
            {
                for (int root = 0; root < (rootColor == s.Color ? s.LocalSize : s.RemoteSize); root++)
                {
                    int arg = RootArg(s, rootColor, root);
                    var value = arg == Communicator.Root ? new List<string> { Item(s.Color, root), "b" } : null;
                    var got = s.Inter.BroadcastObject(value, arg);
                    if (arg == Communicator.ProcNull)
                        Assert.Null(got);
                    else
                        Assert.Equal([Item(rootColor, root), "b"], got!);
                }
            }
        });
    }

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task GatherObjectAndScatterObject_RootExchangesOneObjectWithEachRemoteRank(int ranks, int low)
    {
        await Run(ranks, low, s =>
        {
            for (int rootColor = 0; rootColor < 2; rootColor++)
            {
                for (int root = 0; root < (rootColor == s.Color ? s.LocalSize : s.RemoteSize); root++)
                {
                    int arg = RootArg(s, rootColor, root);
                    var gathered = s.Inter.GatherObject(arg >= 0 ? Item(s.Color, s.Inter.Rank) : "unused", arg);
                    if (arg == Communicator.Root)
                        Assert.Equal(Enumerable.Range(0, s.RemoteSize).Select(r => Item(s.RemoteColor, r)).ToArray(), gathered);
                    else
                        Assert.Null(gathered);

                    var values = arg == Communicator.Root ? Enumerable.Range(0, s.RemoteSize).Select(r => Item(s.Color, r, "to")).ToArray() : null;
                    var mine = s.Inter.ScatterObject(values, arg);
                    Assert.Equal(arg >= 0 ? Item(rootColor, s.Inter.Rank, "to") : null, mine);
                }
            }
        });
    }

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task AllgatherObjectAndAlltoallObject_EveryRankGetsTheRemoteGroupsObjects(int ranks, int low)
    {
        await Run(ranks, low, s =>
        {
            Assert.Equal(Enumerable.Range(0, s.RemoteSize).Select(r => Item(s.RemoteColor, r)).ToArray(), s.Inter.AllgatherObject(Item(s.Color, s.Inter.Rank)));

            var outgoing = Enumerable.Range(0, s.RemoteSize).Select(j => Item(s.Color, s.Inter.Rank, $"to{j}")).ToArray();
            var incoming = s.Inter.AlltoallObject(outgoing);
            Assert.Equal(Enumerable.Range(0, s.RemoteSize).Select(r => Item(s.RemoteColor, r, $"to{s.Inter.Rank}")).ToArray(), incoming);
        });
    }

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task ReduceObjectAndAllreduceObject_FoldTheRemoteGroupInRankOrder(int ranks, int low)
    {
        // Concatenation is associative but not commutative: the result shows the order of the fold.
        static string Fold(int color, int size) => string.Concat(Enumerable.Range(0, size).Select(r => Item(color, r)));
        await Run(ranks, low, s =>
        {
            Assert.Equal(Fold(s.RemoteColor, s.RemoteSize), s.Inter.AllreduceObject(Item(s.Color, s.Inter.Rank), (a, b) => a + b));
            for (int rootColor = 0; rootColor < 2; rootColor++)
            {
                for (int root = 0; root < (rootColor == s.Color ? s.LocalSize : s.RemoteSize); root++)
                {
                    int arg = RootArg(s, rootColor, root);
                    var result = s.Inter.ReduceObject(arg >= 0 ? Item(s.Color, s.Inter.Rank) : "unused", (a, b) => a + b, arg);
                    Assert.Equal(arg == Communicator.Root ? Fold(s.RemoteColor, s.RemoteSize) : null, result);
                }
            }
            // Blocking buffer collectives keep matching afterwards.
            s.Inter.Barrier();
        });
    }
}
