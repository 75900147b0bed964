using System.Buffers;
using SharpMpi.Diagnostics;
using SharpMpi.Engine;

namespace SharpMpi;

/// <summary>
/// A communication set up once and started many times (MPI_Send_init / MPI_Recv_init): the buffer is
/// pinned for the life of the object and arguments are checked once. <see cref="Start"/>, then
/// <see cref="Wait"/> or await, as often as needed; dispose when done.
/// </summary>
public sealed unsafe class PersistentRequest : IDisposable
{
    private readonly Communicator _comm;
    private readonly bool _isSend;
    private readonly SendMode _mode;
    private readonly int _peer;
    private readonly int _tag;
    private readonly long _length;
    private MemoryHandle _pin;
    private Request _active;
    private bool _disposed;

    internal PersistentRequest(Communicator comm, bool isSend, SendMode mode, MemoryHandle pin, long length, int peer, int tag)
    {
        _comm = comm;
        _isSend = isSend;
        _mode = mode;
        _pin = pin;
        _length = length;
        _peer = peer;
        _tag = tag;
    }

    /// <summary>True while a started operation has not been completed by Wait/Test/await.</summary>
    public bool IsActive => !_active.IsNull;

    /// <summary>Starts the operation (MPI_Start).</summary>
    /// <exception cref="InvalidOperationException">The previous start has not completed yet.</exception>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_active.IsNull)
            throw new InvalidOperationException("The persistent request is still active: Wait for it before starting it again.");
        var engine = _comm.Engine;
        if (engine.Recorder is { } recorder)
        {
            // Recorded like the ISend/IReceive it stands for, under MPI's name; a send starts a flow arrow.
            var scope = CallScope.Begin(recorder, "Start", _comm, _peer, _tag, _length,
                _isSend && _peer != Communicator.ProcNull ? _comm.WorldRankOf(_peer) : -1);
            StartCore(engine);
            if (!_isSend || _peer == Communicator.ProcNull)
                scope.End();
            else if (_mode == SendMode.Buffered)
                scope.EndEagerSend();
            else
                scope.EndSend(_active.Core!.FlowSeq);
            return;
        }
        StartCore(engine);
    }

    private void StartCore(ProgressEngine engine)
    {
        if (_peer == Communicator.ProcNull)
        {
            _active = new Request(engine.CompletedRequest(Communicator.ProcNullStatus));
            return;
        }
        if (_isSend && _mode == SendMode.Buffered)
        {
            _comm.Environment.BufferedSends.Reserve(_length);
            engine.StartBufferedSend(_comm.P2PContext, _comm.Rank, _tag, _comm.WorldRankOf(_peer),
                new ReadOnlySpan<byte>(_pin.Pointer, (int)_length), _comm.Environment.BufferedSends);
            _active = new Request(engine.CompletedRequest(new Status(_comm.Rank, _tag, _length)));
            return;
        }
        _active = _isSend
            ? new Request(engine.StartSend(_comm.P2PContext, _comm.Rank, _tag, _comm.WorldRankOf(_peer), (byte*)_pin.Pointer, _length, _mode))
            : new Request(engine.StartReceive(_comm.P2PContext, _peer, _tag, (byte*)_pin.Pointer, _length));
    }

    /// <summary>Starts every request (MPI_Startall).</summary>
    public static void StartAll(params ReadOnlySpan<PersistentRequest> requests)
    {
        foreach (var r in requests)
            r.Start();
    }

    /// <summary>Waits for the started operation and makes the request inactive (ready to start again) (MPI_Wait).</summary>
    public Status Wait()
    {
        var r = _active;
        _active = default;
        return r.Wait();
    }

    /// <summary>True (and inactive again) when the started operation has completed (MPI_Test).</summary>
    public bool Test(out Status status)
    {
        if (!_active.Test(out status))
            return false;
        _active = default;
        return true;
    }

    /// <summary>Awaits the started operation (MPI_Wait without blocking a thread).</summary>
    public System.Runtime.CompilerServices.ValueTaskAwaiter<Status> GetAwaiter()
    {
        var r = _active;
        _active = default;
        return r.GetAwaiter();
    }

    /// <summary>Releases the pinned buffer (MPI_Request_free). Waits for an active operation first.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        if (!_active.IsNull)
            Wait();
        _disposed = true;
        _pin.Dispose();
    }
}
