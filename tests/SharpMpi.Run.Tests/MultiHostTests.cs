using SharpMpi.Interop;

namespace SharpMpi.Run.Tests;

/// <summary>
/// Jobs over several "hosts" on this machine: a fake launch agent (<c>env SHARPMPI_TEST_HOST={host}</c>)
/// runs <c>sharpmpi agent</c> locally, so the whole agent path (setup over stdin, records over stdout,
/// signals, exits, no orphans) runs as it would over ssh, with native programs as ranks.
/// </summary>
public sealed class MultiHostTests
{
    private const string Sh = "/bin/sh";

    private static readonly string[] s_fakeHosts = ["--host", "hostA:2,hostB:2", "--launch-agent", "env SHARPMPI_TEST_HOST={host}", "--kvs-address", "127.0.0.1"];

    [Fact]
    public async Task TwoFakeHosts_OutputForwardedTaggedAndVariablesPerHost()
    {
        LauncherResult r = await LauncherProcess.RunAsync(
        [
            .. s_fakeHosts, "--tag-output", "-x", "GREETING=hello world",
            Sh, "-c", "echo $SHARPMPI_TEST_HOST $SHARPMPI_RANK/$SHARPMPI_SIZE node=$SHARPMPI_NODE local=$SHARPMPI_LOCAL_RANK/$SHARPMPI_LOCAL_SIZE $GREETING ${#SHARPMPI_SECRET} $SHARPMPI_KVS; echo oops >&2; printf 'no newline'",
        ]);

        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        string[] lines = [.. r.StdoutLines.Where(l => !l.Contains("no newline")).Order()];
        Assert.Equal(4, lines.Length);
        for (int rank = 0; rank < 4; rank++)
        {
            string host = rank < 2 ? "hostA" : "hostB";
            Assert.StartsWith($"[{rank}] {host} {rank}/4 node={rank / 2} local={rank % 2}/2 hello world 64 127.0.0.1:", lines[rank]);
        }
        Assert.Equal(4, r.StdoutLines.Count(l => l.EndsWith("] no newline")));
        Assert.Equal(["[0] oops", "[1] oops", "[2] oops", "[3] oops"], r.StderrLines.Order());
    }

    [Fact]
    public async Task MapByNode_AlternatesHosts()
    {
        LauncherResult r = await LauncherProcess.RunAsync([.. s_fakeHosts, "--map-by", "node", "-n", "3", Sh, "-c", "echo $SHARPMPI_RANK $SHARPMPI_TEST_HOST"]);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Equal(["0 hostA", "1 hostB", "2 hostA"], r.StdoutLines.Order());
    }

    [Fact]
    public async Task RemoteRankExitsWithCode3_JobExits3_NamesRankAndHost_StopsEveryRank()
    {
        using LauncherProcess launcher = LauncherProcess.Start(
            [.. s_fakeHosts, Sh, "-c", "echo pid $$; if [ $SHARPMPI_RANK = 3 ]; then sleep 0.5; exit 3; fi; exec sleep 60"]);
        LauncherResult r = await launcher.WaitAsync();
        int[] pids = [.. r.StdoutLines.Where(l => l.StartsWith("pid ")).Select(l => int.Parse(l[4..]))];
        foreach (int pid in pids)
            launcher.Track(pid);

        Assert.Equal(3, r.ExitCode);
        Assert.Contains(r.StderrLines, l => l.StartsWith("sharpmpi: rank 3 (pid ") && l.EndsWith(" on hostB) exited with code 3"));
        Assert.Equal(4, pids.Length);
        foreach (int pid in pids)
            Assert.True(await ProcessProbe.WaitGoneAsync(pid), $"rank pid {pid} still running");
    }

