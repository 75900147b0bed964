namespace SharpMpi.Run.Tests;

/// <summary>Hostfile and --host parsing, placement (--map-by slot|node, -N, slots and --oversubscribe), --display-map.</summary>
public sealed class HostfileTests
{
    private static HostSlots[] Parse(string text) => [.. HostList.ParseHostfile(text, "hf")];

    [Fact]
    public void Hostfile_OpenMpiSyntax_SlotsMaxSlotsCommentsBlankLines()
    {
        HostSlots[] hosts = Parse("""
            # cluster
            node1 slots=8 max_slots=16

            node2 slots=4   # trailing comment
            node3
            """);
        Assert.Equal([new("node1", 8, 16), new("node2", 4, null), new("node3", 1, null)], hosts);
    }

    [Fact]
    public void Hostfile_MpichSyntax_ColonSlots_AndRepeatsAddUp()
    {
        HostSlots[] hosts = Parse("node1:8\r\nnode2:2\nnode1\n\tnode3:1\n");
        Assert.Equal([new("node1", 9, null), new("node2", 2, null), new("node3", 1, null)], hosts);
    }

    [Theory]
    [InlineData("node1 slots=abc", "hostfile hf line 1: 'slots=abc' is not a positive number of slots")]
    [InlineData("# c\n\nnode1\nnode2 slots=0", "hostfile hf line 4: 'slots=0' is not a positive number of slots")]
    [InlineData("node1\nnode2 colour=blue", "hostfile hf line 2: unknown field 'colour=blue' (expected: host [slots=N] [max_slots=M], or host:N)")]
    [InlineData("node1:x", "hostfile hf line 1: 'x' is not a positive number of slots")]
    [InlineData("node1 slots=4 max_slots=2", "hostfile hf line 1: max_slots=2 is below slots=4")]
    [InlineData("node1:2 slots=3", "hostfile hf line 1: 'slots=3': slots given twice")]
    [InlineData("# only comments\n\n", "hostfile hf lists no hosts")]
    public void Hostfile_BadLine_NamesFileAndLine(string text, string expected)
    {
        var e = Assert.Throws<UsageException>(() => HostList.ParseHostfile(text, "hf"));
        Assert.Equal(expected, e.Message);
    }

    [Fact]
    public void Hostfile_Unreadable_OneClearMessage()
    {
        var e = Assert.Throws<UsageException>(() => HostList.ReadHostfile("/no/such/hostfile"));
        Assert.Equal("cannot read hostfile '/no/such/hostfile': no such file", e.Message);
    }

    [Fact]
    public void HostOption_ColonSlotsAndRepeats()
    {
        Assert.Equal([new("h1", 2, null), new("h2", 2, null)], HostList.ParseHostOption(["h1:2,h2:2"]));
        Assert.Equal([new("h1", 2, null), new("h2", 1, null)], HostList.ParseHostOption(["h1,h1,h2"]));
        Assert.Equal([new("h1", 1, null), new("h2", 3, null)], HostList.ParseHostOption(["h1", "h2:3"]));
        Assert.Throws<UsageException>(() => HostList.ParseHostOption(["h1,,h2"]));
        Assert.Throws<UsageException>(() => HostList.ParseHostOption(["h1:0"]));
    }

    private static readonly HostSlots[] s_threeHosts = [new("a", 2, null), new("b", 2, null), new("c", 2, null)];

    private static string Hosts(Placement p) => string.Join(' ', p.HostOfRank.Select(h => p.Hosts[h].Name));

    [Fact]
    public void MapBySlot_FillsHostsInOrder()
    {
        Assert.Equal("a a b b c", Hosts(Placement.Map(s_threeHosts, 5, MapBy.Slot, null, false)));
    }

    [Fact]
    public void MapByNode_RoundRobin()
    {
        Assert.Equal("a b c a b", Hosts(Placement.Map(s_threeHosts, 5, MapBy.Node, null, false)));
    }

    [Fact]
    public void NoRankCount_OnePerSlot()
    {
        Assert.Equal(6, Placement.Map(s_threeHosts, null, MapBy.Slot, null, false).Size);
    }

    [Fact]
    public void PerNode_ExactlyNPerHost()
    {
        Placement p = Placement.Map(s_threeHosts, null, MapBy.Slot, 1, false);
        Assert.Equal("a b c", Hosts(p));
        Assert.Equal("a a b b", Hosts(Placement.Map(s_threeHosts, 4, MapBy.Slot, 2, false)));
        Assert.Throws<UsageException>(() => Placement.Map(s_threeHosts, 4, MapBy.Slot, 1, false));
        Assert.Throws<UsageException>(() => Placement.Map(s_threeHosts, null, MapBy.Slot, 3, false));
    }

