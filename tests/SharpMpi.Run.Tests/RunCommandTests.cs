namespace SharpMpi.Run.Tests;

/// <summary>End-to-end: the real launcher with native programs (/bin/sh) as ranks.</summary>
public sealed class RunCommandTests
{
    private const string Sh = "/bin/sh";

    [Fact]
    public async Task Run_AllRanksExitZero_ExitsZeroWithEveryRanksOutput()
    {
        LauncherResult r = await LauncherProcess.RunAsync("-n", "3", Sh, "-c", "echo rank $SHARPMPI_RANK of $SHARPMPI_SIZE");

        Assert.Equal(0, r.ExitCode);
        Assert.Equal(["rank 0 of 3", "rank 1 of 3", "rank 2 of 3"], r.StdoutLines.Order());
        Assert.Empty(r.Stderr);
    }

    [Fact]
    public async Task Run_RankSetsLauncherVariables_AllPresentAndConsistent()
    {
        LauncherResult r = await LauncherProcess.RunAsync("-n", "2", Sh, "-c",
            "echo $SHARPMPI_RANK $SHARPMPI_SIZE $SHARPMPI_LOCAL_RANK $SHARPMPI_LOCAL_SIZE $SHARPMPI_NODE $SHARPMPI_JOBID $SHARPMPI_KVS ${#SHARPMPI_SECRET}");

        Assert.Equal(0, r.ExitCode);
        string[][] fields = [.. r.StdoutLines.Order().Select(l => l.Split(' '))];
        Assert.Equal(2, fields.Length);
        for (int rank = 0; rank < 2; rank++)
        {
            Assert.Equal([$"{rank}", "2", $"{rank}", "2", "0"], fields[rank][..5]);
            Assert.Matches("^[0-9a-f]{12}$", fields[rank][5]);
            Assert.Matches(@"^127\.0\.0\.1:\d+$", fields[rank][6]);
            Assert.Equal("64", fields[rank][7]);
        }
        Assert.Equal(fields[0][5..], fields[1][5..]);
    }

    [Fact]
    public async Task Run_RankExitsWithCode3_ExitsWith3NamesRankAndStopsSleepingRank()
    {
        using LauncherProcess launcher = LauncherProcess.Start(
            ["-n", "2", Sh, "-c", "echo pid $$; if [ $SHARPMPI_RANK = 1 ]; then exit 3; fi; exec sleep 60"]);
        LauncherResult r = await launcher.WaitAsync();
        int[] pids = [.. r.StdoutLines.Where(l => l.StartsWith("pid ")).Select(l => int.Parse(l[4..]))];
        foreach (int pid in pids)
            launcher.Track(pid);

        Assert.Equal(3, r.ExitCode);
        Assert.Contains(r.StderrLines, l => l.StartsWith("sharpmpi: rank 1 (pid ") && l.EndsWith(") exited with code 3"));
        Assert.Equal(2, pids.Length);
        foreach (int pid in pids)
            Assert.True(await ProcessProbe.WaitGoneAsync(pid), $"rank pid {pid} still running");
    }

    [Fact]
    public async Task Run_RankKilledBySignal9_Exits137AndNamesSignal()
    {
        LauncherResult r = await LauncherProcess.RunAsync("-n", "2", Sh, "-c", "if [ $SHARPMPI_RANK = 1 ]; then kill -9 $$; fi; exec sleep 60");

        Assert.Equal(137, r.ExitCode);
        Assert.Contains(r.StderrLines, l => l.StartsWith("sharpmpi: rank 1 (pid ") && l.EndsWith(") killed by signal 9 (SIGKILL)"));
    }

    [Fact]
    public async Task Run_TimeoutExpires_KillsJobAndExits110()
    {
        LauncherResult r = await LauncherProcess.RunAsync("--timeout", "1", "-n", "2", "sleep", "30");

        Assert.Equal(110, r.ExitCode);
        Assert.Contains("sharpmpi: job timed out after 1 s", r.StderrLines);
    }

