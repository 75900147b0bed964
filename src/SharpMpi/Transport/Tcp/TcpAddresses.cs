using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace SharpMpi.Transport.Tcp;

/// <summary>Chooses the address a rank's listener binds to and publishes (see <see cref="TcpOptions.Interface"/>).</summary>
internal static class TcpAddresses
{
    /// <summary>
    /// The rule: an explicit <paramref name="spec"/> (address, subnet or interface name) wins; otherwise
    /// 127.0.0.1 when <paramref name="jobOnOneHost"/>, else the first IPv4 address (not link-local) of the
    /// first interface that is up and not loopback, in the order the system lists interfaces.
    /// </summary>
    /// <exception cref="ArgumentException">The spec matches no local address, or no usable address exists.</exception>
    public static IPAddress SelectBindAddress(string? spec, bool jobOnOneHost) =>
        SelectBindAddress(spec, jobOnOneHost, LocalAddresses());

    /// <summary>As <see cref="SelectBindAddress(string?, bool)"/> over a given list of (interface name, address, is loopback).</summary>
    internal static IPAddress SelectBindAddress(string? spec, bool jobOnOneHost, IReadOnlyList<(string Interface, IPAddress Address, bool Loopback)> local)
    {
        const string Variable = TcpOptions.InterfaceVariable;
        if (string.IsNullOrWhiteSpace(spec))
        {
            if (jobOnOneHost)
                return IPAddress.Loopback;
            foreach (var (_, address, loopback) in local)
            {
                if (!loopback && !IsLinkLocal(address))
                    return address;
            }

            throw new ArgumentException($"this host has no IPv4 address outside loopback for the TCP transport of a multi-host job; set {Variable} to an address, subnet or interface name.", Variable);
        }

        spec = spec.Trim();
        int slash = spec.IndexOf('/');
        if (slash > 0)
        {
            if (!IPAddress.TryParse(spec.AsSpan(0, slash), out IPAddress? network) || network.AddressFamily != AddressFamily.InterNetwork
                || !int.TryParse(spec.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int prefix) || prefix > 32)
            {
                throw new ArgumentException($"{Variable} is '{spec}'; a subnet must look like 10.0.0.0/24.", Variable);
            }

            foreach (var (_, address, _) in local)
            {
                if (InSubnet(address, network, prefix))
                    return address;
            }

            throw new ArgumentException($"{Variable} is '{spec}' but no local IPv4 address is inside that subnet (local: {Describe(local)}).", Variable);
        }

        if (IPAddress.TryParse(spec, out IPAddress? exact))
        {
            if (exact.AddressFamily != AddressFamily.InterNetwork || exact.Equals(IPAddress.Any) || exact.Equals(IPAddress.Broadcast))
                throw new ArgumentException($"{Variable} is '{spec}'; give one IPv4 address of this host (not 0.0.0.0), a subnet or an interface name.", Variable);
            return exact;
        }

        foreach (var (name, address, _) in local)
        {
            if (string.Equals(name, spec, StringComparison.Ordinal))
                return address;
        }

        throw new ArgumentException($"{Variable} is '{spec}', which is neither an IPv4 address, a subnet nor an interface with an IPv4 address (local: {Describe(local)}).", Variable);
    }

    /// <summary>IPv4 addresses of the interfaces that are up, in system order.</summary>
    public static List<(string Interface, IPAddress Address, bool Loopback)> LocalAddresses()
    {
        var result = new List<(string, IPAddress, bool)>();
        foreach (NetworkInterface nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            if (nic.OperationalStatus is not (OperationalStatus.Up or OperationalStatus.Unknown))
                continue;
            bool loopback = nic.NetworkInterfaceType == NetworkInterfaceType.Loopback;
            foreach (UnicastIPAddressInformation info in nic.GetIPProperties().UnicastAddresses)
            {
                if (info.Address.AddressFamily == AddressFamily.InterNetwork)
                    result.Add((nic.Name, info.Address, loopback || IPAddress.IsLoopback(info.Address)));
            }
        }

        return result;
    }

    private static bool IsLinkLocal(IPAddress address)
    {
        Span<byte> b = stackalloc byte[4];
        address.TryWriteBytes(b, out _);
        return b[0] == 169 && b[1] == 254;
    }

    private static bool InSubnet(IPAddress address, IPAddress network, int prefix)
    {
        if (address.AddressFamily != AddressFamily.InterNetwork)
            return false;
        Span<byte> a = stackalloc byte[4];
        Span<byte> n = stackalloc byte[4];
        address.TryWriteBytes(a, out _);
        network.TryWriteBytes(n, out _);
        uint mask = prefix == 0 ? 0 : uint.MaxValue << (32 - prefix);
        uint av = (uint)(a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3]);
        uint nv = (uint)(n[0] << 24 | n[1] << 16 | n[2] << 8 | n[3]);
        return (av & mask) == (nv & mask);
    }

    private static string Describe(IReadOnlyList<(string Interface, IPAddress Address, bool Loopback)> local) =>
        local.Count == 0 ? "none" : string.Join(", ", local.Select(l => $"{l.Interface}={l.Address}"));
}

/// <summary>
/// A UDP socket connected to itself: a background thread puts it in its <c>Socket.Select</c> set and
/// another thread <see cref="Poke"/>s it to make that select return.
/// </summary>
internal sealed class WakeSocket : IDisposable
{
    private static readonly byte[] s_poke = [1];
    private readonly byte[] _scratch = new byte[64];

    public WakeSocket()
    {
        Socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            Socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            Socket.Connect(Socket.LocalEndPoint!);
            Socket.Blocking = false;
        }
        catch
        {
            Socket.Dispose();
            throw;
        }
    }

    public Socket Socket { get; }

    /// <summary>Makes the socket readable (thread-safe; a full queue means it is readable already).</summary>
    public void Poke()
    {
        try
        {
            Socket.Send(s_poke, SocketFlags.None, out _);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Reads every queued poke (called by the selecting thread).</summary>
    public void Drain()
    {
        while (Socket.Receive(_scratch.AsSpan(), SocketFlags.None, out SocketError error) > 0 && error == SocketError.Success)
        {
        }
    }

    public void Dispose() => Socket.Dispose();
}
