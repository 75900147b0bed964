using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace SharpMpi.Run.Tests;

/// <summary>
/// CI smoke run of every benchmark verb through <c>sharpmpi bench</c> with tiny sizes and few iterations:
/// checks the output format (header lines, column count, numeric fields) and that every #wrong is 0.
/// Timings are never asserted.
/// </summary>
public class BenchSmokeTests
{
    private static readonly string[] s_ncclHeader =
    [
        "#                                                              out-of-place                       in-place",
        "#       size         count      type   redop    root     time   algbw   busbw  #wrong     time   algbw   busbw  #wrong",
        "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)             (us)  (GB/s)  (GB/s)",
    ];

    private static string BenchDll()
    {
        var dir = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        string configuration = Path.GetFileName(dir);
        string dll = Path.GetFullPath(Path.Combine(dir, "..", "..", "SharpMpi.Bench", configuration, "SharpMpi.Bench.dll"));
        Assert.True(File.Exists(dll), $"bench not built at {dll}");
        return dll;
    }

    /// <summary>Runs <c>sharpmpi bench --program BENCH verb -n ranks args...</c>.</summary>
    private static async Task<LauncherResult> Bench(int ranks, string verb, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in (string[])[Path.Combine(AppContext.BaseDirectory, "SharpMpi.Run.dll"), "bench", "--program", BenchDll(), verb,
                     "-n", ranks.ToString(CultureInfo.InvariantCulture), .. args])
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(), stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return new LauncherResult(process.ExitCode, await stdout, await stderr);
    }

    private static async Task<LauncherResult> Ok(int ranks, string verb, params string[] args)
    {
        var r = await Bench(ranks, verb, args);
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Stdout}{r.Stderr}");
        return r;
    }

    private static string[] Rows(LauncherResult r) => [.. r.StdoutLines.Where(l => !l.StartsWith('#'))];

    private static string[] Fields(string row) => row.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    private static void AssertNumber(string field, string row) =>
        Assert.True(double.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v >= 0 && !double.IsInfinity(v),
            $"'{field}' in '{row}' is not a non-negative number");

    [Theory]
    [InlineData("latency", "Latency (us)", new long[] { 0, 1, 2, 4, 8, 16, 32, 64 })]
    [InlineData("bw", "Bandwidth (MB/s)", new long[] { 1, 2, 4, 8, 16, 32, 64 })]
    [InlineData("bibw", "Bandwidth (MB/s)", new long[] { 1, 2, 4, 8, 16, 32, 64 })]
    [InlineData("multi-lat", "Latency (us)", new long[] { 0, 1, 2, 4, 8, 16, 32, 64 })]
    public async Task PointToPoint_OsuFormat(string verb, string column, long[] sizes)
    {
        string range = verb is "bw" or "bibw" ? "1:64" : "0:64";
        var r = await Ok(2, verb, "-m", range, "-i", "3", "-x", "1", "-W", "4");
        Assert.StartsWith("# OSU MPI ", r.StdoutLines[0], StringComparison.Ordinal);
        Assert.Contains($"{"# Size",-10}{column,20}", r.StdoutLines);
        string[] rows = Rows(r);
        Assert.Equal(sizes.Length, rows.Length);
        for (int i = 0; i < rows.Length; i++)
        {
            string[] f = Fields(rows[i]);
            Assert.Equal(2, f.Length);
            Assert.Equal(sizes[i], long.Parse(f[0], CultureInfo.InvariantCulture));
            AssertNumber(f[1], rows[i]);
        }
    }

    [Theory]
    [InlineData("put-latency", "lock", "allocate", "Latency (us)")]
    [InlineData("put-latency", "fence", "shared", "Latency (us)")]
    [InlineData("put-bw", "flush", "create", "Bandwidth (MB/s)")]
    [InlineData("put-bw", "lock", "create", "Bandwidth (MB/s)")]
    public async Task Put_OsuFormat(string verb, string sync, string window, string column)
    {
        // Up to 64 KiB: above the eager limit, so create windows take the pull path.
        var r = await Ok(2, verb, "-m", "1K:64K", "-i", "3", "-x", "1", "-W", "2", "-s", sync, "-w", window);
        Assert.Contains($"{"# Size",-10}{column,20}", r.StdoutLines);
        Assert.Contains(r.StdoutLines, l => l.Contains($"synchronization: {sync}", StringComparison.Ordinal));
        string[] rows = Rows(r);
        Assert.Equal(7, rows.Length);
        foreach (string row in rows)
            AssertNumber(Fields(row)[1], row);
    }

    [Fact]
    public async Task Column_VectorDatatype_OneRowPerN()
    {
        var r = await Ok(2, "column", "-m", "64:128", "-i", "3", "-x", "1");
        Assert.Contains($"{"# Size",-10}{"Latency (us)",20}", r.StdoutLines);
        string[] rows = Rows(r);
        Assert.Equal(["64", "128"], rows.Select(row => Fields(row)[0]));
        foreach (string row in rows)
            AssertNumber(Fields(row)[1], row);
    }

    [Theory]
    [InlineData("osu-allreduce", 3)]
    [InlineData("osu-allgather", 2)]
    [InlineData("osu-bcast", 3)]
    [InlineData("osu-reduce", 2)]
    [InlineData("osu-alltoall", 3)]
    [InlineData("osu-barrier", 2)]
    public async Task Collective_OsuFormat(string verb, int ranks)
    {
        var r = await Ok(ranks, verb, "-m", "4:64", "-i", "3", "-x", "1", "-f");
        bool barrier = verb == "osu-barrier";
        Assert.EndsWith("Latency Test (SharpMPI)", r.StdoutLines[0], StringComparison.Ordinal);
        Assert.Contains(r.StdoutLines, l => l.StartsWith(barrier ? "# Avg Latency(us)" : "# Size         Avg Latency(us)", StringComparison.Ordinal)
            && l.EndsWith("Min Latency(us)     Max Latency(us)  Iterations", StringComparison.Ordinal));
        string[] rows = Rows(r);
        Assert.Equal(barrier ? 1 : 5, rows.Length);   // 4, 8, 16, 32, 64
        foreach (string row in rows)
        {
            string[] f = Fields(row);
            Assert.Equal(barrier ? 4 : 5, f.Length);
            foreach (string field in f)
                AssertNumber(field, row);
            Assert.Equal("3", f[^1]);
        }
    }

    [Theory]
    [InlineData("allreduce", 3, "float", "sum")]
    [InlineData("allreduce", 2, "int64", "max")]
    [InlineData("allgather", 3, "float", "sum")]
    [InlineData("broadcast", 3, "double", "sum")]
    [InlineData("reduce", 3, "int32", "prod")]
    [InlineData("reducescatter", 3, "double", "min")]
    [InlineData("alltoall", 3, "int32", "sum")]
    [InlineData("barrier", 2, "float", "sum")]
    public async Task Collective_NcclTestsFormat(string verb, int ranks, string type, string op)
    {
        string json = Path.Combine(Path.GetTempPath(), $"sharpmpi-bench-{Guid.NewGuid():N}.json");
        try
        {
            var r = await Ok(ranks, verb, "-b", "8", "-e", "1K", "-f", "4", "--iters", "2", "-w", "1", "--dtype", type, "--op", op, "--root", "1", "--json", json);
            string[] lines = r.StdoutLines;
            string test = verb switch
            {
                "allreduce" => "all_reduce_perf",
                "allgather" => "all_gather_perf",
                "reducescatter" => "reduce_scatter_perf",
                _ => verb + "_perf",
            };
            Assert.Contains($"# Collective test starting: {test}", lines);
            Assert.Contains($"# Collective test concluded: {test}", lines);
            foreach (string header in s_ncclHeader)
                Assert.Contains(header, lines);
            Assert.Equal(ranks, lines.Count(l => l.StartsWith("#  Rank ", StringComparison.Ordinal)));
            Assert.Contains("# Out of bounds values : 0 OK", lines);
            Assert.Contains(lines, l => l.StartsWith("# Avg bus bandwidth    : ", StringComparison.Ordinal));
            string[] rows = Rows(r);
            Assert.NotEmpty(rows);
            bool reduction = verb is "allreduce" or "reduce" or "reducescatter";
            foreach (string row in rows)
            {
                string[] f = Fields(row);
                Assert.Equal(13, f.Length);
                AssertNumber(f[0], row);
                AssertNumber(f[1], row);
                Assert.Equal(type, f[2]);
                Assert.Equal(reduction ? op : "none", f[3]);
                Assert.Equal(verb is "broadcast" or "reduce" ? "1" : "-1", f[4]);
                foreach (int i in (int[])[5, 6, 7, 9, 10, 11])
                    AssertNumber(f[i], row);
                Assert.Equal("0", f[8]);    // #wrong, out of place
                Assert.Equal("0", f[12]);   // #wrong, in place
            }
            using var document = JsonDocument.Parse(File.ReadAllText(json));
            Assert.Equal(rows.Length, document.RootElement.GetProperty("results").GetArrayLength());
            Assert.Equal(0, document.RootElement.GetProperty("out_of_bounds").GetInt64());
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Fact]
    public async Task Alloc_PrintsBytesPerOperationForEveryRank()
    {
        var r = await Ok(2, "alloc", "--sends", "2000", "--allreduces", "500");
        Assert.Contains(r.StdoutLines, l => l.StartsWith("rank 0: Send/Receive 8 B: ", StringComparison.Ordinal) && l.Contains(" B/op (thread)", StringComparison.Ordinal));
        Assert.Contains(r.StdoutLines, l => l.StartsWith("rank 1: ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task BadOption_OneLineAndExitCode2()
    {
        var r = await Bench(2, "allreduce", "-e", "12X");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("SharpMpi.Bench: '12X' is not a size in bytes", r.Stderr);
        Assert.Single(r.StderrLines, l => l.StartsWith("SharpMpi.Bench:", StringComparison.Ordinal));
    }

    [Fact]
    public void Locate_FindsTheCheckoutProject()
    {
        string found = BenchCommand.LocateBench(null, baseDirectory: Path.GetTempPath(), currentDirectory: AppContext.BaseDirectory);
        Assert.EndsWith(BenchCommand.BenchProject, found.Replace('\\', '/'), StringComparison.Ordinal);
    }
}
