using SharpMpi.Transport.SharedMemory;
using Xunit;

namespace SharpMpi.Transport.Tests.SharedMemory;

public sealed class SharedMemoryOptionsTests
{
    private static SharedMemoryOptions FromVariables(params (string Name, string Value)[] variables)
    {
        var map = new Dictionary<string, string>();
        foreach ((string name, string value) in variables)
            map[name] = value;
        return SharedMemoryOptions.FromEnvironment(name => map.GetValueOrDefault(name));
    }

    [Fact(Timeout = 10_000)]
    public async Task FromEnvironment_NothingSet_Defaults()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        ct.ThrowIfCancellationRequested();
        await Task.Yield();
        SharedMemoryOptions options = FromVariables();
        Assert.Equal(64 * 1024, options.RingCapacity);
        Assert.Equal(16 * 1024, options.EagerLimit);
        Assert.True(options.SingleCopy);
    }

    [Fact]
    public void FromEnvironment_MoreRanksThanCores_SingleCopyFrom32KiBUnlessSet()
    {
        int oversubscribed = Environment.ProcessorCount + 1;
        Assert.Equal(SharedMemoryOptions.DefaultSingleCopyThreshold, SharedMemoryOptions.FromEnvironment(_ => null, ranksOnThisHost: 1).SingleCopyThreshold);
        Assert.Equal(32 * 1024, SharedMemoryOptions.FromEnvironment(_ => null, oversubscribed).SingleCopyThreshold);
        SharedMemoryOptions set = SharedMemoryOptions.FromEnvironment(
            name => name == SharedMemoryOptions.SingleCopyThresholdVariable ? "1M" : null, oversubscribed);
        Assert.Equal(1 << 20, set.SingleCopyThreshold);
    }

    [Fact]
    public void FromEnvironment_SplitCopy_DefaultOffWhenOversubscribedAndSettable()
    {
        int oversubscribed = Environment.ProcessorCount + 1;
        Assert.Equal(SharedMemoryOptions.DefaultSplitCopyThreshold, SharedMemoryOptions.FromEnvironment(_ => null, ranksOnThisHost: 1).SplitCopyThreshold);
        Assert.Equal(SharedMemoryOptions.NoSplitCopy, SharedMemoryOptions.FromEnvironment(_ => null, oversubscribed).SplitCopyThreshold);
        Assert.Equal(2 << 20, SharedMemoryOptions.FromEnvironment(
            name => name == SharedMemoryOptions.SplitCopyThresholdVariable ? "2M" : null, oversubscribed).SplitCopyThreshold);
        Assert.Equal(SharedMemoryOptions.NoSplitCopy, SharedMemoryOptions.FromEnvironment(
            name => name == SharedMemoryOptions.SplitCopyThresholdVariable ? " OFF " : null).SplitCopyThreshold);
        var e = Assert.Throws<ArgumentException>(() => SharedMemoryOptions.FromEnvironment(
            name => name == SharedMemoryOptions.SplitCopyThresholdVariable ? "lots" : null));
        Assert.Contains(SharedMemoryOptions.SplitCopyThresholdVariable, e.Message);
    }

    [Theory(Timeout = 10_000)]
    [InlineData("262144", 262144)]
    [InlineData("256K", 262144)]
    [InlineData("256KiB", 262144)]
    [InlineData("256kb", 262144)]
    [InlineData(" 1M ", 1 << 20)]
    [InlineData("1G", 1 << 30)]
    [InlineData("4096", 4096)]
    public async Task FromEnvironment_RingSize_Parsed(string text, int expected)
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        ct.ThrowIfCancellationRequested();
        await Task.Yield();
        Assert.Equal(expected, FromVariables((SharedMemoryOptions.RingSizeVariable, text)).RingCapacity);
    }

    [Fact(Timeout = 10_000)]
    public async Task FromEnvironment_SmallRingOnly_LowersDefaultEagerLimit()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        ct.ThrowIfCancellationRequested();
        await Task.Yield();
        SharedMemoryOptions options = FromVariables((SharedMemoryOptions.RingSizeVariable, "4K"));
        Assert.Equal(SpscRing.MaxPayload(4096), options.EagerLimit);
    }

    [Theory(Timeout = 10_000)]
    [InlineData("0", false)]
    [InlineData("off", false)]
    [InlineData("FALSE", false)]
    [InlineData("1", true)]
    [InlineData("yes", true)]
    public async Task FromEnvironment_SingleCopy_Parsed(string text, bool expected)
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        ct.ThrowIfCancellationRequested();
        await Task.Yield();
        Assert.Equal(expected, FromVariables((SharedMemoryOptions.SingleCopyVariable, text)).SingleCopy);
    }

    [Fact(Timeout = 10_000)]
    public async Task FromEnvironment_EagerLimitWithLargerRing_Accepted()
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        ct.ThrowIfCancellationRequested();
        await Task.Yield();
        SharedMemoryOptions options = FromVariables((SharedMemoryOptions.RingSizeVariable, "128K"), (SharedMemoryOptions.EagerLimitVariable, "32K"));
        Assert.Equal(32 * 1024, options.EagerLimit);
        Assert.Equal(128 * 1024, options.RingCapacity);
    }

    [Theory(Timeout = 10_000)]
    [InlineData(SharedMemoryOptions.RingSizeVariable, "abc")]
    [InlineData(SharedMemoryOptions.RingSizeVariable, "-4096")]
    [InlineData(SharedMemoryOptions.RingSizeVariable, "5000")]
    [InlineData(SharedMemoryOptions.RingSizeVariable, "1K")]
    [InlineData(SharedMemoryOptions.RingSizeVariable, "2G")]
    [InlineData(SharedMemoryOptions.RingSizeVariable, "99999999999999999999")]
    [InlineData(SharedMemoryOptions.EagerLimitVariable, "lots")]
    [InlineData(SharedMemoryOptions.EagerLimitVariable, "32K")] // over half of the default 64 KiB ring
    [InlineData(SharedMemoryOptions.SingleCopyVariable, "maybe")]
    public async Task FromEnvironment_BadValue_ThrowsArgumentExceptionNamingTheVariable(string variable, string value)
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        ct.ThrowIfCancellationRequested();
        await Task.Yield();
        ArgumentException e = Assert.ThrowsAny<ArgumentException>(() => FromVariables((variable, value)));
        Assert.Contains(variable, e.Message);
    }

    [Theory(Timeout = 10_000)]
    [InlineData(0, 1024, nameof(SharedMemoryOptions.RingCapacity))]
    [InlineData(3 << 12, 1024, nameof(SharedMemoryOptions.RingCapacity))]
    [InlineData(4096, -1, nameof(SharedMemoryOptions.EagerLimit))]
    [InlineData(4096, 4096, nameof(SharedMemoryOptions.EagerLimit))]
    public async Task Validate_BadProperty_ThrowsArgumentExceptionNamingIt(int ringCapacity, int eagerLimit, string property)
    {
        CancellationToken ct = TestContext.Current.CancellationToken;
        ct.ThrowIfCancellationRequested();
        await Task.Yield();
        var options = new SharedMemoryOptions { RingCapacity = ringCapacity, EagerLimit = eagerLimit };
        ArgumentException e = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Equal(property, e.ParamName);
    }
}
