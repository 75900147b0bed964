using SharpMpi.Bootstrap;

namespace SharpMpi.Run.Tests;

public sealed class LaunchInfoTests
{
    private static Dictionary<string, string> Complete() => new()
    {
        ["SHARPMPI_RANK"] = "2",
        ["SHARPMPI_SIZE"] = "4",
        ["SHARPMPI_LOCAL_RANK"] = "0",
        ["SHARPMPI_LOCAL_SIZE"] = "2",
        ["SHARPMPI_NODE"] = "1",
        ["SHARPMPI_KVS"] = "127.0.0.1:4000",
        ["SHARPMPI_JOBID"] = "0123456789ab",
        ["SHARPMPI_SECRET"] = new string('a', 64),
    };

    private static LaunchInfo? Read(Dictionary<string, string> variables) =>
        LaunchInfo.FromEnvironment(name => variables.GetValueOrDefault(name));

    [Fact]
    public void FromEnvironment_NoRank_ReturnsNull() => Assert.Null(Read([]));

    [Fact]
    public void FromEnvironment_Complete_ParsesEveryVariable()
    {
        Assert.Equal(new LaunchInfo(2, 4, 0, 2, 1, "127.0.0.1:4000", "0123456789ab", new string('a', 64)), Read(Complete()));
    }

    [Fact]
    public void ToString_NeverShowsTheSecret() => Assert.DoesNotContain("aaaa", Read(Complete())!.ToString());

    [Theory]
    [InlineData("SHARPMPI_SIZE", null, "SHARPMPI_SIZE is missing")]
    [InlineData("SHARPMPI_SECRET", null, "SHARPMPI_SECRET is missing")]
    [InlineData("SHARPMPI_RANK", "4", "SHARPMPI_RANK=4 is invalid")]
    [InlineData("SHARPMPI_RANK", "-1", "SHARPMPI_RANK=-1 is invalid")]
    [InlineData("SHARPMPI_SIZE", "x", "SHARPMPI_SIZE=x is invalid")]
    [InlineData("SHARPMPI_LOCAL_RANK", "2", "SHARPMPI_LOCAL_RANK=2 is invalid")]
    [InlineData("SHARPMPI_KVS", "localhost", "SHARPMPI_KVS=localhost is invalid")]
    [InlineData("SHARPMPI_JOBID", "../etc", "SHARPMPI_JOBID=../etc is invalid")]
    [InlineData("SHARPMPI_SECRET", "xyz", "SHARPMPI_SECRET=(hidden) is invalid")]
    public void FromEnvironment_IncompleteOrMalformed_ThrowsNamingTheVariable(string name, string? value, string expected)
    {
        Dictionary<string, string> variables = Complete();
        if (value is null)
            variables.Remove(name);
        else
            variables[name] = value;

        var e = Assert.Throws<InvalidOperationException>(() => Read(variables));
        Assert.Contains(expected, e.Message);
    }
}
