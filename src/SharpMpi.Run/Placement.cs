using System.Text;

namespace SharpMpi.Run;

/// <summary>How ranks are spread over hosts (--map-by).</summary>
internal enum MapBy
{
    /// <summary>Fill each host's slots in host order before moving on (Open MPI's default for a host list).</summary>
    Slot,

    /// <summary>One rank per host in turn (round robin).</summary>
    Node,
}

/// <summary>Where every rank runs: a host index per rank, and per host its ranks.</summary>
internal sealed class Placement
{
    private Placement(IReadOnlyList<HostSlots> hosts, int[] hostOfRank, int[] nodeOfHost)
    {
        Hosts = hosts;
        HostOfRank = hostOfRank;
        NodeOfHost = nodeOfHost;
    }

    /// <summary>The hosts, in the order given.</summary>
    public IReadOnlyList<HostSlots> Hosts { get; }

    /// <summary>Index into <see cref="Hosts"/> for each rank.</summary>
    public IReadOnlyList<int> HostOfRank { get; }

    /// <summary>Node id (SHARPMPI_NODE) of each host: its index, except that every name of this machine shares one id.</summary>
    public IReadOnlyList<int> NodeOfHost { get; }

    /// <summary>Number of ranks.</summary>
    public int Size => HostOfRank.Count;

    /// <summary>Ranks placed on host <paramref name="host"/>, in rank order.</summary>
    public int[] RanksOn(int host) => [.. Enumerable.Range(0, Size).Where(r => HostOfRank[r] == host)];

    /// <summary>Ranks on the same node as <paramref name="rank"/>, in rank order (local rank = index in it).</summary>
    public int[] RanksOnNodeOf(int rank)
    {
        int node = NodeOfHost[HostOfRank[rank]];
        return [.. Enumerable.Range(0, Size).Where(r => NodeOfHost[HostOfRank[r]] == node)];
    }

    /// <summary>True when every rank runs on this machine (no agents needed).</summary>
    public bool IsLocalOnly => HostOfRank.All(h => Hosts[h].IsLocal);

    /// <summary>All ranks on this machine, without a host list (the launcher's behaviour before --host existed).</summary>
    public static Placement LocalOnly(int ranks) =>
        new([new HostSlots("localhost", ranks, null)], new int[ranks], [0]);

    /// <summary>Maps <paramref name="ranks"/> ranks onto <paramref name="hosts"/>.</summary>
    /// <param name="hosts">Hosts with their slots.</param>
    /// <param name="ranks">Ranks to place, or null for one per slot (or <paramref name="perNode"/> per host).</param>
    /// <param name="mapBy">Fill hosts in order, or round robin.</param>
    /// <param name="perNode">Exactly this many ranks per host (-N), or null.</param>
    /// <param name="oversubscribe">Allow more ranks than slots (never more than max_slots).</param>
    /// <exception cref="UsageException">The ranks do not fit.</exception>
    public static Placement Map(IReadOnlyList<HostSlots> hosts, int? ranks, MapBy mapBy, int? perNode, bool oversubscribe)
    {
        int totalSlots = hosts.Sum(h => h.Slots);
        int[] capacity = [.. hosts.Select(h => perNode ?? h.Slots)];
        if (perNode is int ppn)
        {
            if (!oversubscribe && hosts.FirstOrDefault(h => h.Slots < ppn) is HostSlots small)
                throw new UsageException($"-N {ppn} needs {ppn} slot(s) per host but {small.Name} has {small.Slots} (use --oversubscribe)");
            if (hosts.FirstOrDefault(h => h.MaxSlots < ppn) is HostSlots capped)
                throw new UsageException($"-N {ppn} exceeds max_slots={capped.MaxSlots} of {capped.Name}");
        }
        int n = ranks ?? capacity.Sum();
        int available = capacity.Sum();
        if (n > available)
        {
            if (perNode is int p)
                throw new UsageException($"-n {n} is more than -N {p} rank(s) on each of {hosts.Count} host(s)");
            if (!oversubscribe)
            {
                throw new UsageException(
                    $"there are not enough slots available: {n} rank(s) requested, {totalSlots} slot(s) on {hosts.Count} host(s) (use --oversubscribe, or list more hosts or slots)");
            }
            int hardLimit = hosts.All(h => h.MaxSlots is not null) ? hosts.Sum(h => h.MaxSlots!.Value) : int.MaxValue;
            if (n > hardLimit)
                throw new UsageException($"{n} rank(s) requested but the hosts' max_slots allow only {hardLimit}");
        }

        int[] count = new int[hosts.Count];
        int[] hostOfRank = new int[n];
        int placed = 0;
        // First within capacity (slots, or -N), then beyond it up to max_slots, round robin.
        for (int pass = 0; pass < 2 && placed < n; pass++)
        {
            bool Fits(int h) => pass == 0 ? count[h] < capacity[h] : hosts[h].MaxSlots is not int max || count[h] < max;
            if (pass == 0 && mapBy == MapBy.Slot)
            {
                for (int h = 0; h < hosts.Count && placed < n; h++)
                {
                    while (placed < n && Fits(h))
                    {
                        hostOfRank[placed++] = h;
                        count[h]++;
                    }
                }
                continue;
            }
            while (placed < n)
            {
                bool any = false;
                for (int h = 0; h < hosts.Count && placed < n; h++)
                {
                    if (!Fits(h))
                        continue;
                    hostOfRank[placed++] = h;
                    count[h]++;
                    any = true;
                }
                if (!any)
                    break;
            }
        }

        int[] nodeOfHost = new int[hosts.Count];
        int localNode = -1;
        for (int h = 0; h < hosts.Count; h++)
        {
            if (hosts[h].IsLocal)
            {
                if (localNode < 0)
                    localNode = h;
                nodeOfHost[h] = localNode;
            }
            else
            {
                nodeOfHost[h] = h;
            }
        }
        return new Placement(hosts, hostOfRank, nodeOfHost);
    }

    /// <summary>The --display-map table: each host with its slots and node id, then its ranks.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        text.Append("======================== JOB MAP ========================\n");
        for (int h = 0; h < Hosts.Count; h++)
        {
            HostSlots host = Hosts[h];
            int[] ranks = RanksOn(h);
            text.Append($"host {host.Name}  slots={host.Slots}");
            if (host.MaxSlots is int max)
                text.Append($" max_slots={max}");
            text.Append($"  node={NodeOfHost[h]}  {(host.IsLocal ? "local" : "remote")}  ranks: ");
            text.Append(ranks.Length == 0 ? "none" : string.Join(' ', ranks));
            text.Append('\n');
        }
        for (int r = 0; r < Size; r++)
        {
            int[] local = RanksOnNodeOf(r);
            text.Append($"  rank {r} -> {Hosts[HostOfRank[r]].Name} (node {NodeOfHost[HostOfRank[r]]}, local rank {Array.IndexOf(local, r)} of {local.Length})\n");
        }
        text.Append("=========================================================\n");
        return text.ToString();
    }
}