    [Fact]
    public void MoreRanksThanSlots_ErrorUnlessOversubscribe_ThenRoundRobinWithinMaxSlots()
    {
        var e = Assert.Throws<UsageException>(() => Placement.Map(s_threeHosts, 7, MapBy.Slot, null, false));
        Assert.Equal("there are not enough slots available: 7 rank(s) requested, 6 slot(s) on 3 host(s) (use --oversubscribe, or list more hosts or slots)", e.Message);

        Assert.Equal("a a b b c c a b", Hosts(Placement.Map(s_threeHosts, 8, MapBy.Slot, null, true)));

        HostSlots[] capped = [new("a", 1, 2), new("b", 1, 1)];
        Assert.Equal("a b a", Hosts(Placement.Map(capped, 3, MapBy.Slot, null, true)));
        Assert.Throws<UsageException>(() => Placement.Map(capped, 4, MapBy.Slot, null, true));
    }

    [Fact]
    public void NodeIds_HostIndex_AllNamesOfThisMachineShareOne()
    {
        HostSlots[] hosts = [new("far1", 1, null), new("localhost", 1, null), new("127.0.0.1", 1, null), new("far2", 1, null)];
        Placement p = Placement.Map(hosts, null, MapBy.Slot, null, false);
        Assert.Equal([0, 1, 1, 3], p.NodeOfHost);
        Assert.Equal([1, 2], p.RanksOnNodeOf(1));
        Assert.False(p.IsLocalOnly);
    }

    [Fact]
    public void DisplayMap_ListsHostsAndRanks()
    {
        string map = Placement.Map([new("localhost", 2, 4), new("far", 1, null)], 3, MapBy.Node, null, false).Describe();
        Assert.Contains("host localhost  slots=2 max_slots=4  node=0  local  ranks: 0 2", map);
        Assert.Contains("host far  slots=1  node=1  remote  ranks: 1", map);
        Assert.Contains("  rank 2 -> localhost (node 0, local rank 1 of 2)", map);
    }

    [Fact]
    public async Task Run_DisplayMapWithLocalHostfile_PrintsMapAndRunsRanks()
    {
        string hostfile = Path.Combine(Path.GetTempPath(), $"sharpmpi-hf-{Guid.NewGuid():N}");
        File.WriteAllText(hostfile, "# local only\nlocalhost slots=2\n127.0.0.1:1\n");
        try
        {
            LauncherResult r = await LauncherProcess.RunAsync("--hostfile", hostfile, "--display-map", "/bin/sh", "-c", "echo r$SHARPMPI_RANK n$SHARPMPI_NODE l$SHARPMPI_LOCAL_RANK/$SHARPMPI_LOCAL_SIZE");
            Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
            Assert.Contains("======================== JOB MAP ========================", r.Stdout);
            Assert.Contains("host localhost  slots=2  node=0  local  ranks: 0 1", r.Stdout);
            Assert.Equal(["r0 n0 l0/3", "r1 n0 l1/3", "r2 n0 l2/3"], r.StdoutLines.Where(l => l.StartsWith('r')).Order());
        }
        finally
        {
            File.Delete(hostfile);
        }
    }

    [Theory]
    [InlineData("sharpmpi: there are not enough slots available: 3 rank(s) requested, 2 slot(s) on 1 host(s) (use --oversubscribe, or list more hosts or slots)", "--host", "localhost:2", "-n", "3", "/bin/true")]
    [InlineData("sharpmpi: cannot read hostfile '/no/such/file': no such file", "--hostfile", "/no/such/file", "/bin/true")]
    [InlineData("sharpmpi: --map-by ppr:2:socket is not supported (use slot or node)", "--map-by", "ppr:2:socket", "/bin/true")]
    [InlineData("sharpmpi: -N must be at least 1 (got 0)", "-N", "0", "/bin/true")]
    [InlineData("sharpmpi: --kvs-address 'nowhere' is not an IP address", "--kvs-address", "nowhere", "/bin/true")]
    public async Task Run_BadHostInput_OneLineExit1(string expected, params string[] arguments)
    {
        LauncherResult r = await LauncherProcess.RunAsync(arguments);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal([expected], r.StderrLines);
    }

    [Fact]
    public async Task Run_OversubscribeOnHostList_Allowed()
    {
        LauncherResult r = await LauncherProcess.RunAsync("--host", "localhost:1", "-n", "3", "--oversubscribe", "/bin/true");
        Assert.Equal(0, r.ExitCode);
    }

    [Fact]
    public async Task Run_DefaultHostfileFromOpenMpiVariable_UsedWithoutHostOptions()
    {
        string hostfile = Path.Combine(Path.GetTempPath(), $"sharpmpi-hf-{Guid.NewGuid():N}");
        File.WriteAllText(hostfile, "localhost slots=2\n");
        try
        {
            using LauncherProcess launcher = LauncherProcess.Start(["/bin/sh", "-c", "echo r$SHARPMPI_RANK"],
                environment: new Dictionary<string, string> { ["OMPI_MCA_orte_default_hostfile"] = hostfile });
            LauncherResult r = await launcher.WaitAsync();
            Assert.Equal(0, r.ExitCode);
            Assert.Equal(["r0", "r1"], r.StdoutLines.Order());
        }
        finally
        {
            File.Delete(hostfile);
        }
    }
}