    [Fact]
    public async Task RemoteRankKilledBySignal_Exits137()
    {
        LauncherResult r = await LauncherProcess.RunAsync([.. s_fakeHosts, Sh, "-c", "if [ $SHARPMPI_RANK = 2 ]; then kill -9 $$; fi; exec sleep 60"]);
        Assert.Equal(137, r.ExitCode);
        Assert.Contains(r.StderrLines, l => l.StartsWith("sharpmpi: rank 2 (pid ") && l.EndsWith(" on hostB) killed by signal 9 (SIGKILL)"));
    }

    [Fact]
    public async Task AgentCannotReachHost_FailsNamingHost()
    {
        // An agent command that fails the way ssh does for an unknown host.
        LauncherResult r = await LauncherProcess.RunAsync(
            "--host", "localhost:1,nowhere:1", "--launch-agent", "/bin/sh -c 'echo cannot reach $0 >&2; exit 255' {host}", "--kvs-address", "127.0.0.1",
            Sh, "-c", "exec sleep 60");
        Assert.Equal(255, r.ExitCode);
        Assert.Contains("cannot reach nowhere", r.Stderr);
        Assert.Contains("sharpmpi: the agent for host nowhere ended (exit code 255) before rank(s) 1 finished", r.Stderr);
        Assert.Contains(r.StderrLines, l => l.StartsWith("sharpmpi: rank 1 (on nowhere) exited with code 255"));
    }

    [Fact]
    public async Task LaunchAgentWithoutStdin_AgentSaysSo()
    {
        // An agent command that does not pass stdin through (as kubectl exec without -i).
        LauncherResult r = await LauncherProcess.RunAsync(
            "--host", "hostA:1", "--launch-agent", "/bin/sh -c 'shift; exec \"$@\" </dev/null' agent {host}", "--kvs-address", "127.0.0.1", "/bin/true");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("stdin ended before the launcher's setup arrived", r.Stderr);
        Assert.Contains("sharpmpi: the agent for host hostA ended (exit code 1) before rank(s) 0 finished", r.Stderr);
    }

    [Fact]
    public async Task LaunchAgentNotFound_OneLineExit1()
    {
        LauncherResult r = await LauncherProcess.RunAsync("--host", "far:1", "--launch-agent", "/no/such/agent {host}", "--kvs-address", "127.0.0.1", "/bin/true");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(r.StderrLines, l => l.StartsWith("sharpmpi: cannot start the launch agent for host far (/no/such/agent):"));
    }

    [Fact]
    public async Task SigtermToLauncher_RemoteRanksTerminated()
    {
        using LauncherProcess launcher = LauncherProcess.Start([.. s_fakeHosts, Sh, "-c", "echo pid $$; exec sleep 60"]);
        string[] lines = await launcher.WaitForLinesAsync("pid ", 4);
        int[] pids = [.. lines.Select(l => int.Parse(l[4..]))];
        foreach (int pid in pids)
            launcher.Track(pid);

        launcher.Signal(Signals.Terminate);
        LauncherResult r = await launcher.WaitAsync();

        Assert.Equal(143, r.ExitCode);
        foreach (int pid in pids)
            Assert.True(await ProcessProbe.WaitGoneAsync(pid), $"rank pid {pid} still running");
    }

    [Fact]
    public async Task LauncherKilled_AgentsKillTheirRanks_NoOrphans()
    {
        using LauncherProcess launcher = LauncherProcess.Start([.. s_fakeHosts, Sh, "-c", "echo pid $$; exec sleep 60"]);
        string[] lines = await launcher.WaitForLinesAsync("pid ", 4);
        int[] pids = [.. lines.Select(l => int.Parse(l[4..]))];
        foreach (int pid in pids)
            launcher.Track(pid);

        // SIGKILL: the launcher cannot clean up; the agents see their stdin end and kill their ranks.
        LinuxNative.Kill(launcher.Pid, Signals.Kill);

        foreach (int pid in pids)
            Assert.True(await ProcessProbe.WaitGoneAsync(pid), $"rank pid {pid} outlived its launcher");
    }

