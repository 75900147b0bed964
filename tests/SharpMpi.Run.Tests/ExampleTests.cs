namespace SharpMpi.Run.Tests;

/// <summary>Runs every example through the launcher and checks the result it prints.</summary>
public class ExampleTests
{
    private static string Example(string name)
    {
        var dir = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        string configuration = Path.GetFileName(dir);
        string dll = Path.GetFullPath(Path.Combine(dir, "..", "..", name, configuration, name + ".dll"));
        Assert.True(File.Exists(dll), $"example not built at {dll}");
        return dll;
    }

    private static async Task<LauncherResult> Run(int ranks, string example, params string[] args)
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
}
