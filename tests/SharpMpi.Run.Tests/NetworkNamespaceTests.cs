using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using SharpMpi.Interop;

namespace SharpMpi.Run.Tests;

/// <summary>
/// Jobs across two "hosts" that are Linux network namespaces (<see cref="NetworkNamespaces"/>): the launcher
/// runs in the first, <c>--launch-agent "ip netns exec {host}"</c> starts each host's agent inside the
/// namespace of that name, ranks on one host talk through shared memory and across hosts through TCP over
/// the veth, exactly as on two machines. Skipped where namespaces cannot be created.
/// </summary>
public sealed partial class NetworkNamespaceTests(NetworkNamespaces hosts) : IClassFixture<NetworkNamespaces>
{
    private string[] TwoHosts(int perHost) =>
        ["--host", $"{hosts.First}:{perHost},{hosts.Second}:{perHost}", "--launch-agent", hosts.LaunchAgent,
         "--kvs-address", NetworkNamespaces.FirstAddress, "--timeout", "45"];

    private LauncherProcess StartInFirst(params string[] arguments) => LauncherProcess.Start(arguments, wrapper: hosts.Exec(hosts.First));

    private async Task<LauncherResult> RunInFirst(params string[] arguments)
    {
        using LauncherProcess launcher = StartInFirst(arguments);
        return await launcher.WaitAsync();
    }

    [Fact]
    public async Task PointToPoint_TwoRanksPerNamespace_AllScenariosPass()
    {
        hosts.SkipIfUnavailable();
        LauncherResult r = await RunInFirst([.. TwoHosts(2), "--tag-output", TestAppPath.Dll, "p2p"]);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("[0] OK p2p", r.Stdout);
        Assert.DoesNotContain("rejected a connection", r.Stderr);
    }

    [Fact]
    public async Task Collectives_TwoRanksPerNamespace_EveryResultChecked()
    {
        hosts.SkipIfUnavailable();
        LauncherResult r = await RunInFirst([.. TwoHosts(2), "--tag-output", TestAppPath.Dll, "collectives"]);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("[0] OK collectives", r.Stdout);
    }

    [Fact]
    public async Task Collectives_ThreeRanksMappedByNode_EveryPeerOverTcp()
    {
        // Odd rank count, ranks alternating between the hosts, and TCP forced within a host too.
        hosts.SkipIfUnavailable();
        LauncherResult r = await RunInFirst([.. TwoHosts(2), "-n", "3", "--map-by", "node", "-x", "SHARPMPI_TRANSPORT=tcp", TestAppPath.Dll, "collectives"]);
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("OK collectives", r.Stdout);
    }

    [Fact]
    public async Task JacobiExample_AcrossNamespaces_SameResultAsOneRank()
    {
        hosts.SkipIfUnavailable();
        string jacobi = ExampleTests.Example("Jacobi");
        LauncherResult one = await LauncherProcess.RunAsync("-n", "1", jacobi, "24");
        LauncherResult four = await RunInFirst([.. TwoHosts(2), jacobi, "24"]);
        Assert.True(one.ExitCode == 0, one.Stdout + one.Stderr);
        Assert.True(four.ExitCode == 0, four.Stdout + four.Stderr);
        static string Result(LauncherResult r)
        {
            string line = Assert.Single(r.StdoutLines, l => l.StartsWith("converged after", StringComparison.Ordinal));
            return line.Split(" on a ")[0] + line.Split("mean temperature")[1];
        }
        Assert.Equal(Result(one), Result(four));
        Assert.Contains("2x2 process grid", four.Stdout);
    }

    [Fact]
    public async Task RankKilledInOtherNamespace_MidAllreduce_JobAbortsNamingRankAndHost()
    {
        hosts.SkipIfUnavailable();
        using LauncherProcess launcher = StartInFirst([.. TwoHosts(2), "--verbose", TestAppPath.Dll, "allreduce-forever"]);
        string[] pidLines = await launcher.WaitForLinesAsync("pid ", 4);
        var pidOfRank = new Dictionary<int, int>();
        foreach (string line in pidLines)
        {
            string[] words = line.Split(' ');
            pidOfRank[int.Parse(words[3], CultureInfo.InvariantCulture)] = int.Parse(words[1], CultureInfo.InvariantCulture);
            launcher.Track(pidOfRank[int.Parse(words[3], CultureInfo.InvariantCulture)]);
        }
        await launcher.WaitForLinesAsync("looping", 1);

        // The ranks really are on two networks: in the second namespace, ranks 2 and 3 hold a TCP connection
        // to each rank of the first (besides their connections to the launcher's key-value store).
        int kvsPort = int.Parse(KvsEndpoint().Match(await launcher.WaitForStderrAsync("KVS at ")).Groups[1].Value, CultureInfo.InvariantCulture);
        var toFirstHost = EstablishedConnections(pidOfRank[3], IPAddress.Parse(NetworkNamespaces.SecondAddress), IPAddress.Parse(NetworkNamespaces.FirstAddress))
            .Where(port => port != kvsPort).ToArray();
        Assert.True(toFirstHost.Length >= 4, $"the second namespace has {toFirstHost.Length} rank-to-rank TCP connection(s) to the first host");

        LinuxNative.Kill(pidOfRank[3], Signals.Kill);
        LauncherResult r = await launcher.WaitAsync();

        // Not 110 (--timeout): the job ended on its own once the rank was gone.
        Assert.True(r.ExitCode == 137, $"exit {r.ExitCode}: {r.Stderr}");
        Assert.Contains(r.StderrLines, l => l == $"sharpmpi: rank 3 (pid {pidOfRank[3]} on {hosts.Second}) killed by signal 9 (SIGKILL)");
        foreach (int pid in pidOfRank.Values)
            Assert.True(await ProcessProbe.WaitGoneAsync(pid), $"rank pid {pid} still running");
    }

    /// <summary>
    /// Remote ports of the established TCP connections from <paramref name="local"/> to <paramref name="remote"/>
    /// in the network namespace of <paramref name="pid"/> (its <c>/proc/PID/net/tcp</c>).
    /// </summary>
    private static List<int> EstablishedConnections(int pid, IPAddress local, IPAddress remote)
    {
        const string Established = "01";
        var ports = new List<int>();
        foreach (string line in File.ReadAllLines($"/proc/{pid}/net/tcp").Skip(1))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 4 || f[3] != Established)
                continue;
            (IPAddress from, _) = ParseEndpoint(f[1]);
            (IPAddress to, int port) = ParseEndpoint(f[2]);
            if (from.Equals(local) && to.Equals(remote))
                ports.Add(port);
        }
        return ports;
    }

    // "0A00004D:1F90": the address as the kernel's 32-bit word in host (little-endian) order, the port in hex.
    private static (IPAddress Address, int Port) ParseEndpoint(string text)
    {
        string[] parts = text.Split(':');
        uint word = uint.Parse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return (new IPAddress(word), int.Parse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"KVS at [0-9.]+:(\d+)")]
    private static partial Regex KvsEndpoint();
}
