using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SharpMpi.Diagnostics;
using SharpMpi.Engine;

namespace SharpMpi;

// Blocking point-to-point on typed buffers (MPI standard chapter 3.2–3.4, 3.8, 3.10).
public partial class Communicator
{
    /// <summary>Sends <paramref name="data"/> to rank <paramref name="dest"/> (MPI_Send). Returns when the buffer may be reused.</summary>
    public void Send<T>(ReadOnlySpan<T> data, int dest, int tag) where T : unmanaged =>
        SendCore(data, dest, tag, SendMode.Standard);

    /// <inheritdoc cref="Send{T}(ReadOnlySpan{T}, int, int)"/>
    public void Send<T>(Span<T> data, int dest, int tag) where T : unmanaged =>
        SendCore((ReadOnlySpan<T>)data, dest, tag, SendMode.Standard);

    /// <inheritdoc cref="Send{T}(ReadOnlySpan{T}, int, int)"/>
    public void Send<T>(T[] data, int dest, int tag) where T : unmanaged =>
        SendCore(new ReadOnlySpan<T>(data ?? throw new ArgumentNullException(nameof(data))), dest, tag, SendMode.Standard);

    /// <summary>Sends one value to rank <paramref name="dest"/> (MPI_Send).</summary>
    public void Send<T>(T value, int dest, int tag) where T : unmanaged =>
        SendCore(new ReadOnlySpan<T>(in value), dest, tag, SendMode.Standard);

    /// <summary>Synchronous send (MPI_Ssend): returns only after the receiver has matched the message.</summary>
    public void SendSync<T>(ReadOnlySpan<T> data, int dest, int tag) where T : unmanaged =>
        SendCore(data, dest, tag, SendMode.Synchronous);

    /// <inheritdoc cref="SendSync{T}(ReadOnlySpan{T}, int, int)"/>
    public void SendSync<T>(T[] data, int dest, int tag) where T : unmanaged =>
        SendCore(new ReadOnlySpan<T>(data ?? throw new ArgumentNullException(nameof(data))), dest, tag, SendMode.Synchronous);

    /// <summary>Synchronous send of one value (MPI_Ssend).</summary>
    public void SendSync<T>(T value, int dest, int tag) where T : unmanaged =>
        SendCore(new ReadOnlySpan<T>(in value), dest, tag, SendMode.Synchronous);

    /// <summary>
    /// Ready send (MPI_Rsend): the matching receive must already be posted. When it is not, the send fails
    /// with an <see cref="MpiException"/> instead of behaving undefined.
    /// </summary>
    public void SendReady<T>(ReadOnlySpan<T> data, int dest, int tag) where T : unmanaged =>
        SendCore(data, dest, tag, SendMode.Ready);

    /// <inheritdoc cref="SendReady{T}(ReadOnlySpan{T}, int, int)"/>
    public void SendReady<T>(T[] data, int dest, int tag) where T : unmanaged =>
        SendCore(new ReadOnlySpan<T>(data ?? throw new ArgumentNullException(nameof(data))), dest, tag, SendMode.Ready);

    /// <summary>Ready send of one value (MPI_Rsend).</summary>
    public void SendReady<T>(T value, int dest, int tag) where T : unmanaged =>
        SendCore(new ReadOnlySpan<T>(in value), dest, tag, SendMode.Ready);

    /// <summary>Buffered send (MPI_Bsend): copies the data and returns at once.</summary>
    public void SendBuffered<T>(ReadOnlySpan<T> data, int dest, int tag) where T : unmanaged
    {
        CheckDestination(dest);
        CheckSendTag(tag);
        if (dest == ProcNull)
            return;
        var bytes = MemoryMarshal.AsBytes(data);
        var scope = Engine.Recorder is { } recorder ? CallScope.Begin(recorder, "SendBuffered", this, dest, tag, bytes.Length, WorldRankOf(dest)) : default;
        Environment.BufferedSends.Reserve(bytes.Length);
        Engine.StartBufferedSend(P2PContext, Rank, tag, WorldRankOf(dest), bytes, Environment.BufferedSends);
        scope.EndEagerSend();
    }

    /// <inheritdoc cref="SendBuffered{T}(ReadOnlySpan{T}, int, int)"/>
    public void SendBuffered<T>(T[] data, int dest, int tag) where T : unmanaged =>
        SendBuffered(new ReadOnlySpan<T>(data ?? throw new ArgumentNullException(nameof(data))), dest, tag);

    /// <summary>Buffered send of one value (MPI_Bsend).</summary>
    public void SendBuffered<T>(T value, int dest, int tag) where T : unmanaged =>
        SendBuffered(new ReadOnlySpan<T>(in value), dest, tag);

