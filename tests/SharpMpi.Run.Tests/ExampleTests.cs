namespace SharpMpi.Run.Tests;

/// <summary>Runs every example through the launcher and checks the result it prints.</summary>
public class ExampleTests
{
    internal static string Example(string name)
    {
        var dir = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        string configuration = Path.GetFileName(dir);
        string dll = Path.GetFullPath(Path.Combine(dir, "..", "..", name, configuration, name + ".dll"));
        Assert.True(File.Exists(dll), $"example not built at {dll}");
        return dll;
    }

    internal static async Task<LauncherResult> Run(int ranks, string example, params string[] args)
    {
        var r = await LauncherProcess.RunAsync(["-n", ranks.ToString(), Example(example), .. args]);
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Stdout}{r.Stderr}");
        return r;
    }

    [Fact]
    public async Task Hello_EveryRankGreets()
    {
        var r = await Run(4, "Hello");
        for (int rank = 0; rank < 4; rank++)
            Assert.Contains(r.StdoutLines, l => l.StartsWith($"Hello from rank {rank} of 4 on ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Ring_CountsLaps()
    {
        var r = await Run(3, "Ring", "4");
        Assert.Contains("done: 4 laps of 3 ranks, token = 12 (expected 12)", r.Stdout);
    }

    [Fact]
    public async Task Pi_IsAccurate()
    {
        var r = await Run(3, "Pi", "1000000");
        var line = Assert.Single(r.StdoutLines, l => l.StartsWith("pi ~ ", StringComparison.Ordinal));
        double pi = double.Parse(line.Split(' ')[2].TrimEnd(','), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(pi, Math.PI - 1e-9, Math.PI + 1e-9);
    }

    [Fact]
    public async Task SendModes_ShowsEveryMode()
    {
        var r = await Run(2, "SendModes");
        Assert.Contains("SendSync", r.Stdout);
        Assert.Contains("SendBuffered", r.Stdout);
        Assert.Contains("SendReady without a posted receive fails", r.Stdout);
    }

    [Fact]
    public async Task MasterWorker_FarmAndPoolAgree()
    {
        var r = await Run(4, "MasterWorker");
        Assert.Contains("task farm: 40 items, sum of squares = 20540 (expected 20540)", r.Stdout);
        Assert.Contains("pool: sum of squares = 20540, HELLO FROM THE POOL!", r.Stdout);
    }

    [Fact]
    public async Task Jacobi_SameResultOnAnyRankCount()
    {
        var one = await Run(1, "Jacobi", "24");
        var four = await Run(4, "Jacobi", "24");
        string Result(LauncherResult r) => Assert.Single(r.StdoutLines, l => l.StartsWith("converged after", StringComparison.Ordinal)).Split(" on a ")[0]
            + Assert.Single(r.StdoutLines, l => l.StartsWith("converged after", StringComparison.Ordinal)).Split("mean temperature")[1];
        Assert.Equal(Result(one), Result(four));
        Assert.Contains("2x2 process grid", four.Stdout);
    }

    [Fact]
    public async Task Basics_RunsTheTutorial()
    {
        var r = await Run(4, "Basics");
        Assert.Contains("rank 1 got 3 doubles from rank 0 with tag 10", r.Stdout);
        Assert.Contains("rank 1 got a dictionary: epochs=5, batch=32", r.Stdout);
        Assert.Contains("squares = 0 1 4 9 16 25 36 49", r.Stdout);
        Assert.Contains("exchange of 8 MiB in both directions done", r.Stdout);
        Assert.Contains("basics done", r.Stdout);
    }

    [Fact]
    public async Task DataParallelTraining_LossFallsAndWeightsAgree()
    {
        string checkpoint = Path.Combine(Path.GetTempPath(), $"sharpmpi-test-{Guid.NewGuid():N}.bin");
        try
        {
            var r = await Run(3, "DataParallelTraining", "12", checkpoint);
            var losses = r.StdoutLines.Where(l => l.StartsWith("epoch", StringComparison.Ordinal))
                .Select(l => double.Parse(l.Split("loss ")[1], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            Assert.True(losses.Length >= 2 && losses[^1] < losses[0], r.Stdout);
            Assert.Contains("weights identical on all ranks (max difference 0)", r.Stdout);
            Assert.True(File.Exists(checkpoint));
        }
        finally
        {
            File.Delete(checkpoint);
        }
    }

    [Fact]
    public async Task Hybrid_ThreadsAndRanks()
    {
        var r = await Run(2, "Hybrid");
        Assert.Contains("pi ~ 3.1415926536", r.Stdout);
        Assert.Contains("all arrived", r.Stdout);
    }
}
