using SharpMpi.Diagnostics;
using SharpMpi.Run.Diagnostics;

namespace SharpMpi.Run.Tests;

/// <summary>The deadlock rule on reported states, without processes.</summary>
public class DeadlockDetectorTests
{
    private static string Send(int dest, int tag, long bytes) => new BlockedState("Send", "World", 0, dest, tag, bytes, "", 0, -1, "").Encode();

    private static string Receive(int source, int tag) => new BlockedState("Receive", "World", 0, source, tag, 8, "", 0, -1, "").Encode();

    [Fact]
    public void SendSend_IsADeadlockWithACycle()
    {
        var d = new DeadlockDetector(2, TimeSpan.Zero);
        d.Update(0, Send(1, 0, 4 << 20));
        d.Update(1, Send(0, 0, 4 << 20));
        var report = d.Check();
        Assert.NotNull(report);
        Assert.Contains("sharpmpi: deadlock: rank 0 waits in Send(dest 1, tag 0, 4 MiB)", report);
        Assert.Contains("sharpmpi: deadlock: wait-for cycle: rank 0 -> rank 1 -> rank 0", report);
    }

    [Fact]
    public void AMatchingSendAndReceive_IsATransferNotADeadlock()
    {
        var d = new DeadlockDetector(2, TimeSpan.Zero);
        d.Update(0, Send(1, 3, 3L << 30));
        d.Update(1, Receive(-1, -1));
        Assert.Null(d.Check());
    }

    [Fact]
    public void ARunningRank_MeansNoDeadlock_UntilItExits()
    {
        var d = new DeadlockDetector(2, TimeSpan.Zero);
        d.Update(0, Receive(1, 0));
        Assert.Null(d.Check());
        d.RankGone(1);
        Assert.NotNull(d.Check());
    }
}
