using System.Diagnostics;
using System.Text.Json;

namespace SharpMpi.Run.Tests;

/// <summary>
/// --trace, --profile and the deadlock detector on real jobs of the SharpMpi.DiagnosticsApp scenarios.
/// Every job runs under <see cref="LauncherProcess.Limit"/> and is killed at the end of its test.
/// </summary>
public class DiagnosticsTests
{
    private static string App
    {
        get
        {
            var dir = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
            string configuration = Path.GetFileName(dir);
            string dll = Path.GetFullPath(Path.Combine(dir, "..", "..", "SharpMpi.DiagnosticsApp", configuration, "SharpMpi.DiagnosticsApp.dll"));
            Assert.True(File.Exists(dll), $"diagnostics app not built at {dll}");
            return dll;
        }
    }

    private static Task<LauncherResult> Run(int ranks, string[] options, params string[] scenario) =>
        LauncherProcess.RunAsync(["-n", ranks.ToString(), .. options, App, .. scenario]);

    private static string TempFile(string name) =>
        Path.Combine(Directory.CreateTempSubdirectory("sharpmpi-diag-test-").FullName, name);

    [Fact]
    public async Task Trace_PingPong_IsChromeJsonWithMatchedSendReceiveFlows()
    {
        string trace = TempFile("trace.json");
        try
        {
            var r = await Run(2, ["--trace", trace, "--no-deadlock-detection"], "pingpong", "10");
            Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Stdout}{r.Stderr}");

            using var doc = JsonDocument.Parse(File.ReadAllBytes(trace));
            var events = doc.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
            string Ph(JsonElement e) => e.GetProperty("ph").GetString()!;
            string Name(JsonElement e) => e.GetProperty("name").GetString()!;
            int Pid(JsonElement e) => e.GetProperty("pid").GetInt32();

            Assert.Contains(events, e => Ph(e) == "M" && Name(e) == "process_name" && Pid(e) == 1
                && e.GetProperty("args").GetProperty("name").GetString()!.StartsWith("rank 1", StringComparison.Ordinal));
            var slices = events.Where(e => Ph(e) == "X").ToList();
            Assert.Equal(10, slices.Count(e => Name(e) == "Send" && Pid(e) == 0));
            Assert.Equal(10, slices.Count(e => Name(e) == "Receive" && Pid(e) == 1));
            var send = slices.First(e => Name(e) == "Send" && Pid(e) == 0);
            Assert.Equal(1, send.GetProperty("args").GetProperty("peer").GetInt32());
            Assert.Equal(7, send.GetProperty("args").GetProperty("tag").GetInt32());
            Assert.Equal(128, send.GetProperty("args").GetProperty("bytes").GetInt64());

            var starts = events.Where(e => Ph(e) == "s").ToList();
            var finishes = events.Where(e => Ph(e) == "f").ToDictionary(e => e.GetProperty("id").GetInt32());
            Assert.Equal(20, starts.Count);
            foreach (var s in starts)
            {
                var f = finishes[s.GetProperty("id").GetInt32()];
                Assert.NotEqual(Pid(s), Pid(f));
                // The arrow ends no earlier than it starts (one clock on one host).
                Assert.True(f.GetProperty("ts").GetDouble() >= s.GetProperty("ts").GetDouble() - 1);
            }
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(trace)!, recursive: true);
        }
    }

    [Fact]
    public async Task Profile_CountsEqualTheCallsMade()
    {
        string json = TempFile("profile.json");
        try
        {
            var r = await Run(2, ["--profile", "--profile-json", json], "counted");
            Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Stdout}{r.Stderr}");
            Assert.Contains("@ sharpmpi profile", r.Stderr);
            Assert.Contains("@--- MPI Time (seconds)", r.Stderr);

            using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
            var counts = doc.RootElement.GetProperty("calls").EnumerateArray()
                .ToDictionary(c => c.GetProperty("call").GetString()!, c => c.GetProperty("count").GetInt64());
            // Two ranks, each: 3 Send, 3 Receive, 2 Barrier, 4 Allreduce, 1 Broadcast, 1 ISend, 1 IReceive, 2 Wait, Finalize.
            Assert.Equal(6, counts["Send"]);
            Assert.Equal(6, counts["Receive"]);
            Assert.Equal(4, counts["Barrier"]);
            Assert.Equal(8, counts["Allreduce"]);
            Assert.Equal(2, counts["Broadcast"]);
            Assert.Equal(2, counts["ISend"]);
            Assert.Equal(2, counts["IReceive"]);
            Assert.Equal(4, counts["Wait"]);
            Assert.Equal(2, counts["Finalize"]);
            var bytes = doc.RootElement.GetProperty("calls").EnumerateArray().First(c => c.GetProperty("call").GetString() == "Send");
            Assert.Equal(6 * 400, bytes.GetProperty("bytes").GetInt64());
            var ranks = doc.RootElement.GetProperty("ranks").EnumerateArray().ToList();
            Assert.Equal(2, ranks.Count);
            Assert.All(ranks, rank => Assert.InRange(rank.GetProperty("mpiPercent").GetDouble(), 0, 100));
            Assert.Contains(doc.RootElement.GetProperty("sites").EnumerateArray(),
                s => s.GetProperty("site").GetString()!.Contains("Program.cs", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(json)!, recursive: true);
        }
    }

    [Fact]
    public async Task Trace_CollectivesProbesObjectsPersistentAndRma_AreRecordedWithBytesAndOp()
    {
        string trace = TempFile("trace.json");
        try
        {
            var r = await Run(2, ["--trace", trace, "--no-deadlock-detection"], "calls");
            Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Stdout}{r.Stderr}");

            using var doc = JsonDocument.Parse(File.ReadAllBytes(trace));
            var events = doc.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
            var slices = events.Where(e => e.GetProperty("ph").GetString() == "X").ToList();
            JsonElement Args(string name, int pid) =>
                slices.First(e => e.GetProperty("name").GetString() == name && e.GetProperty("pid").GetInt32() == pid).GetProperty("args");
            int Count(string name, int pid) =>
                slices.Count(e => e.GetProperty("name").GetString() == name && e.GetProperty("pid").GetInt32() == pid);

            foreach (int rank in new[] { 0, 1 })
            {
                var allreduce = Args("Allreduce", rank);
                Assert.Equal(64, allreduce.GetProperty("bytes").GetInt64());
                Assert.Equal("Sum", allreduce.GetProperty("op").GetString());
                Assert.Equal(400, Args("Broadcast", rank).GetProperty("bytes").GetInt64());
                Assert.Equal(0, Args("Broadcast", rank).GetProperty("root").GetInt32());
                var iallreduce = Args("IAllreduce", rank);
                Assert.Equal("lambda", iallreduce.GetProperty("op").GetString());
                Assert.Equal(64, iallreduce.GetProperty("bytes").GetInt64());
                Assert.Equal(2, Count("Start", rank));
                Assert.Equal(3, Count("Fence", rank));
                Assert.Equal(8, Args("Put", rank).GetProperty("bytes").GetInt64());
                Assert.Equal(1 - rank, Args("Get", rank).GetProperty("peer").GetInt32());
            }
            Assert.True(Count("TryProbe", 1) >= 1);
            Assert.Equal(40, Args("MatchedProbe", 1).GetProperty("receivedBytes").GetInt64());
            // Matched and object receives end the arrows of the sends they took, as do the persistent receives'
            // Waits: Send, SendObject (as a Send) and the two persistent Starts of rank 0, four arrows in all.
            var received = Args("MatchedReceive", 1);
            Assert.Equal(0, received.GetProperty("source").GetInt32());
            Assert.Equal(6, Args("ReceiveObject", 1).GetProperty("receivedTag").GetInt32());
            var starts = events.Where(e => e.GetProperty("ph").GetString() == "s").ToList();
            var finishes = events.Where(e => e.GetProperty("ph").GetString() == "f").Select(e => e.GetProperty("id").GetInt32()).ToHashSet();
            Assert.Equal(4, starts.Count);
            Assert.All(starts, s => Assert.Contains(s.GetProperty("id").GetInt32(), finishes));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(trace)!, recursive: true);
        }
    }

    [Fact]
    public async Task Profile_CollectiveBytesAreCounted()
    {
        string json = TempFile("profile.json");
        try
        {
            var r = await Run(2, ["--profile-json", json, "--no-deadlock-detection"], "calls");
            Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Stdout}{r.Stderr}");
            using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
            var calls = doc.RootElement.GetProperty("calls").EnumerateArray()
                .ToDictionary(c => c.GetProperty("call").GetString()!, c => (Count: c.GetProperty("count").GetInt64(), Bytes: c.GetProperty("bytes").GetInt64()));
            Assert.Equal((2L, 128L), calls["Allreduce"]);
            Assert.Equal((2L, 800L), calls["Broadcast"]);
            Assert.Equal(2L, calls["IAllreduce"].Count);
            Assert.Equal(4L, calls["Start"].Count);
            Assert.Equal(6L, calls["Fence"].Count);
            Assert.Equal(1L, calls["MatchedReceive"].Count);
            Assert.Equal(1L, calls["ReceiveObject"].Count);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(json)!, recursive: true);
        }
    }

    private static async Task<LauncherResult> Deadlocked(params string[] scenario)
    {
        var clock = Stopwatch.StartNew();
        var r = await Run(2, ["--deadlock-timeout", "2"], scenario);
        Assert.True(r.ExitCode == 112, $"exit {r.ExitCode}: {r.Stdout}{r.Stderr}");
        Assert.Contains("sharpmpi: deadlock: every rank is blocked", r.Stderr);
        // Blocked reports after 1 s, 2 s without change, then the grace period at most.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
        return r;
    }

    [Fact]
    public async Task Deadlock_SendSend_IsReportedWithTheCycle()
    {
        var r = await Deadlocked("sendsend");
        Assert.Contains("rank 0 waits in Send(dest 1, tag 0, 4 MiB)", r.Stderr);
        Assert.Contains("rank 1 waits in Send(dest 0, tag 0, 4 MiB)", r.Stderr);
        Assert.Contains("wait-for cycle: rank 0 -> rank 1 -> rank 0", r.Stderr);
    }

    [Fact]
    public async Task Deadlock_ReceiveFromARankThatNeverSends_IsReported()
    {
        var r = await Deadlocked("neversent");
        Assert.Contains("rank 1 waits in Receive(source 0, tag 5, 4 B)", r.Stderr);
        Assert.Contains("rank 0 waits in Finalize", r.Stderr);
    }

    [Fact]
    public async Task Deadlock_CollectiveMismatch_IsReported()
    {
        var r = await Deadlocked("collmismatch");
        Assert.Contains("collective mismatch on World", r.Stderr);
        Assert.Contains("rank 0 is in Barrier", r.Stderr);
        Assert.Contains("rank 1 is in Allreduce", r.Stderr);
    }

    [Fact]
    public async Task Deadlock_NotReportedWhileARankComputes()
    {
        // Rank 0 waits in Receive for 4 s, longer than both the report threshold and the timeout.
        var r = await Run(2, ["--deadlock-timeout", "1"], "slow", "4");
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Stdout}{r.Stderr}");
        Assert.DoesNotContain("deadlock", r.Stderr);
        Assert.Contains("OK slow", r.Stdout);
    }

    [Fact]
    public async Task DeadlockExample_IsDetected()
    {
        var dir = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        string dll = Path.GetFullPath(Path.Combine(dir, "..", "..", "Deadlock", Path.GetFileName(dir), "Deadlock.dll"));
        var r = await LauncherProcess.RunAsync(["-n", "2", "--deadlock-timeout", "2", dll]);
        Assert.Equal(112, r.ExitCode);
        Assert.Contains("wait-for cycle", r.Stderr);
        var ok = await LauncherProcess.RunAsync(["-n", "2", dll, "fixed"]);
        Assert.True(ok.ExitCode == 0, ok.Stderr);
        Assert.Contains("rank 0: exchanged 4194304 bytes", ok.Stdout);
    }
}
