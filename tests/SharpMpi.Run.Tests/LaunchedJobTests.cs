namespace SharpMpi.Run.Tests;

/// <summary>
/// Real SharpMPI jobs through the launcher over shared memory: the SharpMpi.TestApp scenarios, exit codes
/// and failure handling, and a clean /dev/shm after every job.
/// </summary>
public class LaunchedJobTests
{
    private static string TestApp
    {
        get
        {
            var dir = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
            string configuration = Path.GetFileName(dir);
            return Path.GetFullPath(Path.Combine(dir, "..", "..", "SharpMpi.TestApp", configuration, "SharpMpi.TestApp.dll"));
        }
    }

    private static async Task<LauncherResult> RunJob(int ranks, params string[] scenario) =>
        await RunJob(ranks, [], scenario);

    internal static Task<LauncherResult> RunJob(int ranks, string[] launcherOptions, params string[] scenario) =>
        RunJob(LauncherProcess.Limit, ranks, launcherOptions, scenario);

    private static async Task<LauncherResult> RunJob(TimeSpan limit, int ranks, string[] launcherOptions, params string[] scenario)
    {
        Assert.True(File.Exists(TestApp), $"test app not built at {TestApp}");
        string[] args = ["-n", ranks.ToString(), .. launcherOptions, TestApp, .. scenario];
        var result = await LauncherProcess.RunAsync(limit, args);
        AssertNoSharedMemoryLeft(result);
        return result;
    }

    private static void AssertNoSharedMemoryLeft(LauncherResult result)
    {
        var line = result.StdoutLines.FirstOrDefault(l => l.StartsWith("jobid=", StringComparison.Ordinal));
        if (line is null || !Directory.Exists("/dev/shm"))
            return;
        string jobId = line["jobid=".Length..].Trim();
        Assert.Empty(Directory.GetFiles("/dev/shm", $"sharpmpi.{jobId}.*"));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Sizes_AroundEagerLimitAndRendezvous_ArriveIntact(int ranks)
    {
        var r = await RunJob(ranks, "sizes");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("OK sizes", r.Stdout);
    }

    [Fact]
    public async Task InterCollectives_NonblockingAndObjectForms_BetweenProcesses()
    {
        var r = await RunJob(5, "inter");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("OK inter", r.Stdout);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)] // more ranks than cores on small machines: waits must yield and sleep
    public async Task SharedMemoryCollectives_BetweenProcesses_GiveTheMessageResults(int ranks)
    {
        var r = await RunJob(ranks, "shm-collectives");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("OK shm-collectives", r.Stdout);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)] // rank 2 has no partner: the others' split copies run while it waits in the barrier
    public async Task SplitCopy_ExchangeWindowAndBusySender_ArriveIntact(int ranks)
    {
        var r = await RunJob(ranks, "split-copy");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("OK split-copy", r.Stdout);
    }

    [Fact]
    public async Task Sizes_PipelinedRendezvous_WithoutSingleCopy()
    {
        var r = await RunJob(2, ["-x", "SHARPMPI_SHM_SINGLE_COPY=0"], "sizes");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("OK sizes", r.Stdout);
    }

    [Fact]
    public async Task Sizes_SmallRing_ManyWraps()
    {
        var r = await RunJob(2, ["-x", "SHARPMPI_SHM_RING_SIZE=8192", "-x", "SHARPMPI_SHM_EAGER_LIMIT=1024"], "sizes", "0,1,1023,1024,1025,5000,100000");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("OK sizes", r.Stdout);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("0")]
    public async Task MessageOver2GiB_BothRendezvousPaths(string singleCopy)
    {
        if (GC.GetGCMemoryInfo().TotalAvailableMemoryBytes < 12L << 30)
            Assert.Skip("needs about 6 GB of free memory");
        // The streamed path moves 2.4 GB through the ring: a larger ring means fewer, larger frames.
        var r = await RunJob(TimeSpan.FromMinutes(4), 2,
            ["-x", $"SHARPMPI_SHM_SINGLE_COPY={singleCopy}", "-x", "SHARPMPI_SHM_RING_SIZE=4M"], "sizes", "8,-1");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("huge message of 2400000000 bytes received intact", r.Stdout);
    }

    [Fact]
    public async Task Wildcard_KeepsPerSenderOrder()
    {
        var r = await RunJob(4, "wildcard");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("OK wildcard", r.Stdout);
    }

    [Fact]
    public async Task Truncation_IsReportedAndTheJobGoesOn()
    {
        var r = await RunJob(2, "truncate");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
    }

    [Fact]
    public async Task ThirtyTwoRanksOnTwoCores_AllPairs()
    {
        var r = await RunJob(32, "allpairs");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("OK allpairs", r.Stdout);
    }

    [Fact]
    public async Task RankKilledBySigkill_EndsJobWithClearMessage()
    {
        var r = await RunJob(3, "killed");
        Assert.Equal(137, r.ExitCode);
        Assert.Contains("rank 1", r.Stderr);
        Assert.Contains("SIGKILL", r.Stderr);
    }

    [Fact]
    public async Task UnhandledException_AbortsJob_NamingTheRank()
    {
        var r = await RunJob(3, "throw");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("rank 2: System.InvalidOperationException: deliberate failure", r.Stderr);
    }

    [Fact]
    public async Task Abort_ExitsWithItsCode()
    {
        var r = await RunJob(3, "abort");
        Assert.Equal(7, r.ExitCode);
        Assert.Contains("deliberate abort", r.Stderr);
    }

    [Fact]
    public async Task RankExitCode_BecomesJobExitCode()
    {
        var r = await RunJob(2, "exit", "5");
        Assert.Equal(5, r.ExitCode);
        Assert.Contains("rank 1", r.Stderr);
    }

    [Fact]
    public async Task Timeout_EndsAHungJob()
    {
        var r = await RunJob(2, ["--timeout", "2"], "hang");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("timed out", r.Stderr);
    }

    [Fact]
    public async Task Singleton_RunsWithoutLauncher()
    {
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(TestApp);
        start.ArgumentList.Add("sizes");
        start.ArgumentList.Add("0,10,100000");
        using var p = System.Diagnostics.Process.Start(start)!;
        using var limit = new CancellationTokenSource(LauncherProcess.Limit);
        string output = await p.StandardOutput.ReadToEndAsync(limit.Token);
        await p.WaitForExitAsync(limit.Token);
        Assert.Equal(0, p.ExitCode);
        Assert.Contains("OK sizes", output);
    }
}