    [Fact]
    public async Task OutputFilename_RemoteRanksWrittenToo()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"sharpmpi-out-{Guid.NewGuid():N}");
        try
        {
            LauncherResult r = await LauncherProcess.RunAsync([.. s_fakeHosts, "--output-filename", dir, Sh, "-c", "echo out $SHARPMPI_RANK; echo err $SHARPMPI_RANK >&2"]);
            Assert.Equal(0, r.ExitCode);
            for (int rank = 0; rank < 4; rank++)
            {
                Assert.Equal($"out {rank}\n", File.ReadAllText(Path.Combine(dir, $"rank.{rank}", "stdout")));
                Assert.Equal($"err {rank}\n", File.ReadAllText(Path.Combine(dir, $"rank.{rank}", "stderr")));
            }
        }
        finally
        {
            if (Directory.Exists(dir))
                Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task SharpMpiJob_AllRanksOnOneRemoteHost_RunsOverSharedMemoryThroughTheAgent()
    {
        string app = TestAppPath.Dll;
        Assert.True(File.Exists(app), $"test app not built at {app}");
        LauncherResult r = await LauncherProcess.RunAsync(
            "--host", "hostA:3", "--launch-agent", "env SHARPMPI_TEST_HOST={host}", "--kvs-address", "127.0.0.1", app, "allpairs");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("OK allpairs", r.Stdout);
        string jobId = r.StdoutLines.First(l => l.StartsWith("jobid=", StringComparison.Ordinal))["jobid=".Length..];
        Assert.Empty(Directory.GetFiles("/dev/shm", $"sharpmpi.{jobId}.*"));
    }

    [Fact]
    public void LaunchAgent_TemplatesAndQuoting()
    {
        static string? None(string _) => null;
        var ssh = LaunchAgent.Choose(null, None);
        Assert.Equal(["ssh", "-o", "BatchMode=yes", "n1", "dotnet", "'a b'", "'it'\\''s'"], ssh.CommandFor("n1", ["dotnet", "a b", "it's"]));

        var kubectl = LaunchAgent.Choose("kubectl exec {host} --", None);
        Assert.Equal(["kubectl", "exec", "-i", "pod-1", "--", "dotnet", "a b"], kubectl.CommandFor("pod-1", ["dotnet", "a b"]));
        var kubectlStdin = LaunchAgent.Choose("kubectl -n ns exec --stdin {host} --", None);
        Assert.Equal(["kubectl", "-n", "ns", "exec", "--stdin", "pod-1", "--"], kubectlStdin.CommandFor("pod-1", []));

        var slurm = LaunchAgent.Choose(null, v => v == "SLURM_JOB_ID" ? "42" : null);
        Assert.Equal(["srun", "--nodes=1", "--ntasks=1", "-w", "n2", "x"], slurm.CommandFor("n2", ["x"]));

        var rsh = LaunchAgent.Choose(null, v => v switch { "OMPI_MCA_plm_rsh_agent" => "/etc/mpi/kubexec.sh", "SLURM_JOB_ID" => "42", _ => null });
        Assert.Equal(["/etc/mpi/kubexec.sh", "w-0", "'a b'"], rsh.CommandFor("w-0", ["a b"]));

        var sshArgs = LaunchAgent.Choose(null, v => v == "OMPI_MCA_plm_rsh_args" ? "-o ConnectionAttempts=10" : null);
        Assert.Equal(["ssh", "-o", "ConnectionAttempts=10", "-o", "BatchMode=yes", "n1"], sshArgs.CommandFor("n1", []));

        Assert.Throws<UsageException>(() => LaunchAgent.Choose("ssh 'unclosed {host}", None));
    }
}

/// <summary>Where the SharpMpi.TestApp build sits next to this test project's.</summary>
internal static class TestAppPath
{
    public static string Dll
    {
        get
        {
            var dir = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
            string configuration = Path.GetFileName(dir);
            return Path.GetFullPath(Path.Combine(dir, "..", "..", "SharpMpi.TestApp", configuration, "SharpMpi.TestApp.dll"));
        }
    }
}
