using System.Net;

namespace SharpMpi.Transport.Tcp.Tests;

public sealed class TcpOptionsTests
{
    private static readonly List<(string, IPAddress, bool)> s_local =
    [
        ("lo", IPAddress.Loopback, true),
        ("docker0", IPAddress.Parse("169.254.3.4"), false),
        ("eth0", IPAddress.Parse("192.168.1.20"), false),
        ("eth1", IPAddress.Parse("10.0.0.7"), false),
    ];

    [Theory]
    [InlineData(null, true, "127.0.0.1")]
    [InlineData(null, false, "192.168.1.20")]
    [InlineData("", false, "192.168.1.20")]
    [InlineData("10.0.0.0/24", false, "10.0.0.7")]
    [InlineData("10.0.0.0/8", true, "10.0.0.7")]
    [InlineData("eth1", false, "10.0.0.7")]
    [InlineData("lo", false, "127.0.0.1")]
    [InlineData("127.0.0.1", false, "127.0.0.1")]
    [InlineData("10.0.0.7", true, "10.0.0.7")]
    public void BindAddress_FollowsTheRule(string? spec, bool oneHost, string expected) =>
        Assert.Equal(IPAddress.Parse(expected), TcpAddresses.SelectBindAddress(spec, oneHost, s_local));

    [Theory]
    [InlineData("172.16.0.0/16")]
    [InlineData("wlan0")]
    [InlineData("0.0.0.0")]
    [InlineData("10.0.0.0/40")]
    public void BindAddress_WithoutAMatch_NamesTheVariable(string spec)
    {
        var e = Assert.Throws<ArgumentException>(() => TcpAddresses.SelectBindAddress(spec, false, s_local));
        Assert.Contains(TcpOptions.InterfaceVariable, e.Message);
    }

    [Fact]
    public void BindAddress_MultiHostWithOnlyLoopback_Fails() =>
        Assert.Throws<ArgumentException>(() => TcpAddresses.SelectBindAddress(null, false, [("lo", IPAddress.Loopback, true)]));

    [Fact]
    public void FromEnvironment_ReadsTheVariables()
    {
        var values = new Dictionary<string, string>
        {
            [TcpOptions.EagerLimitVariable] = "16K",
            [TcpOptions.MaxFrameVariable] = "1M",
            [TcpOptions.InterfaceVariable] = " eth1 ",
            [TcpOptions.ConnectTimeoutVariable] = "2.5",
        };
        var o = TcpOptions.FromEnvironment(n => values.GetValueOrDefault(n));
        Assert.Equal(16 * 1024, o.EagerLimit);
        Assert.Equal(1 << 20, o.MaxFramePayload);
        Assert.Equal("eth1", o.Interface);
        Assert.Equal(TimeSpan.FromSeconds(2.5), o.ConnectTimeout);

        var defaults = TcpOptions.FromEnvironment(_ => null);
        Assert.Equal(64 * 1024, defaults.EagerLimit);
        Assert.Equal(4 << 20, defaults.MaxFramePayload);
        Assert.Null(defaults.Interface);
    }

    [Theory]
    [InlineData(TcpOptions.EagerLimitVariable, "lots")]
    [InlineData(TcpOptions.EagerLimitVariable, "8M")]
    [InlineData(TcpOptions.MaxFrameVariable, "100")]
    [InlineData(TcpOptions.ConnectTimeoutVariable, "-1")]
    public void FromEnvironment_RejectsBadValues(string variable, string value)
    {
        var e = Assert.Throws<ArgumentException>(() => TcpOptions.FromEnvironment(n => n == variable ? value : null));
        Assert.Contains(variable, e.Message);
    }

    [Fact]
    public void Handshake_MacDependsOnRoleNoncesRanksAndJob()
    {
        byte[] secret = new byte[32];
        byte[] a = new byte[16], b = new byte[16];
        b[0] = 1;
        byte[] mac = TcpHandshake.ComputeMac(secret, true, "job", 2, 0, a, b);
        Assert.False(TcpHandshake.MacEquals(mac, TcpHandshake.ComputeMac(secret, false, "job", 2, 0, a, b)));
        Assert.False(TcpHandshake.MacEquals(mac, TcpHandshake.ComputeMac(secret, true, "job", 2, 0, b, a)));
        Assert.False(TcpHandshake.MacEquals(mac, TcpHandshake.ComputeMac(secret, true, "job", 3, 0, a, b)));
        Assert.False(TcpHandshake.MacEquals(mac, TcpHandshake.ComputeMac(secret, true, "jab", 2, 0, a, b)));
        Assert.True(TcpHandshake.MacEquals(mac, TcpHandshake.ComputeMac(secret, true, "job", 2, 0, a, b)));
    }
}
