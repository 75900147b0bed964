using static SharpMpi.Tests.CollectiveTestSupport;

namespace SharpMpi.Tests;

/// <summary>Object collectives (serialized values of any size).</summary>
public class CollectiveObjectTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(7)]
    public async Task ObjectCollectives_RoundTrip(int ranks)
    {
        await MpiTestHost.RunAsync(ranks, world =>
        {
            int p = world.Size, me = world.Rank;
            string Text(int r) => new string('a', r * 3000) + r; // some above the eager limit

            var greeting = world.BroadcastObject(me == p - 1 ? "hello from the root" : null, p - 1);
            Assert.Equal("hello from the root", greeting);
            var list = world.BroadcastObject(me == 0 ? Enumerable.Range(0, 10_000).ToList() : null, 0);
            Assert.Equal(Enumerable.Range(0, 10_000), list!);

            var gathered = world.GatherObject(Text(me), 0);
            if (me == 0)
                Assert.Equal(Enumerable.Range(0, p).Select(Text), gathered!);
            else
                Assert.Null(gathered);

            var scattered = world.ScatterObject(me == 0 ? Enumerable.Range(0, p).Select(Text).ToArray() : null, 0);
            Assert.Equal(Text(me), scattered);

            Assert.Equal(Enumerable.Range(0, p).Select(Text), world.AllgatherObject(Text(me)));

            var toAll = Enumerable.Range(0, p).Select(j => $"{me}->{j}").ToArray();
            Assert.Equal(Enumerable.Range(0, p).Select(i => $"{i}->{me}"), world.AlltoallObject(toAll));

            // string concatenation is associative but not commutative: the result is in rank order
            string expected = string.Concat(Enumerable.Range(0, p).Select(r => r.ToString()));
            foreach (int root in CollectiveTests.Roots(ranks))
            {
                var reduced = world.ReduceObject(me.ToString(), (a, b) => a + b, root);
                Assert.Equal(me == root ? expected : null, reduced);
            }
            Assert.Equal(expected, world.AllreduceObject(me.ToString(), (a, b) => a + b));
            Assert.Equal(string.Concat(Enumerable.Range(0, me + 1).Select(r => r.ToString())), world.ScanObject(me.ToString(), (a, b) => a + b));
            var arrays = world.AllreduceObject(new[] { me }, (a, b) => [.. a!, .. b!]);
            Assert.Equal(Enumerable.Range(0, p), arrays!);
        }, Options);
    }
}
