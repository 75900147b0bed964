namespace SharpMpi.Run.Tests;

/// <summary>
/// One-sided communication between real processes: interlocked atomics on shared windows and large Puts by the
/// pull path (and in chunks with single copy off). Scenario "rma" of SharpMpi.TestApp.
/// </summary>
public class RmaJobTests
{
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Rma_SharedAtomicsAndLargePut_Exact(int ranks)
    {
        var r = await LaunchedJobTests.RunJob(ranks, [], "rma");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("OK rma", r.Stdout);
    }

    [Fact]
    public async Task Rma_LargePutWithoutSingleCopy_SentInChunks()
    {
        var r = await LaunchedJobTests.RunJob(2, ["-x", "SHARPMPI_SHM_SINGLE_COPY=0"], "rma");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("OK rma", r.Stdout);
    }
}
