using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using SharpMpi.Diagnostics;
using SharpMpi.Engine;

namespace SharpMpi;

// The object family: values serialized by MpiEnvironment.Serializer (MemoryPack by default). Distinct names
// (SendObject, not Send) keep the cost visible and stop arrays from binding here by accident.
public partial class Communicator
{
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_writer;

    private static ArrayBufferWriter<byte> RentWriter()
    {
        var w = t_writer ?? new ArrayBufferWriter<byte>(256);
        t_writer = null;
        w.ResetWrittenCount();
        return w;
    }

    private static void ReturnWriter(ArrayBufferWriter<byte> w)
    {
        if (w.Capacity <= 1 << 20)
            t_writer = w;
    }

    /// <summary>Serializes <paramref name="value"/> and sends it as one message (MPI_Send of a serialized object).</summary>
    public void SendObject<T>(T value, int dest, int tag)
    {
        CheckDestination(dest);
        CheckSendTag(tag);
        if (dest == ProcNull)
            return;
        var w = RentWriter();
        try
        {
            Environment.Serializer.Serialize(w, value);
            Send(w.WrittenSpan, dest, tag);
        }
        finally
        {
            ReturnWriter(w);
        }
    }

    /// <summary>Serializes <paramref name="value"/> and sends it synchronously (returns after the receiver matched) (MPI_Ssend of a serialized object).</summary>
    public void SendObjectSync<T>(T value, int dest, int tag)
    {
        CheckDestination(dest);
        CheckSendTag(tag);
        if (dest == ProcNull)
            return;
        var w = RentWriter();
        try
        {
            Environment.Serializer.Serialize(w, value);
            SendSync(w.WrittenSpan, dest, tag);
        }
        finally
        {
            ReturnWriter(w);
        }
    }

    /// <summary>Receives and deserializes one object message. The receive buffer is sized exactly at match time (MPI_Mprobe and MPI_Mrecv).</summary>
    public T? ReceiveObject<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(int source = AnySource, int tag = AnyTag) => ReceiveObject<T>(source, tag, out _);

    /// <summary>Receives and deserializes one object message, with its status (MPI_Mprobe and MPI_Mrecv).</summary>
    public T? ReceiveObject<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(int source, int tag, out Status status)
    {
        CheckSource(source);
        CheckReceiveTag(tag);
        if (source == ProcNull)
        {
            status = ProcNullStatus;
            return default;
        }
        var scope = CallScope.Begin(Engine.Recorder, "ReceiveObject", this, source, tag);
        var m = MatchedProbeCore(source, tag);
        var value = ReceiveObjectMatched<T>(m, out status, out long sequence);
        scope.End(status, sequence);
        return value;
    }

    /// <summary>Receives a matched object message; <paramref name="sequence"/> is its flow number when recording, else -1.</summary>
    internal unsafe T? ReceiveObjectMatched<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(UnexpectedMessage m, out Status status, out long sequence)
    {
        long length = m.Length;
        if (length > Array.MaxLength)
            throw new MpiException(ErrorClass.Truncate, $"An object message of {length} bytes is larger than the largest .NET array.");
        var bytes = ArrayPool<byte>.Shared.Rent((int)Math.Max(1, length));
        try
        {
            fixed (byte* p = bytes)
            {
                var r = Engine.StartReceiveMatched(m, p, length);
                sequence = Engine.FlowSequence(r, Engine.Recorder);
                status = Engine.WaitAndRelease(r);
            }
            return Environment.Serializer.Deserialize<T>(bytes.AsSpan(0, (int)length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    /// <summary>
    /// Waits for a matching message and takes it out of the queue so that only the returned
    /// <see cref="Message"/> can receive it (MPI_Mprobe). Use it to size buffers safely with several threads.
    /// </summary>
    public Message MatchedProbe(int source, int tag)
    {
        CheckSource(source);
        CheckReceiveTag(tag);
        if (source == ProcNull)
            throw new ArgumentOutOfRangeException(nameof(source), source, "A matched probe from ProcNull has no message to return.");
        var scope = CallScope.Begin(Engine.Recorder, "MatchedProbe", this, source, tag);
        var message = new Message(this, MatchedProbeCore(source, tag));
        scope.End(message.Status, -1);
        return message;
    }

    /// <summary>Like <see cref="MatchedProbe"/> but returns false at once when no message is waiting (MPI_Improbe).</summary>
    public bool TryMatchedProbe(int source, int tag, out Message? message)
    {
        CheckSource(source);
        CheckReceiveTag(tag);
        message = null;
        if (source == ProcNull)
            return false;
        var scope = CallScope.Begin(Engine.Recorder, "TryMatchedProbe", this, source, tag);
        var m = Engine.TryMatchedProbe(P2PContext, source, tag);
        if (m is null)
        {
            scope.End();
            return false;
        }
        message = new Message(this, m);
        scope.End(message.Status, -1);
        return true;
    }

    private UnexpectedMessage MatchedProbeCore(int source, int tag)
    {
        var state = new MatchedProbeState(this, source, tag);
        // The predicate may run more than once after it first succeeds (the doorbell's sleep check calls it
        // too), so it keeps what it claimed: a second probe would take a second message and lose the first.
        Engine.WaitUntil(static s => (s.Found ??= s.Comm.Engine.TryMatchedProbe(s.Comm.P2PContext, s.Source, s.Tag)) is not null, state);
        return state.Found!;
    }

    private sealed class MatchedProbeState(Communicator comm, int source, int tag)
    {
        public Communicator Comm { get; } = comm;
        public int Source { get; } = source;
        public int Tag { get; } = tag;
        public UnexpectedMessage? Found { get; set; }
    }
}
