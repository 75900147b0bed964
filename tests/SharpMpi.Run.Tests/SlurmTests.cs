using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using SharpMpi.Bootstrap;

namespace SharpMpi.Run.Tests;

/// <summary>
/// Ranks started without our launcher and without PMI (Slurm's or Open MPI's variables only: the file
/// store under /dev/shm), and real <c>srun</c> jobs on a single-node Slurm this test starts and stops.
/// </summary>
public sealed class SlurmTests
{
    [Fact]
    public async Task SlurmVariablesWithoutPmi_OneNode_FileStoreJobRuns_AndDirectoryIsRemoved()
    {
        string job = $"t{Environment.ProcessId}{Random.Shared.Next(100000)}";
        (int code, string stdout, string stderr)[] results = await ExternalRanks.RunAsync(3, r => new()
        {
            ["SLURM_PROCID"] = $"{r}",
            ["SLURM_LOCALID"] = $"{r}",
            ["SLURM_NTASKS"] = "3",
            ["SLURM_STEP_NUM_NODES"] = "1",
            ["SLURM_JOB_ID"] = job,
            ["SLURM_STEP_ID"] = "0",
        }, "sizes", "0,1,1000,100000");
        foreach ((int code, string stdout, string stderr) in results)
            Assert.True(code == 0, stdout + stderr);
        Assert.Contains("OK sizes", results[0].stdout);
        ExternalRanks.AssertNoSharedMemoryLeft(results[0].stdout);
        Assert.False(Directory.Exists($"/dev/shm/sharpmpi-kvs.{job}.0"), "file store directory left behind");
    }

    [Fact]
    public async Task OpenMpiVariables_OneNode_FileStoreJobRuns()
    {
        string ns = $"prterun-test-{Environment.ProcessId}-{Random.Shared.Next(100000)}@1";
        (int code, string stdout, string stderr)[] results = await ExternalRanks.RunAsync(2, r => new()
        {
            ["OMPI_COMM_WORLD_RANK"] = $"{r}",
            ["OMPI_COMM_WORLD_SIZE"] = "2",
            ["OMPI_COMM_WORLD_LOCAL_RANK"] = $"{r}",
            ["OMPI_COMM_WORLD_LOCAL_SIZE"] = "2",
            ["PMIX_NAMESPACE"] = ns,
        }, "sizes", "0,10,100000");
        foreach ((int code, string stdout, string stderr) in results)
            Assert.True(code == 0, stdout + stderr);
        Assert.Contains("OK sizes", results[0].stdout);
        ExternalRanks.AssertNoSharedMemoryLeft(results[0].stdout);
    }

    [Fact]
    public void SlurmWithoutPmi_SeveralNodes_AsksForPmi2()
    {
        var vars = new Dictionary<string, string>
        {
            ["SLURM_PROCID"] = "0",
            ["SLURM_NTASKS"] = "4",
            ["SLURM_STEP_NUM_NODES"] = "2",
            ["SLURM_JOB_ID"] = "5",
            ["SLURM_STEP_ID"] = "0",
        };
        var e = Assert.Throws<InvalidOperationException>(() => BootstrapSource.Detect(vars.GetValueOrDefault));
        Assert.Contains("srun --mpi=pmi2", e.Message);
    }

    [Fact]
    public void SlurmBatchStep_WithoutStepId_IsASingleton()
    {
        // The batch script itself has SLURM_PROCID but no step: a program run there is a job of one.
        var vars = new Dictionary<string, string> { ["SLURM_PROCID"] = "0", ["SLURM_NTASKS"] = "4", ["SLURM_JOB_ID"] = "5" };
        Assert.Null(BootstrapSource.Detect(vars.GetValueOrDefault));
    }

