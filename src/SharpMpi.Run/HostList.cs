using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace SharpMpi.Run;

/// <summary>One host a job may use, with its slots.</summary>
/// <param name="Name">Host name or address as the user wrote it.</param>
/// <param name="Slots">Ranks the host takes before it counts as full.</param>
/// <param name="MaxSlots">Hard limit even under --oversubscribe, or null for none.</param>
internal sealed record HostSlots(string Name, int Slots, int? MaxSlots)
{
    /// <summary>True when <see cref="Name"/> is this machine: its ranks are started directly, without an agent.</summary>
    public bool IsLocal => LocalHost.Is(Name);
}

/// <summary>
/// Parses <c>--host</c> lists and hostfiles (Open MPI's <c>host slots=N max_slots=M</c> lines and
/// MPICH's <c>host:N</c> lines, <c>#</c> comments, blank lines). A host named twice is one host whose
/// slots add up, as in Open MPI (<c>--host a,a,b</c> = a with 2 slots, b with 1).
/// </summary>
internal static class HostList
{
    /// <summary>Parses <c>h1:2,h2,h1</c> (each element a host, optionally <c>:slots</c>).</summary>
    /// <exception cref="UsageException">An element is empty or its slot count is not a positive number.</exception>
    public static IReadOnlyList<HostSlots> ParseHostOption(IEnumerable<string> values)
    {
        var hosts = new List<HostSlots>();
        foreach (string value in values)
        {
            foreach (string element in value.Split(',', StringSplitOptions.TrimEntries))
            {
                if (element.Length == 0)
                    throw new UsageException($"--host '{value}' has an empty host name");
                (string name, int? slots) = SplitColonSlots(element, e => new UsageException($"--host {element}: {e}"));
                Add(hosts, new HostSlots(name, slots ?? 1, null));
            }
        }
        return hosts;
    }

    /// <summary>Reads a hostfile.</summary>
    /// <exception cref="UsageException">The file cannot be read, a line is malformed (named by file and line), or it lists no host.</exception>
    public static IReadOnlyList<HostSlots> ReadHostfile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UsageException($"cannot read hostfile '{path}': {Reason(e)}");
        }
        return ParseHostfile(text, path);
    }

    /// <summary>Parses hostfile text; <paramref name="fileName"/> is used in error messages.</summary>
    /// <exception cref="UsageException">A line is malformed or no host is listed.</exception>
    public static IReadOnlyList<HostSlots> ParseHostfile(string text, string fileName)
    {
        var hosts = new List<HostSlots>();
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            int hash = line.IndexOf('#');
            if (hash >= 0)
                line = line[..hash];
            string[] tokens = line.Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries);
            if (tokens.Length == 0)
                continue;
            int lineNumber = i + 1;
            UsageException Bad(string message) => new($"hostfile {fileName} line {lineNumber}: {message}");

            (string name, int? colonSlots) = SplitColonSlots(tokens[0], Bad);
            int? slots = colonSlots;
            int? maxSlots = null;
            foreach (string token in tokens.AsSpan(1))
            {
                int eq = token.IndexOf('=');
                string key = eq < 0 ? token : token[..eq].ToLowerInvariant();
                string value = eq < 0 ? "" : token[(eq + 1)..];
                switch (key)
                {
                    case "slots" or "count" or "cpu" or "cpus":
                        if (slots is not null)
                            throw Bad($"'{token}': slots given twice");
                        slots = PositiveNumber(value) ?? throw Bad($"'{token}' is not a positive number of slots");
                        break;
                    case "max_slots" or "max-slots":
                        maxSlots = PositiveNumber(value) ?? throw Bad($"'{token}' is not a positive number of slots");
                        break;
                    default:
                        throw Bad($"unknown field '{token}' (expected: host [slots=N] [max_slots=M], or host:N)");
                }
            }
            if (maxSlots < (slots ?? 1))
                throw Bad($"max_slots={maxSlots} is below slots={slots ?? 1}");
            Add(hosts, new HostSlots(name, slots ?? 1, maxSlots));
        }
        if (hosts.Count == 0)
            throw new UsageException($"hostfile {fileName} lists no hosts");
        return hosts;
    }

    /// <summary>Combines lists (a hostfile and --host), adding up the slots of a host named in both.</summary>
    public static IReadOnlyList<HostSlots> Merge(IEnumerable<HostSlots> hosts)
    {
        var merged = new List<HostSlots>();
        foreach (HostSlots host in hosts)
            Add(merged, host);
        return merged;
    }

    private static (string Name, int? Slots) SplitColonSlots(string element, Func<string, UsageException> bad)
    {
        // host:N; a bracketed IPv6 address keeps its colons ([fe80::1]:2).
        int colon = element.LastIndexOf(':');
        bool bracketed = element.StartsWith('[');
        if (colon < 0 || (bracketed && colon < element.IndexOf(']')) || (!bracketed && element.IndexOf(':') != colon))
            return (CheckName(element.Trim('[', ']'), bad), null);
        string name = CheckName(element[..colon].Trim('[', ']'), bad);
        string count = element[(colon + 1)..];
        return (name, PositiveNumber(count) ?? throw bad($"'{count}' is not a positive number of slots"));
    }

    private static string CheckName(string name, Func<string, UsageException> bad)
    {
        if (name.Length == 0)
            throw bad("empty host name");
        foreach (char c in name)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c) || c is '\'' or '"' or '`' or '$' or ';' or '&' or '|' or '=')
                throw bad($"'{name}' is not a host name");
        }
        return name;
    }

    private static int? PositiveNumber(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : null;

    private static void Add(List<HostSlots> hosts, HostSlots host)
    {
        int i = hosts.FindIndex(h => string.Equals(h.Name, host.Name, StringComparison.OrdinalIgnoreCase));
        if (i < 0)
        {
            hosts.Add(host);
            return;
        }
        HostSlots old = hosts[i];
        int? max = old.MaxSlots is null && host.MaxSlots is null ? null : (old.MaxSlots ?? old.Slots) + (host.MaxSlots ?? host.Slots);
        hosts[i] = old with { Slots = old.Slots + host.Slots, MaxSlots = max };
    }

    private static string Reason(Exception e) => e switch
    {
        FileNotFoundException or DirectoryNotFoundException => "no such file",
        UnauthorizedAccessException => "permission denied",
        _ => e.Message,
    };
}

