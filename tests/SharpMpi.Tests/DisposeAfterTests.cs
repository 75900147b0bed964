using SharpMpi.Bootstrap;
using SharpMpi.Engine;
using SharpMpi.Transport;

namespace SharpMpi.Tests;

/// <summary>
/// The wrapper that joins shared memory and TCP in a multi-host job must answer as the shared-memory
/// transport it wraps, including for the members ITransport gives defaults to.
/// </summary>
public sealed class DisposeAfterTests
{
    [Fact]
    public void ForwardsEveryAnswerOfTheWrappedTransport()
    {
        var disposedFirst = new Flag();
        var inner = new FakeTransport(disposedFirst);
        ITransport wrapper = new DisposeAfter(inner, disposedFirst);

        Assert.False(wrapper.MayHaveInput);
        Assert.Equal(12345, wrapper.PullThreshold);
        Assert.True(wrapper.CanWake);
        Assert.True(wrapper.TryFindFailedPeer(out int peer, out string reason));
        Assert.Equal(3, peer);
        Assert.Equal("gone", reason);

        wrapper.Dispose();
        Assert.True(disposedFirst.Disposed);
        Assert.True(inner.DisposedAfterFirst);
    }

    private sealed class Flag : IDisposable
    {
        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }

    private sealed class FakeTransport(Flag first) : ITransport
    {
        public bool DisposedAfterFirst { get; private set; }

        public string Name => "fake";

        public int MaxFramePayload => 64;

        public int EagerLimit => 64;

        public bool HasPendingInput => false;

        public bool MayHaveInput => false;

        public long PullThreshold => 12345;

        public bool CanWake => true;

        public void Wake(int peer)
        {
        }

        public bool TryFindFailedPeer(out int peer, out string reason)
        {
            peer = 3;
            reason = "gone";
            return true;
        }

        public bool TrySend(int peer, in FrameHeader header, ReadOnlySpan<byte> payload) => false;

        public int Poll(IFrameSink sink) => 0;

        public bool CanPull(int peer) => false;

        public void Pull(int peer, ulong address, Span<byte> destination) => throw new NotSupportedException();

        public void Dispose() => DisposedAfterFirst = first.Disposed;
    }
}
