namespace SharpMpi.Transport.Tcp.Tests;

/// <summary>
/// <c>SHARPMPI_TRANSPORT=tcp</c> puts <see cref="MpiTestHost"/> jobs on the TCP transport, which is how
/// <c>./test</c> runs the whole SharpMpi.Tests suite a second time over TCP on loopback.
/// </summary>
public sealed class TestHostOverTcpTests
{
    private static readonly MpiTestHostOptions s_bounded = new() { Timeout = TimeSpan.FromSeconds(45) };

    [Fact]
    public async Task MpiTestHost_TransportTcp_EveryPeerButSelfOverTcp()
    {
        string[] routes = await WithTransport("tcp", () => MpiTestHost.RunAsync(3, world =>
        {
            Assert.Equal(6, world.Allreduce((long)world.Rank + 1, Op.Sum));
            var engine = world.Environment.Engine;
            return Task.FromResult(string.Join(',', Enumerable.Range(0, world.Size).Select(r => r == world.Rank ? "self" : engine.RouteTo(r).Name)));
        }, s_bounded));
        Assert.Equal(["self,tcp,tcp", "tcp,self,tcp", "tcp,tcp,self"], routes);
    }

    [Fact]
    public async Task MpiTestHost_TransportAuto_InProcess()
    {
        string[] routes = await WithTransport("auto", () => MpiTestHost.RunAsync(2, world => Task.FromResult(world.Environment.Engine.RouteTo(1 - world.Rank).Name), s_bounded));
        Assert.DoesNotContain("tcp", routes);
    }

    // Safe here: this assembly runs one test at a time and nothing else in it uses MpiTestHost.
    private static async Task<T> WithTransport<T>(string value, Func<Task<T>> body)
    {
        string? before = Environment.GetEnvironmentVariable("SHARPMPI_TRANSPORT");
        Environment.SetEnvironmentVariable("SHARPMPI_TRANSPORT", value);
        try
        {
            return await body();
        }
        finally
        {
            Environment.SetEnvironmentVariable("SHARPMPI_TRANSPORT", before);
        }
    }
}