    private unsafe void SendCore<T>(ReadOnlySpan<T> data, int dest, int tag, SendMode mode) where T : unmanaged
    {
        CheckDestination(dest);
        CheckSendTag(tag);
        if (dest == ProcNull)
            return;
        fixed (T* p = data)
        {
            long length = (long)data.Length * sizeof(T);
            var scope = Engine.Recorder is { } recorder
                ? CallScope.Begin(recorder, mode switch { SendMode.Synchronous => "SendSync", SendMode.Ready => "SendReady", _ => "Send" },
                    this, dest, tag, length, WorldRankOf(dest))
                : default;
            if (mode == SendMode.Standard && Engine.TrySendEagerNow(P2PContext, Rank, tag, WorldRankOf(dest), (byte*)p, length))
            {
                scope.EndEagerSend();
                return;
            }
            var r = Engine.StartSend(P2PContext, Rank, tag, WorldRankOf(dest), (byte*)p, length, mode);
            long sequence = r.FlowSeq;
            Engine.WaitAndRelease(r);
            scope.EndSend(sequence);
        }
    }

    /// <summary>Receives a message into <paramref name="buffer"/> (MPI_Recv).</summary>
    /// <param name="buffer">Where the message goes; it may be longer than the message.</param>
    /// <param name="source">Sender's rank, <see cref="AnySource"/> or <see cref="ProcNull"/>.</param>
    /// <param name="tag">Tag, or <see cref="AnyTag"/>.</param>
    /// <returns>Source, tag and size of the message received.</returns>
    /// <exception cref="MpiException">With <see cref="ErrorClass.Truncate"/> when the message is longer than the buffer (the message is consumed).</exception>
    public unsafe Status Receive<T>(Span<T> buffer, int source, int tag) where T : unmanaged
    {
        CheckSource(source);
        CheckReceiveTag(tag);
        if (source == ProcNull)
            return ProcNullStatus;
        fixed (T* p = buffer)
        {
            var scope = CallScope.Begin(Engine.Recorder, "Receive", this, source, tag, (long)buffer.Length * sizeof(T));
            var r = Engine.StartReceive(P2PContext, source, tag, (byte*)p, (long)buffer.Length * sizeof(T));
            long sequence = Engine.FlowSequence(r, scope.Recorder);
            var status = Engine.WaitAndRelease(r);
            scope.End(status, sequence);
            return status;
        }
    }

    /// <inheritdoc cref="Receive{T}(Span{T}, int, int)"/>
    public Status Receive<T>(T[] buffer, int source, int tag) where T : unmanaged =>
        Receive(new Span<T>(buffer ?? throw new ArgumentNullException(nameof(buffer))), source, tag);

    /// <summary>Receives one value (MPI_Recv).</summary>
    public T Receive<T>(int source, int tag) where T : unmanaged => Receive<T>(source, tag, out _);

    /// <summary>Receives one value and the message's status (MPI_Recv).</summary>
    public T Receive<T>(int source, int tag, out Status status) where T : unmanaged
    {
        T value = default;
        status = Receive(new Span<T>(ref value), source, tag);
        return value;
    }

    /// <summary>
    /// Sends <paramref name="sendBuffer"/> to <paramref name="dest"/> and receives into <paramref name="receiveBuffer"/>
    /// from <paramref name="source"/> at the same time, so exchanges in a ring cannot deadlock (MPI_Sendrecv).
    /// </summary>
    public unsafe Status SendReceive<TSend, TReceive>(ReadOnlySpan<TSend> sendBuffer, int dest, int sendTag,
        Span<TReceive> receiveBuffer, int source, int receiveTag)
        where TSend : unmanaged where TReceive : unmanaged
    {
        CheckDestination(dest);
        CheckSendTag(sendTag);
        CheckSource(source);
        CheckReceiveTag(receiveTag);
        fixed (TReceive* rp = receiveBuffer)
        fixed (TSend* sp = sendBuffer)
        {
            var scope = Engine.Recorder is { } recorder
                ? CallScope.Begin(recorder, "SendReceive", this, dest, sendTag, (long)sendBuffer.Length * sizeof(TSend), dest == ProcNull ? -1 : WorldRankOf(dest))
                : default;
            RequestCore? recv = source == ProcNull ? null
                : Engine.StartReceive(P2PContext, source, receiveTag, (byte*)rp, (long)receiveBuffer.Length * sizeof(TReceive));
            RequestCore? send = null;
            long sendSequence = -1, receiveSequence = -1;
            if (dest != ProcNull)
            {
                try
                {
                    // Like Send: a message the transport takes at once needs no request.
                    int world = WorldRankOf(dest);
                    long length = (long)sendBuffer.Length * sizeof(TSend);
                    if (Engine.TrySendEagerNow(P2PContext, Rank, sendTag, world, (byte*)sp, length))
                    {
                        sendSequence = scope.Recorder is null ? -1 : CallRecorder.LastEagerSequence;
                    }
                    else
                    {
                        send = Engine.StartSend(P2PContext, Rank, sendTag, world, (byte*)sp, length, SendMode.Standard);
                        sendSequence = send.FlowSeq;
                    }
                }
                catch
                {
                    // The receive points into the caller's buffer, fixed only inside this call: never leave it posted.
                    if (recv is not null && Engine.CancelReceive(recv))
                        Engine.Return(recv);
                    throw;
                }
            }
            Status status = ProcNullStatus;
            Exception? error = null;
            if (recv is not null)
            {
                try
                {
                    receiveSequence = Engine.FlowSequence(recv, scope.Recorder);
                    status = Engine.WaitAndRelease(recv);
                }
                catch (MpiException e)
                {
                    error = e;
                }
            }
            if (send is not null)
                Engine.WaitAndRelease(send);
            if (error is not null)
                throw error;
            scope.End(status, receiveSequence, sendSequence);
            return status;
        }
    }

