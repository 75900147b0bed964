namespace SharpMpi.Run.Tests;

/// <summary>
/// Real SharpMPI jobs through the launcher with every peer forced onto the TCP transport
/// (<c>SHARPMPI_TRANSPORT=tcp</c>, the way tests simulate several hosts on one machine).
/// </summary>
public class TcpJobTests
{
    private static readonly string[] s_tcp = ["-x", "SHARPMPI_TRANSPORT=tcp"];

    private static string TestApp
    {
        get
        {
            var dir = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
            string configuration = Path.GetFileName(dir);
            return Path.GetFullPath(Path.Combine(dir, "..", "..", "SharpMpi.TestApp", configuration, "SharpMpi.TestApp.dll"));
        }
    }

    private static async Task<LauncherResult> RunJob(int ranks, string[] launcherOptions, params string[] scenario)
    {
        Assert.True(File.Exists(TestApp), $"test app not built at {TestApp}");
        string[] args = ["-n", ranks.ToString(), .. s_tcp, .. launcherOptions, TestApp, .. scenario];
        return await LauncherProcess.RunAsync(args);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Sizes_AroundEagerLimitAndRendezvous_ArriveIntact(int ranks)
    {
        var r = await RunJob(ranks, [], "sizes");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("OK sizes", r.Stdout);
        Assert.DoesNotContain("rejected a connection", r.Stderr);
    }

    [Fact]
    public async Task Sizes_SmallEagerLimitAndFrames_ManyDataFrames()
    {
        var r = await RunJob(2, ["-x", "SHARPMPI_TCP_EAGER_LIMIT=1024", "-x", "SHARPMPI_TCP_MAX_FRAME=4096", "-x", "SHARPMPI_TCP_INTERFACE=127.0.0.1"],
            "sizes", "0,1,1023,1024,1025,5000,100000,3000000");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("OK sizes", r.Stdout);
    }

    [Fact]
    public async Task Wildcard_KeepsPerSenderOrder()
    {
        var r = await RunJob(4, [], "wildcard");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("OK wildcard", r.Stdout);
    }

    [Fact]
    public async Task Collectives_EveryResultChecked()
    {
        var r = await RunJob(3, [], "collectives");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("OK collectives", r.Stdout);
    }

    [Fact]
    public async Task Truncation_IsReportedAndTheJobGoesOn()
    {
        var r = await RunJob(2, [], "truncate");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
    }

    [Fact]
    public async Task SixteenRanksOnTwoCores_AllPairs()
    {
        var r = await RunJob(16, [], "allpairs");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("OK allpairs", r.Stdout);
    }

    [Fact]
    public async Task RankKilledBySigkill_EndsJobWithClearMessage()
    {
        var r = await RunJob(3, [], "killed");
        Assert.Equal(137, r.ExitCode);
        Assert.Contains("rank 1", r.Stderr);
        Assert.Contains("SIGKILL", r.Stderr);
    }

    [Fact]
    public async Task BadTransportName_FailsWithAClearMessage()
    {
        var r = await LauncherProcess.RunAsync(["-n", "2", "-x", "SHARPMPI_TRANSPORT=carrier-pigeon", TestApp, "sizes", "0"]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("SHARPMPI_TRANSPORT", r.Stderr);
    }
}
