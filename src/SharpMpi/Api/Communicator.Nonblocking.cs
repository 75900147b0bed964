using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using SharpMpi.Diagnostics;
using SharpMpi.Engine;

namespace SharpMpi;

// Nonblocking point-to-point (MPI standard 3.7, 3.8, 3.9; MPI-4 Isendrecv). Buffers stay pinned until the
// request completes. Every Memory-taking call has an array overload because C# does not infer T from an
// array for Memory<T>.
public partial class Communicator
{
    /// <summary>Starts a send (MPI_Isend). Do not modify <paramref name="data"/> until the request completes.</summary>
    public Request ISend<T>(ReadOnlyMemory<T> data, int dest, int tag) where T : unmanaged => ISendCore(data, dest, tag, SendMode.Standard);

    /// <inheritdoc cref="ISend{T}(ReadOnlyMemory{T}, int, int)"/>
    public Request ISend<T>(Memory<T> data, int dest, int tag) where T : unmanaged => ISendCore<T>(data, dest, tag, SendMode.Standard);

    /// <inheritdoc cref="ISend{T}(ReadOnlyMemory{T}, int, int)"/>
    public Request ISend<T>(T[] data, int dest, int tag) where T : unmanaged => ISendCore(Checked(data), dest, tag, SendMode.Standard);

    /// <inheritdoc cref="ISend{T}(ReadOnlyMemory{T}, int, int)"/>
    public Request ISend<T>(ArraySegment<T> data, int dest, int tag) where T : unmanaged => ISendCore<T>(data, dest, tag, SendMode.Standard);

    /// <summary>Starts a synchronous send (MPI_Issend): completes after the receiver matched it.</summary>
    public Request ISendSync<T>(ReadOnlyMemory<T> data, int dest, int tag) where T : unmanaged => ISendCore(data, dest, tag, SendMode.Synchronous);

    /// <inheritdoc cref="ISendSync{T}(ReadOnlyMemory{T}, int, int)"/>
    public Request ISendSync<T>(T[] data, int dest, int tag) where T : unmanaged => ISendCore(Checked(data), dest, tag, SendMode.Synchronous);

    /// <summary>Starts a ready send (MPI_Irsend); fails when the matching receive was not posted first.</summary>
    public Request ISendReady<T>(ReadOnlyMemory<T> data, int dest, int tag) where T : unmanaged => ISendCore(data, dest, tag, SendMode.Ready);

    /// <inheritdoc cref="ISendReady{T}(ReadOnlyMemory{T}, int, int)"/>
    public Request ISendReady<T>(T[] data, int dest, int tag) where T : unmanaged => ISendCore(Checked(data), dest, tag, SendMode.Ready);

    /// <summary>Starts a buffered send (MPI_Ibsend): the data is copied, so the request is complete at once.</summary>
    public Request ISendBuffered<T>(ReadOnlyMemory<T> data, int dest, int tag) where T : unmanaged
    {
        SendBuffered(data.Span, dest, tag);
        return default;
    }

    /// <inheritdoc cref="ISendBuffered{T}(ReadOnlyMemory{T}, int, int)"/>
    public Request ISendBuffered<T>(T[] data, int dest, int tag) where T : unmanaged => ISendBuffered(Checked(data), dest, tag);

    /// <summary>Starts a receive into <paramref name="buffer"/> (MPI_Irecv). Await the request for its <see cref="Status"/>.</summary>
    public unsafe Request IReceive<T>(Memory<T> buffer, int source, int tag) where T : unmanaged
    {
        CheckSource(source);
        CheckReceiveTag(tag);
        if (source == ProcNull)
            return new Request(Engine.CompletedRequest(ProcNullStatus));
        var scope = CallScope.Begin(Engine.Recorder, "IReceive", this, source, tag, (long)buffer.Length * sizeof(T));
        Request request;
        fixed (T* p = buffer.Span)
            request = new Request(Engine.StartReceive(P2PContext, source, tag, buffer, (byte*)p, (long)buffer.Length * sizeof(T)));
        scope.End();
        return request;
    }