    [Fact]
    public async Task Run_ExportOptions_PassVariablesToEveryRank()
    {
        using LauncherProcess launcher = LauncherProcess.Start(
            ["-n", "2", "-x", "A=1", "-x", "INHERITED", "-genv", "B", "two words", Sh, "-c", "echo \"$A|$INHERITED|$B\""],
            environment: new Dictionary<string, string> { ["INHERITED"] = "from launcher" });
        LauncherResult r = await launcher.WaitAsync();

        Assert.Equal(0, r.ExitCode);
        Assert.Equal(["1|from launcher|two words", "1|from launcher|two words"], r.StdoutLines);
    }

    [Fact]
    public async Task Run_TagOutput_PrefixesEveryLineWithRank()
    {
        LauncherResult r = await LauncherProcess.RunAsync("-n", "2", "--tag-output", Sh, "-c", "echo out; echo err >&2; printf tail");

        Assert.Equal(0, r.ExitCode);
        Assert.Equal(["[0] out", "[0] tail", "[1] out", "[1] tail"], r.StdoutLines.Order());
        Assert.Equal(["[0] err", "[1] err"], r.StderrLines.Order());
    }

    [Fact]
    public async Task Run_Stdin_ReachesRank0Only()
    {
        using LauncherProcess launcher = LauncherProcess.Start(
            ["-n", "2", Sh, "-c", "while read line; do echo \"$SHARPMPI_RANK got $line\"; done; echo \"$SHARPMPI_RANK eof\""],
            stdin: "alpha\nbeta\n");
        LauncherResult r = await launcher.WaitAsync();

        Assert.Equal(0, r.ExitCode);
        Assert.Equal(["0 eof", "0 got alpha", "0 got beta", "1 eof"], r.StdoutLines.Order());
    }

    [Fact]
    public async Task Run_LongLinesFromFourRanks_NeverInterleave()
    {
        const int Length = 50_000, Lines = 40;
        LauncherResult r = await LauncherProcess.RunAsync("-n", "4", "awk",
            $"BEGIN {{ r = ENVIRON[\"SHARPMPI_RANK\"]; s = \"\"; for (i = 0; i < {Length}; i++) s = s r; for (j = 0; j < {Lines}; j++) print s }}");

        Assert.Equal(0, r.ExitCode);
        string[] lines = r.StdoutLines;
        Assert.Equal(4 * Lines, lines.Length);
        foreach (string line in lines)
        {
            Assert.Equal(Length, line.Length);
            Assert.True(line.AsSpan().IndexOfAnyExcept(line[0]) < 0, "a line mixes output of several ranks");
        }
    }