/// <summary>Whether a host name or address is this machine.</summary>
internal static class LocalHost
{
    private static readonly Lazy<HashSet<IPAddress>> s_addresses = new(LocalAddresses);

    /// <summary>localhost, 127.x, ::1, this machine's name (short or qualified), or one of its interface addresses.</summary>
    public static bool Is(string host)
    {
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || host.StartsWith("localhost.", StringComparison.OrdinalIgnoreCase))
            return true;
        if (IPAddress.TryParse(host, out IPAddress? address))
            return IPAddress.IsLoopback(address) || s_addresses.Value.Contains(address);
        string machine = Environment.MachineName;
        return host.Equals(machine, StringComparison.OrdinalIgnoreCase)
            || FirstLabel(host).Equals(FirstLabel(machine), StringComparison.OrdinalIgnoreCase);
    }

    private static string FirstLabel(string name)
    {
        int dot = name.IndexOf('.');
        return dot < 0 ? name : name[..dot];
    }

    private static HashSet<IPAddress> LocalAddresses()
    {
        var set = new HashSet<IPAddress>();
        try
        {
            foreach (NetworkInterface nic in NetworkInterface.GetAllNetworkInterfaces())
            {
                foreach (UnicastIPAddressInformation a in nic.GetIPProperties().UnicastAddresses)
                    set.Add(a.Address);
            }
        }
        catch (NetworkInformationException)
        {
        }
        return set;
    }

    /// <summary>
    /// The local address a connection to <paramref name="host"/> would leave from (a UDP "connect" sends
    /// nothing), or null when the host does not resolve.
    /// </summary>
    public static IPAddress? AddressRoutingTo(string host)
    {
        try
        {
            IPAddress[] addresses = IPAddress.TryParse(host, out IPAddress? literal) ? [literal] : Dns.GetHostAddresses(host);
            IPAddress? target = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault();
            if (target is null)
                return null;
            using var probe = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            probe.Connect(target, 9);
            return (probe.LocalEndPoint as IPEndPoint)?.Address;
        }
        catch (SocketException)
        {
            return null;
        }
    }
}
