using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using SharpMpi.Diagnostics;
using SharpMpi.Engine;

namespace SharpMpi;

/// <summary>
/// A message taken out of the queue by a matched probe (MPI_Mprobe): no other receive can take it, so
/// probe-then-receive is safe with several threads. Receive it exactly once.
/// </summary>
public sealed class Message
{
    private readonly Communicator _comm;
    private UnexpectedMessage? _message;

    internal Message(Communicator comm, UnexpectedMessage message)
    {
        _comm = comm;
        _message = message;
        Status = new Status(message.Source, message.Tag, message.Length);
    }

    /// <summary>Source, tag and size of the message.</summary>
    public Status Status { get; }

    private UnexpectedMessage Take() =>
        Interlocked.Exchange(ref _message, null) ?? throw new InvalidOperationException("This message has already been received.");

    /// <summary>Receives the message into <paramref name="buffer"/> (MPI_Mrecv).</summary>
    public unsafe Status Receive<T>(Span<T> buffer) where T : unmanaged
    {
        var m = Take();
        var engine = _comm.Engine;
        fixed (T* p = buffer)
        {
            var scope = CallScope.Begin(engine.Recorder, "MatchedReceive", _comm, m.Source, m.Tag, (long)buffer.Length * sizeof(T));
            var r = engine.StartReceiveMatched(m, (byte*)p, (long)buffer.Length * sizeof(T));
            long sequence = engine.FlowSequence(r, scope.Recorder);
            var status = engine.WaitAndRelease(r);
            scope.End(status, sequence);
            return status;
        }
    }

    /// <inheritdoc cref="Receive{T}(Span{T})"/>
    public Status Receive<T>(T[] buffer) where T : unmanaged =>
        Receive(new Span<T>(buffer ?? throw new ArgumentNullException(nameof(buffer))));

    /// <summary>Starts receiving the message into <paramref name="buffer"/> (MPI_Imrecv); the memory stays pinned until completion.</summary>
    public unsafe Request ReceiveAsync<T>(Memory<T> buffer) where T : unmanaged
    {
        var m = Take();
        var scope = CallScope.Begin(_comm.Engine.Recorder, "IMatchedReceive", _comm, m.Source, m.Tag, (long)buffer.Length * sizeof(T));
        var pin = buffer.Pin();
        var r = _comm.Engine.StartReceiveMatched(m, (byte*)pin.Pointer, (long)buffer.Length * sizeof(T), pin, hasPin: true);
        scope.End();
        return new Request(r);
    }

    /// <summary>Receives and deserializes an object message (MPI_Mprobe and MPI_Mrecv).</summary>
    public T? ReceiveObject<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>()
    {
        var m = Take();
        var scope = CallScope.Begin(_comm.Engine.Recorder, "MatchedReceive", _comm, m.Source, m.Tag);
        var value = _comm.ReceiveObjectMatched<T>(m, out var status, out long sequence);
        scope.End(status, sequence);
        return value;
    }

    internal static Span<byte> Bytes<T>(Span<T> span) where T : unmanaged => MemoryMarshal.AsBytes(span);
}