    [Fact]
    public async Task Run_OutputFilename_WritesEachRanksStreamsToFiles()
    {
        string dir = Directory.CreateTempSubdirectory("sharpmpi-test-").FullName;
        try
        {
            LauncherResult r = await LauncherProcess.RunAsync("-n", "2", "--output-filename", dir, Sh, "-c", "echo out $SHARPMPI_RANK; echo err $SHARPMPI_RANK >&2");

            Assert.Equal(0, r.ExitCode);
            for (int rank = 0; rank < 2; rank++)
            {
                Assert.Equal($"out {rank}\n", File.ReadAllText(Path.Combine(dir, $"rank.{rank}", "stdout")));
                Assert.Equal($"err {rank}\n", File.ReadAllText(Path.Combine(dir, $"rank.{rank}", "stderr")));
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("sharpmpi: program 'no-such-program-anywhere' not found", "-n", "2", "no-such-program-anywhere")]
    [InlineData("sharpmpi: the number of ranks must be at least 1 (got -n 0)", "-n", "0", "/bin/true")]
    [InlineData("sharpmpi: the number of ranks must be at least 1 (got -n -3)", "-n", "-3", "/bin/true")]
    [InlineData("sharpmpi: unknown option '--frobnicate'", "--frobnicate", "-n", "2", "/bin/true")]
    [InlineData("sharpmpi: unknown option '--frobnicate'", "-n", "2", "--frobnicate", "/bin/true")]
    [InlineData("sharpmpi: no program given (usage: sharpmpi run -n N program [args...])", "-n", "2")]
    public async Task Run_BadInput_PrintsOneLineAndExits1(string expected, params string[] arguments)
    {
        LauncherResult r = await LauncherProcess.RunAsync(arguments);

        Assert.Equal(1, r.ExitCode);
        Assert.Equal([expected], r.StderrLines);
        Assert.Empty(r.Stdout);
    }

    [Fact]
    public async Task Run_ArgumentsAfterProgram_PassedThroughUnparsed()
    {
        LauncherResult r = await LauncherProcess.RunAsync("-n", "1", Sh, "-c", "printf '%s\\n' \"$*\"", "sh", "-n", "5", "--tag-output", "--frobnicate");

        Assert.Equal(0, r.ExitCode);
        Assert.Equal(["-n 5 --tag-output --frobnicate"], r.StdoutLines);
    }

    [Fact]
    public async Task Run_SigtermToLauncher_TerminatesRanksAndExits143()
    {
        using LauncherProcess launcher = LauncherProcess.Start(["-n", "2", Sh, "-c", "echo pid $$; exec sleep 60"]);
        string[] pidLines = await launcher.WaitForLinesAsync("pid ", 2);
        int[] pids = [.. pidLines.Select(l => int.Parse(l[4..]))];
        foreach (int pid in pids)
            launcher.Track(pid);

        launcher.Signal(15);
        LauncherResult r = await launcher.WaitAsync();

        Assert.Equal(143, r.ExitCode);
        foreach (int pid in pids)
            Assert.True(await ProcessProbe.WaitGoneAsync(pid), $"rank pid {pid} survived the launcher");
    }

    [Fact]
    public async Task Run_SigintAndSigusr1ToLauncher_ForwardedToRanksThenExits130()
    {
        using LauncherProcess launcher = LauncherProcess.Start(["-n", "2", Sh, "-c",
            "trap 'echo usr1 $SHARPMPI_RANK' USR1; trap 'echo int $SHARPMPI_RANK; exit 0' INT; echo pid $$; while :; do sleep 1 & wait $!; done"]);
        foreach (string line in await launcher.WaitForLinesAsync("pid ", 2))
            launcher.Track(int.Parse(line[4..]));

        launcher.Signal(10);
        await launcher.WaitForLinesAsync("usr1 ", 2);
        launcher.Signal(2);
        LauncherResult r = await launcher.WaitAsync();

        Assert.Equal(130, r.ExitCode);
        Assert.Equal(["int 0", "int 1"], r.StdoutLines.Where(l => l.StartsWith("int ")).Order());
    }

    [Fact]
    public async Task Run_JobLeavesSharedMemorySegments_LauncherRemovesThem()
    {
        LauncherResult r = await LauncherProcess.RunAsync("-n", "2", Sh, "-c",
            "touch /dev/shm/sharpmpi.$SHARPMPI_JOBID.rank$SHARPMPI_RANK; echo $SHARPMPI_JOBID; exit $SHARPMPI_RANK");

        Assert.Equal(1, r.ExitCode);
        string jobId = r.StdoutLines.Distinct().Single();
        Assert.Empty(Directory.GetFiles("/dev/shm", $"sharpmpi.{jobId}.*"));
    }

    [Fact]
    public async Task Run_RankLeavesBackgroundChild_ChildIsKilledAtJobEnd()
    {
        using LauncherProcess launcher = LauncherProcess.Start(["-n", "1", Sh, "-c", "sleep 60 & echo child $!"]);
        LauncherResult r = await launcher.WaitAsync();
        int child = int.Parse(r.StdoutLines.Single()[6..]);
        launcher.Track(child);

        Assert.Equal(0, r.ExitCode);
        Assert.True(await ProcessProbe.WaitGoneAsync(child), "a rank's background child outlived the job");
    }
}
