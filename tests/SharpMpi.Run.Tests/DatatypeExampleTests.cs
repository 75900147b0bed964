namespace SharpMpi.Run.Tests;

/// <summary>Runs the datatype and RMA examples through the launcher (real processes, shared memory).</summary>
public class DatatypeExampleTests
{
    private static Task<LauncherResult> Run(int ranks, string example, params string[] args) =>
        ExampleTests.Run(ranks, example, args);

    [Fact]
    public async Task GeneticAlgorithm_BestFitnessImproves()
    {
        var r = await Run(3, "GeneticAlgorithm", "25");
        Assert.Equal(25, r.StdoutLines.Count(l => l.StartsWith("generation ", StringComparison.Ordinal)));
        var last = Assert.Single(r.StdoutLines, l => l.StartsWith("done: 25 generations", StringComparison.Ordinal));
        Assert.Contains("improved: True", last);
    }

    [Fact]
    public async Task MatrixTranspose_DatatypesRmaAndSharedWindow()
    {
        var before = Directory.GetFiles("/dev/shm", "sharpmpi.*.win.*").Length;
        var r = await Run(4, "MatrixTranspose", "3");
        Assert.Contains("column OK", r.Stdout);
        Assert.Contains("transpose OK (12x12 on 4 ranks)", r.Stdout);
        Assert.Contains("rma OK", r.Stdout);
        Assert.Contains("shared window OK", r.Stdout);
        Assert.Equal(before, Directory.GetFiles("/dev/shm", "sharpmpi.*.win.*").Length);
    }
}