    /// <inheritdoc cref="IReceive{T}(Memory{T}, int, int)"/>
    public Request IReceive<T>(T[] buffer, int source, int tag) where T : unmanaged =>
        IReceive(new Memory<T>(buffer ?? throw new ArgumentNullException(nameof(buffer))), source, tag);

    /// <inheritdoc cref="IReceive{T}(Memory{T}, int, int)"/>
    public Request IReceive<T>(ArraySegment<T> buffer, int source, int tag) where T : unmanaged => IReceive((Memory<T>)buffer, source, tag);

    /// <summary>
    /// Starts a send and a receive together (MPI_Isendrecv); the request completes when both have, with the
    /// receive's status.
    /// </summary>
    public unsafe Request ISendReceive<TSend, TReceive>(ReadOnlyMemory<TSend> sendBuffer, int dest, int sendTag,
        Memory<TReceive> receiveBuffer, int source, int receiveTag) where TSend : unmanaged where TReceive : unmanaged
    {
        CheckDestination(dest);
        CheckSendTag(sendTag);
        CheckSource(source);
        CheckReceiveTag(receiveTag);
        var parent = Engine.StartGeneralized();
        var join = new Join(parent, 2);
        if (source == ProcNull)
        {
            join.Status = ProcNullStatus;
            join.Arrive(null);
        }
        else
        {
            var rpin = receiveBuffer.Pin();
            Engine.StartReceive(P2PContext, source, receiveTag, (byte*)rpin.Pointer, (long)receiveBuffer.Length * sizeof(TReceive),
                rpin, hasPin: true, Join.OnReceive, join);
        }
        if (dest == ProcNull)
        {
            join.Arrive(null);
        }
        else
        {
            var spin = sendBuffer.Pin();
            Engine.StartSend(P2PContext, Rank, sendTag, WorldRankOf(dest), (byte*)spin.Pointer, (long)sendBuffer.Length * sizeof(TSend),
                SendMode.Standard, spin, hasPin: true, Join.OnSend, join);
        }
        return new Request(parent);
    }

    /// <inheritdoc cref="ISendReceive{TSend, TReceive}(ReadOnlyMemory{TSend}, int, int, Memory{TReceive}, int, int)"/>
    public Request ISendReceive<TSend, TReceive>(TSend[] sendBuffer, int dest, int sendTag, TReceive[] receiveBuffer, int source, int receiveTag)
        where TSend : unmanaged where TReceive : unmanaged =>
        ISendReceive(Checked(sendBuffer), dest, sendTag, new Memory<TReceive>(receiveBuffer ?? throw new ArgumentNullException(nameof(receiveBuffer))), source, receiveTag);

    /// <summary>Serializes <paramref name="value"/> now and starts sending it; the request completes when it is sent (MPI_Isend of a serialized object).</summary>
    public unsafe Request ISendObject<T>(T value, int dest, int tag)
    {
        CheckDestination(dest);
        CheckSendTag(tag);
        if (dest == ProcNull)
            return default;
        var w = RentWriter();
        byte[] owned;
        int length;
        try
        {
            Environment.Serializer.Serialize(w, value);
            length = w.WrittenCount;
            owned = ArrayPool<byte>.Shared.Rent(Math.Max(1, length));
            w.WrittenSpan.CopyTo(owned);
        }
        finally
        {
            ReturnWriter(w);
        }
        var pin = owned.AsMemory().Pin();
        return new Request(Engine.StartSend(P2PContext, Rank, tag, WorldRankOf(dest), (byte*)pin.Pointer, length, SendMode.Standard,
            pin, hasPin: true, ownedBuffer: owned));
    }

    /// <summary>
    /// Waits, without blocking a thread, for a matching message and takes it out of the queue (MPI_Improbe
    /// as an awaitable); receive it with the returned <see cref="Message"/>.
    /// </summary>
    public unsafe Task<Message> MatchedProbeAsync(int source, int tag, CancellationToken cancellationToken = default)
    {
        CheckSource(source);
        CheckReceiveTag(tag);
        if (source == ProcNull)
            throw new ArgumentOutOfRangeException(nameof(source), source, "A matched probe from ProcNull has no message to return.");
        var probe = new ProbeCompletion(this);
        // The task is awaited outside the engine's knowledge: keep the progress thread on until it completes.
        Engine.AsyncWaiterAdded();
        var core = Engine.StartReceive(P2PContext, source, tag, null, 0, default, false, ProbeCompletion.OnComplete, probe, RequestKind.MatchedProbe);
        if (cancellationToken.CanBeCanceled)
        {
            cancellationToken.Register(() =>
            {
                if (Engine.CancelReceive(core))
                    probe.TrySetCanceled(cancellationToken);
            });
        }
        return probe.Task;
    }