    [Fact]
    public void LauncherVariables_WinOverPmiAndSlurm()
    {
        // SHARPMPI_* present: the launcher's store is used (here unreachable, so the error names it).
        var vars = new Dictionary<string, string>
        {
            ["SHARPMPI_RANK"] = "0",
            ["SHARPMPI_SIZE"] = "1",
            ["SHARPMPI_LOCAL_RANK"] = "0",
            ["SHARPMPI_LOCAL_SIZE"] = "1",
            ["SHARPMPI_NODE"] = "0",
            ["SHARPMPI_KVS"] = "127.0.0.1:1",
            ["SHARPMPI_JOBID"] = "abc",
            ["SHARPMPI_SECRET"] = new string('a', 64),
            ["PMI_PORT"] = "127.0.0.1:2",
            ["SLURM_PROCID"] = "0",
            ["SLURM_STEP_ID"] = "0",
        };
        var e = Assert.Throws<IOException>(() => BootstrapSource.Detect(vars.GetValueOrDefault));
        Assert.Contains("launcher's key-value store", e.Message);
    }

    [Theory]
    [InlineData(4, "pmi2", null)]
    [InlineData(2, "pmi2", "1")]
    [InlineData(2, "none", null)]
    public async Task RealSlurm_Srun_SharpMpiJob(int tasks, string mpi, string? forcedPmiVersion)
    {
        await using SingleNodeSlurm? slurm = await SingleNodeSlurm.StartAsync();
        if (slurm is null)
            Assert.Skip(SingleNodeSlurm.SkipReason);
        var environment = new Dictionary<string, string>();
        if (forcedPmiVersion is not null)
            environment["SHARPMPI_PMI"] = forcedPmiVersion;
        (int code, string stdout, string stderr) = await slurm.RunAsync(["-n", $"{tasks}", $"--mpi={mpi}", "dotnet", TestAppPath.Dll, "sizes", "0,1,1000,100000"], environment);
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("OK sizes", stdout);
        ExternalRanks.AssertNoSharedMemoryLeft(stdout);
    }
}

/// <summary>
/// A one-machine Slurm (slurmctld + slurmd, munged if not running) in a temporary directory, as
/// /work/shared/reference/slurm-single-node/start.sh does, on free ports so it cannot clash with
/// another Slurm here. Stopped by pid at dispose; null (with <see cref="SkipReason"/>) when it cannot run.
/// </summary>
internal sealed class SingleNodeSlurm : IAsyncDisposable
{
    private static readonly TimeSpan s_commandLimit = TimeSpan.FromSeconds(90);
    private readonly string _directory;
    private readonly string _config;
    private readonly List<string> _pidFiles = [];

    private SingleNodeSlurm(string directory)
    {
        _directory = directory;
        _config = Path.Combine(directory, "slurm.conf");
    }

    public static string SkipReason { get; private set; } = "";

    public static async Task<SingleNodeSlurm?> StartAsync()
    {
        string[] needed = ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged"];
        if (needed.FirstOrDefault(p => !File.Exists(p)) is string missing || ProgramResolver.FindExecutable("srun") is null)
        {
            SkipReason = "Slurm is not installed (apt-get install -y slurmctld slurmd slurm-client munge)";
            return null;
        }
        if (Environment.UserName != "root")
        {
            SkipReason = "starting slurmd needs root";
            return null;
        }

        string directory = Path.Combine(Path.GetTempPath(), $"sharpmpi-slurm-{Guid.NewGuid():N}");
        var slurm = new SingleNodeSlurm(directory);
        try
        {
            if (await slurm.TryStartAsync())
                return slurm;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            SkipReason = $"single-node Slurm did not start: {e.Message}";
        }
        await slurm.DisposeAsync();
        return null;
    }