    /// <inheritdoc cref="SendReceive{TSend, TReceive}(ReadOnlySpan{TSend}, int, int, Span{TReceive}, int, int)"/>
    public Status SendReceive<TSend, TReceive>(TSend[] sendBuffer, int dest, int sendTag, TReceive[] receiveBuffer, int source, int receiveTag)
        where TSend : unmanaged where TReceive : unmanaged =>
        SendReceive(new ReadOnlySpan<TSend>(sendBuffer ?? throw new ArgumentNullException(nameof(sendBuffer))), dest, sendTag,
            new Span<TReceive>(receiveBuffer ?? throw new ArgumentNullException(nameof(receiveBuffer))), source, receiveTag);

    /// <summary>Sends the buffer's contents and replaces them with the message received (MPI_Sendrecv_replace).</summary>
    public Status SendReceiveReplace<T>(Span<T> buffer, int dest, int sendTag, int source, int receiveTag) where T : unmanaged
    {
        var copy = System.Buffers.ArrayPool<T>.Shared.Rent(Math.Max(1, buffer.Length));
        try
        {
            buffer.CopyTo(copy);
            return SendReceive(new ReadOnlySpan<T>(copy, 0, buffer.Length), dest, sendTag, buffer, source, receiveTag);
        }
        finally
        {
            System.Buffers.ArrayPool<T>.Shared.Return(copy);
        }
    }

    /// <inheritdoc cref="SendReceiveReplace{T}(Span{T}, int, int, int, int)"/>
    public Status SendReceiveReplace<T>(T[] buffer, int dest, int sendTag, int source, int receiveTag) where T : unmanaged =>
        SendReceiveReplace(new Span<T>(buffer ?? throw new ArgumentNullException(nameof(buffer))), dest, sendTag, source, receiveTag);

    // ------------------------------------------------------------------ probe

    /// <summary>Blocks until a matching message is available and returns its status without receiving it (MPI_Probe).</summary>
    public Status Probe(int source, int tag)
    {
        CheckSource(source);
        CheckReceiveTag(tag);
        if (source == ProcNull)
            return ProcNullStatus;
        var scope = CallScope.Begin(Engine.Recorder, "Probe", this, source, tag);
        var state = new ProbeState(this, source, tag);
        Engine.WaitUntil(static s => s.Comm.Engine.TryProbe(s.Comm.P2PContext, s.Source, s.Tag, out s.Box.Status), state);
        scope.End();
        return state.Box.Status;
    }

    /// <summary>Returns true with the status when a matching message is available (MPI_Iprobe).</summary>
    public bool TryProbe(int source, int tag, out Status status)
    {
        CheckSource(source);
        CheckReceiveTag(tag);
        if (source == ProcNull)
        {
            status = ProcNullStatus;
            return true;
        }
        if (Engine.Recorder is not { } recorder)
            return Engine.TryProbe(P2PContext, source, tag, out status);
        var scope = CallScope.Begin(recorder, "TryProbe", this, source, tag);
        bool found = Engine.TryProbe(P2PContext, source, tag, out status);
        if (found)
            scope.End(status, -1);
        else
            scope.End();
        return found;
    }

    internal sealed class StatusBox
    {
        public Status Status;
    }

    private readonly record struct ProbeState(Communicator Comm, int Source, int Tag)
    {
        public StatusBox Box { get; } = new();
    }
}