    /// <summary>Receives and deserializes an object message without blocking a thread; sized exactly at match time.</summary>
    public async Task<T?> ReceiveObjectAsync<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(int source = AnySource, int tag = AnyTag, CancellationToken cancellationToken = default)
    {
        var message = await MatchedProbeAsync(source, tag, cancellationToken).ConfigureAwait(false);
        long length = message.Status.ByteCount;
        if (length > Array.MaxLength)
            throw new MpiException(ErrorClass.Truncate, $"An object message of {length} bytes is larger than the largest .NET array.");
        var bytes = ArrayPool<byte>.Shared.Rent((int)Math.Max(1, length));
        try
        {
            await message.ReceiveAsync(bytes.AsMemory(0, (int)length));
            return Environment.Serializer.Deserialize<T>(bytes.AsSpan(0, (int)length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    private unsafe Request ISendCore<T>(ReadOnlyMemory<T> data, int dest, int tag, SendMode mode) where T : unmanaged
    {
        CheckDestination(dest);
        CheckSendTag(tag);
        if (dest == ProcNull)
            return new Request(Engine.CompletedRequest(ProcNullStatus));
        var scope = Engine.Recorder is { } recorder
            ? CallScope.Begin(recorder, mode switch { SendMode.Synchronous => "ISendSync", SendMode.Ready => "ISendReady", _ => "ISend" },
                this, dest, tag, (long)data.Length * sizeof(T), WorldRankOf(dest))
            : default;
        long length = (long)data.Length * sizeof(T);
        if (mode == SendMode.Standard)
        {
            // A small message that fits in the transport now is copied out before this call returns: no pin.
            RequestCore? sent;
            fixed (T* p = data.Span)
                sent = Engine.TryStartEagerSendNow(P2PContext, Rank, tag, WorldRankOf(dest), (byte*)p, length);
            if (sent is not null)
            {
                scope.EndEagerSend();
                return new Request(sent);
            }
        }
        var pin = data.Pin();
        var core = Engine.StartSend(P2PContext, Rank, tag, WorldRankOf(dest), (byte*)pin.Pointer, length, mode, pin, hasPin: true);
        scope.EndSend(core.FlowSeq);
        return new Request(core);
    }

    private static ReadOnlyMemory<T> Checked<T>(T[] data) => data ?? throw new ArgumentNullException(nameof(data));

    /// <summary>Completes a parent request when all parts have (ISendReceive). Callbacks run under the engine lock.</summary>
    private sealed class Join(RequestCore parent, int parts)
    {
        private int _remaining = parts;
        private Exception? _error;

        public Status Status;

        public static readonly Action<RequestCore> OnReceive = static r =>
        {
            var j = (Join)r.State!;
            j.Status = r.Status;
            j.Arrive(r.Error);
        };

        public static readonly Action<RequestCore> OnSend = static r => ((Join)r.State!).Arrive(r.Error);

        public void Arrive(Exception? error)
        {
            if (error is not null)
                _error ??= error;
            if (Interlocked.Decrement(ref _remaining) == 0)
            {
                if (_error is null)
                    parent.Complete(Status);
                else
                    parent.Fail(_error);
            }
        }
    }

    private sealed class ProbeCompletion(Communicator comm) : TaskCompletionSource<Message>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public static readonly Action<RequestCore> OnComplete = static r =>
        {
            var p = (ProbeCompletion)r.State!;
            r.Engine.AsyncWaiterDone();
            if (r.Error is not null)
                p.TrySetException(r.Error);
            else if (r.Matched is { } m)
                p.TrySetResult(new Message(comm: p._comm, m));
        };

        private readonly Communicator _comm = comm;
    }

    internal static Span<byte> AsBytes<T>(Span<T> span) where T : unmanaged => MemoryMarshal.AsBytes(span);
}