    private async Task<bool> TryStartAsync()
    {
        foreach (string sub in new[] { "state", "spool", "log" })
            Directory.CreateDirectory(Path.Combine(_directory, sub));
        (_, string shortName, _) = await RunProcessAsync("hostname", ["-s"], null);
        string host = shortName.Trim();
        File.WriteAllText(_config, $"""
            ClusterName=sharpmpitest
            SlurmctldHost={host}
            SlurmUser=root
            SlurmdUser=root
            AuthType=auth/munge
            CredType=cred/munge
            SlurmctldPort={FreePort()}
            SlurmdPort={FreePort()}
            StateSaveLocation={_directory}/state
            SlurmdSpoolDir={_directory}/spool
            SlurmctldPidFile={_directory}/slurmctld.pid
            SlurmdPidFile={_directory}/slurmd.pid
            SlurmctldLogFile={_directory}/log/slurmctld.log
            SlurmdLogFile={_directory}/log/slurmd.log
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            JobAcctGatherType=jobacct_gather/none
            AccountingStorageType=accounting_storage/none
            JobCompType=jobcomp/none
            SwitchType=switch/none
            MpiDefault=none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_Core
            ReturnToService=2
            SlurmdParameters=config_overrides
            SlurmctldTimeout=30
            SlurmdTimeout=30
            InactiveLimit=0
            KillWait=5
            NodeName={host} CPUs=8 Boards=1 SocketsPerBoard=1 CoresPerSocket=8 ThreadsPerCore=1 RealMemory=1000 State=UNKNOWN
            PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO

            """);

        if ((await RunProcessAsync("munge", ["-n"], null)).Code != 0)
        {
            foreach (string dir in new[] { "/run/munge", "/var/log/munge", "/var/lib/munge" })
            {
                Directory.CreateDirectory(dir);
                await RunProcessAsync("chown", ["munge:munge", dir], null);
            }
            if ((await RunDaemonAsync("runuser -u munge -- /usr/sbin/munged")) != 0)
            {
                SkipReason = "munged did not start";
                return false;
            }
            _pidFiles.Add("/run/munge/munged.pid");
        }
        foreach (string daemon in new[] { "slurmctld", "slurmd" })
        {
            if (await RunDaemonAsync($"/usr/sbin/{daemon} -f '{_config}'") != 0)
            {
                SkipReason = $"{daemon} did not start; see {_directory}/log";
                return false;
            }
            _pidFiles.Add(Path.Combine(_directory, $"{daemon}.pid"));
        }
        for (int i = 0; i < 100; i++)
        {
            if ((await RunProcessAsync("srun", ["-n", "1", "true"], null, TimeSpan.FromSeconds(10))).Code == 0)
                return true;
            await Task.Delay(200);
        }
        SkipReason = $"Slurm did not accept a job; see {_directory}/log";
        return false;
    }

    // Through a shell with stdio detached, so a daemon that keeps its inherited descriptors cannot hold our pipes open.
    private async Task<int> RunDaemonAsync(string command) =>
        (await RunProcessAsync("/bin/sh", ["-c", $"{command} </dev/null >>'{_directory}/log/start.log' 2>&1"], null)).Code;

    /// <summary>Runs <c>srun</c> with this cluster's configuration.</summary>
    public Task<(int Code, string Stdout, string Stderr)> RunAsync(string[] srunArguments, Dictionary<string, string> environment) =>
        RunProcessAsync("srun", srunArguments, environment);

    private async Task<(int Code, string Stdout, string Stderr)> RunProcessAsync(string program, string[] arguments, Dictionary<string, string>? environment, TimeSpan? limit = null)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in arguments)
            start.ArgumentList.Add(a);
        foreach (string name in start.Environment.Keys.Where(k => k.StartsWith("SHARPMPI_", StringComparison.Ordinal) || k.StartsWith("SLURM_", StringComparison.Ordinal)).ToList())
            start.Environment.Remove(name);
        start.Environment["SLURM_CONF"] = _config;
        foreach ((string name, string value) in environment ?? [])
            start.Environment[name] = value;
        using var process = Process.Start(start)!;
        using var cancel = new CancellationTokenSource(limit ?? s_commandLimit);
        try
        {
            Task<string> stdout = process.StandardOutput.ReadToEndAsync(cancel.Token);
            Task<string> stderr = process.StandardError.ReadToEndAsync(cancel.Token);
            await process.WaitForExitAsync(cancel.Token);
            return (process.ExitCode, await stdout, await stderr);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return (-1, "", $"{program} timed out");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        // Daemons in reverse order, each by its pid file only.
        foreach (string pidFile in Enumerable.Reverse(_pidFiles))
        {
            if (!File.Exists(pidFile) || !int.TryParse(File.ReadAllText(pidFile).Trim(), out int pid))
                continue;
            Interop.LinuxNative.Kill(pid, 15);
            for (int i = 0; i < 50 && ProcessProbe.IsAlive(pid); i++)
                await Task.Delay(100);
            if (ProcessProbe.IsAlive(pid))
                Interop.LinuxNative.Kill(pid, 9);
        }
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
