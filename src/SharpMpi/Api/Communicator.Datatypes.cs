using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SharpMpi.Datatypes;
using SharpMpi.Engine;

namespace SharpMpi;

// (buffer, datatype, count) forms of point-to-point and collectives (MPI standard chapter 5). A layout that
// is one contiguous range goes straight from / into the buffer; any other is packed into a pooled buffer,
// moved with the byte form, and unpacked. Buffers are addressed from their start: the datatype's offsets
// are byte offsets into the span, and count × extent must stay inside it.
public partial class Communicator
{
    // ------------------------------------------------------------------ checks

    /// <summary>The committed layout of <paramref name="type"/>, after checking that <paramref name="count"/> elements fit in the buffer.</summary>
    internal static DatatypeLayout CheckTyped(long bufferBytes, Datatype type, int count, string bufferName,
        [CallerArgumentExpression(nameof(type))] string? typeName = null)
    {
        ArgumentNullException.ThrowIfNull(type, typeName);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var layout = type.Layout(typeName!);
        var (low, high) = layout.Span(count);
        if (low < 0 || high > bufferBytes)
        {
            throw new ArgumentException(
                $"{bufferName} holds {bufferBytes} bytes but {count} × {type.Name} touch bytes {low} to {high}.", bufferName);
        }
        return layout;
    }

    private static void CheckReceivedSignature(DatatypeLayout layout, long bytes, Datatype type)
    {
        if (layout.ElementsIn(bytes) < 0)
        {
            throw new MpiException(ErrorClass.Type,
                $"A message of {bytes} bytes does not end on an element boundary of {type.Name}: the sender's type signature differs.");
        }
    }

    private static unsafe byte[] RentPacked<T>(ReadOnlySpan<T> buffer, DatatypeLayout layout, int count, out int length) where T : unmanaged
    {
        long bytes = count * layout.Size;
        if (bytes > Array.MaxLength)
            throw new ArgumentException($"{count} elements of {bytes / Math.Max(1, count)} bytes are too many to pack in one .NET array.", nameof(count));
        length = (int)bytes;
        var packed = ArrayPool<byte>.Shared.Rent(Math.Max(1, length));
        fixed (T* src = buffer)
        fixed (byte* dst = packed)
            layout.Pack((byte*)src, count, dst);
        return packed;
    }

    private static Span<byte> ContiguousBytes<T>(Span<T> buffer, DatatypeLayout layout, int count) where T : unmanaged =>
        MemoryMarshal.AsBytes(buffer).Slice((int)layout.DataStart, (int)(count * layout.Size));

    private static ReadOnlySpan<byte> ContiguousBytes<T>(ReadOnlySpan<T> buffer, DatatypeLayout layout, int count) where T : unmanaged =>
        MemoryMarshal.AsBytes(buffer).Slice((int)layout.DataStart, (int)(count * layout.Size));

    // ------------------------------------------------------------------ blocking point-to-point

    /// <summary>Sends <paramref name="count"/> elements of <paramref name="type"/> laid out in <paramref name="buffer"/> (MPI_Send).</summary>
    /// <exception cref="ArgumentException">count × extent of <paramref name="type"/> does not fit in <paramref name="buffer"/>.</exception>
    public void Send<T>(ReadOnlySpan<T> buffer, Datatype type, int count, int dest, int tag) where T : unmanaged
    {
        var layout = CheckTyped((long)buffer.Length * Unsafe.SizeOf<T>(), type, count, nameof(buffer));
        if (layout.IsContiguousFor(count))
        {
            Send(ContiguousBytes(buffer, layout, count), dest, tag);
            return;
        }
        CheckDestination(dest);
        CheckSendTag(tag);
        var packed = RentPacked(buffer, layout, count, out int length);
        try
        {
            Send(new ReadOnlySpan<byte>(packed, 0, length), dest, tag);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(packed);
        }
    }

    /// <inheritdoc cref="Send{T}(ReadOnlySpan{T}, Datatype, int, int, int)"/>
    public void Send<T>(T[] buffer, Datatype type, int count, int dest, int tag) where T : unmanaged =>
        Send(new ReadOnlySpan<T>(buffer ?? throw new ArgumentNullException(nameof(buffer))), type, count, dest, tag);

    /// <summary>
    /// Receives up to <paramref name="count"/> elements of <paramref name="type"/> into <paramref name="buffer"/>
    /// (MPI_Recv). The sender may use any datatype with the same type signature.
    /// </summary>
    /// <exception cref="MpiException">With <see cref="ErrorClass.Truncate"/> when the message is longer than count elements,
    /// <see cref="ErrorClass.Type"/> when it ends inside a primitive element (the signatures differ).</exception>
    public unsafe Status Receive<T>(Span<T> buffer, Datatype type, int count, int source, int tag) where T : unmanaged
    {
        var layout = CheckTyped((long)buffer.Length * sizeof(T), type, count, nameof(buffer));
        Status status;
        if (layout.IsContiguousFor(count))
        {
            status = Receive(ContiguousBytes(buffer, layout, count), source, tag);
            CheckReceivedSignature(layout, status.ByteCount, type);
            return status;
        }
        long bytes = count * layout.Size;
        if (bytes > Array.MaxLength)
            throw new ArgumentException($"{count} elements of {type.Name} are too many to receive through one .NET array.", nameof(count));
        var packed = ArrayPool<byte>.Shared.Rent((int)Math.Max(1, bytes));
        try
        {
            status = Receive(new Span<byte>(packed, 0, (int)bytes), source, tag);
            CheckReceivedSignature(layout, status.ByteCount, type);
            fixed (byte* src = packed)
            fixed (T* dst = buffer)
                layout.Unpack(src, status.ByteCount, (byte*)dst, count);
            return status;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(packed);
        }
    }

    /// <inheritdoc cref="Receive{T}(Span{T}, Datatype, int, int, int)"/>
    public Status Receive<T>(T[] buffer, Datatype type, int count, int source, int tag) where T : unmanaged =>
        Receive(new Span<T>(buffer ?? throw new ArgumentNullException(nameof(buffer))), type, count, source, tag);

    // ------------------------------------------------------------------ nonblocking point-to-point

    /// <summary>
    /// Starts a send of <paramref name="count"/> elements of <paramref name="type"/> (MPI_Isend). A non-contiguous
    /// layout is packed now, so the buffer may be reused at once; a contiguous one is sent from the buffer.
    /// </summary>
    public unsafe Request ISend<T>(ReadOnlyMemory<T> buffer, Datatype type, int count, int dest, int tag) where T : unmanaged
    {
        var layout = CheckTyped((long)buffer.Length * sizeof(T), type, count, nameof(buffer));
        CheckDestination(dest);
        CheckSendTag(tag);
        if (dest == ProcNull)
            return new Request(Engine.CompletedRequest(ProcNullStatus));
        if (layout.IsContiguousFor(count))
        {
            var pin = buffer.Pin();
            return new Request(Engine.StartSend(P2PContext, Rank, tag, WorldRankOf(dest), (byte*)pin.Pointer + layout.DataStart,
                count * layout.Size, SendMode.Standard, pin, hasPin: true));
        }
        var packed = RentPacked(buffer.Span, layout, count, out int length);
        var packedPin = packed.AsMemory().Pin();
        return new Request(Engine.StartSend(P2PContext, Rank, tag, WorldRankOf(dest), (byte*)packedPin.Pointer, length,
            SendMode.Standard, packedPin, hasPin: true, ownedBuffer: packed));
    }

    /// <inheritdoc cref="ISend{T}(ReadOnlyMemory{T}, Datatype, int, int, int)"/>
    public Request ISend<T>(T[] buffer, Datatype type, int count, int dest, int tag) where T : unmanaged =>
        ISend(Checked(buffer), type, count, dest, tag);

    /// <summary>
    /// Starts a receive of up to <paramref name="count"/> elements of <paramref name="type"/> (MPI_Irecv). A
    /// non-contiguous layout is received into a pooled buffer and unpacked into <paramref name="buffer"/> when
    /// the message has arrived, before the request completes.
    /// </summary>
    public unsafe Request IReceive<T>(Memory<T> buffer, Datatype type, int count, int source, int tag) where T : unmanaged
    {
        var layout = CheckTyped((long)buffer.Length * sizeof(T), type, count, nameof(buffer));
        CheckSource(source);
        CheckReceiveTag(tag);
        if (source == ProcNull)
            return new Request(Engine.CompletedRequest(ProcNullStatus));
        if (layout.IsContiguousFor(count))
        {
            var pin = buffer.Pin();
            var parent0 = Engine.StartGeneralized();
            var check = new TypedReceive(parent0, layout, type, null, default, count);
            Engine.StartReceive(P2PContext, source, tag, (byte*)pin.Pointer + layout.DataStart, count * layout.Size, pin, hasPin: true,
                TypedReceive.OnComplete, check);
            return new Request(parent0);
        }
        long bytes = count * layout.Size;
        if (bytes > Array.MaxLength)
            throw new ArgumentException($"{count} elements of {type.Name} are too many to receive through one .NET array.", nameof(count));
        var packed = ArrayPool<byte>.Shared.Rent((int)Math.Max(1, bytes));
        var packedPin = packed.AsMemory().Pin();
        var parent = Engine.StartGeneralized();
        var state = new TypedReceive(parent, layout, type, packed, buffer.Pin(), count);
        Engine.StartReceive(P2PContext, source, tag, (byte*)packedPin.Pointer, bytes, packedPin, hasPin: true, TypedReceive.OnComplete, state);
        return new Request(parent);
    }

    /// <inheritdoc cref="IReceive{T}(Memory{T}, Datatype, int, int, int)"/>
    public Request IReceive<T>(T[] buffer, Datatype type, int count, int source, int tag) where T : unmanaged =>
        IReceive(new Memory<T>(buffer ?? throw new ArgumentNullException(nameof(buffer))), type, count, source, tag);

    /// <summary>Unpacks a typed receive at completion (under the engine lock) and completes the user's request.</summary>
    private sealed unsafe class TypedReceive(RequestCore parent, DatatypeLayout layout, Datatype type, byte[]? packed, MemoryHandle target, int count)
    {
        public static readonly Action<RequestCore> OnComplete = static r => ((TypedReceive)r.State!).Finish(r);

        private MemoryHandle _target = target;

        private void Finish(RequestCore r)
        {
            try
            {
                if (r.Error is not null)
                {
                    parent.Fail(r.Error);
                    return;
                }
                var status = r.Status;
                if (layout.ElementsIn(status.ByteCount) < 0)
                {
                    parent.Fail(new MpiException(ErrorClass.Type,
                        $"A message of {status.ByteCount} bytes does not end on an element boundary of {type.Name}: the sender's type signature differs."));
                    return;
                }
                if (packed is not null)
                {
                    fixed (byte* src = packed)
                        layout.Unpack(src, status.ByteCount, (byte*)_target.Pointer, count);
                }
                parent.Complete(status);
            }
            finally
            {
                _target.Dispose();
                if (packed is not null)
                    ArrayPool<byte>.Shared.Return(packed);
            }
        }
    }

    // ------------------------------------------------------------------ collectives

    /// <summary>Broadcasts <paramref name="count"/> elements of <paramref name="type"/> from <paramref name="root"/> (MPI_Bcast).</summary>
    public unsafe void Broadcast<T>(Span<T> buffer, Datatype type, int count, int root) where T : unmanaged
    {
        CheckRoot(root);
        var layout = CheckTyped((long)buffer.Length * sizeof(T), type, count, nameof(buffer));
        if (layout.IsContiguousFor(count))
        {
            Broadcast(ContiguousBytes(buffer, layout, count), root);
            return;
        }
        int length;
        byte[] packed;
        if (Rank == root)
        {
            packed = RentPacked((ReadOnlySpan<T>)buffer, layout, count, out length);
        }
        else
        {
            length = checked((int)(count * layout.Size));
            packed = ArrayPool<byte>.Shared.Rent(Math.Max(1, length));
        }
        try
        {
            Broadcast(new Span<byte>(packed, 0, length), root);
            if (Rank != root)
                UnpackInto(packed, length, buffer, layout, count);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(packed);
        }
    }

    /// <summary>
    /// Gathers <paramref name="sendCount"/> elements of <paramref name="sendType"/> from every rank into
    /// <paramref name="receive"/> at <paramref name="root"/>: rank i's data goes to element i × <paramref name="receiveCount"/>
    /// of <paramref name="receiveType"/> (MPI_Gather). Both sides must describe the same number of bytes.
    /// </summary>
    public unsafe void Gather<TSend, TReceive>(ReadOnlySpan<TSend> send, Datatype sendType, int sendCount,
        Span<TReceive> receive, Datatype receiveType, int receiveCount, int root) where TSend : unmanaged where TReceive : unmanaged
    {
        CheckRoot(root);
        var sl = CheckTyped((long)send.Length * sizeof(TSend), sendType, sendCount, nameof(send));
        int block = checked((int)(sendCount * sl.Size));
        DatatypeLayout? rl = null;
        if (Rank == root)
        {
            rl = CheckTyped((long)receive.Length * sizeof(TReceive), receiveType, checked(receiveCount * Size), nameof(receive));
            CheckSameBytes(block, receiveCount * rl.Size);
        }
        var packed = RentPacked(send, sl, sendCount, out _);
        var all = Rank == root ? ArrayPool<byte>.Shared.Rent(Math.Max(1, checked(block * Size))) : null;
        try
        {
            Gather(new ReadOnlySpan<byte>(packed, 0, block), all is null ? [] : new Span<byte>(all, 0, block * Size), root);
            if (all is not null)
                UnpackInto(all, block * Size, receive, rl!, receiveCount * Size);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(packed);
            if (all is not null)
                ArrayPool<byte>.Shared.Return(all);
        }
    }

    /// <summary>Gather with one datatype and count on both sides (MPI_Gather).</summary>
    public void Gather<T>(ReadOnlySpan<T> send, Span<T> receive, Datatype type, int count, int root) where T : unmanaged =>
        Gather(send, type, count, receive, type, count, root);

    /// <summary>
    /// Sends <paramref name="sendCount"/> elements of <paramref name="sendType"/> starting at element i × sendCount of
    /// <paramref name="send"/> at <paramref name="root"/> to rank i, which stores them as <paramref name="receiveCount"/>
    /// elements of <paramref name="receiveType"/> (MPI_Scatter).
    /// </summary>
    public unsafe void Scatter<TSend, TReceive>(ReadOnlySpan<TSend> send, Datatype sendType, int sendCount,
        Span<TReceive> receive, Datatype receiveType, int receiveCount, int root) where TSend : unmanaged where TReceive : unmanaged
    {
        CheckRoot(root);
        var rl = CheckTyped((long)receive.Length * sizeof(TReceive), receiveType, receiveCount, nameof(receive));
        int block = checked((int)(receiveCount * rl.Size));
        byte[]? all = null;
        int allLength = 0;
        if (Rank == root)
        {
            var sl = CheckTyped((long)send.Length * sizeof(TSend), sendType, checked(sendCount * Size), nameof(send));
            CheckSameBytes(sendCount * sl.Size, block);
            all = RentPacked(send, sl, sendCount * Size, out allLength);
        }
        var mine = ArrayPool<byte>.Shared.Rent(Math.Max(1, block));
        try
        {
            Scatter(all is null ? [] : new ReadOnlySpan<byte>(all, 0, allLength), new Span<byte>(mine, 0, block), root);
            UnpackInto(mine, block, receive, rl, receiveCount);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(mine);
            if (all is not null)
                ArrayPool<byte>.Shared.Return(all);
        }
    }

    /// <summary>Scatter with one datatype and count on both sides (MPI_Scatter).</summary>
    public void Scatter<T>(ReadOnlySpan<T> send, Span<T> receive, Datatype type, int count, int root) where T : unmanaged =>
        Scatter(send, type, count, receive, type, count, root);

    /// <summary>
    /// Gathers <paramref name="sendCount"/> elements of <paramref name="sendType"/> from every rank into
    /// <paramref name="receive"/> of every rank, rank i's at element i × <paramref name="receiveCount"/> (MPI_Allgather).
    /// </summary>
    public unsafe void Allgather<TSend, TReceive>(ReadOnlySpan<TSend> send, Datatype sendType, int sendCount,
        Span<TReceive> receive, Datatype receiveType, int receiveCount) where TSend : unmanaged where TReceive : unmanaged
    {
        var sl = CheckTyped((long)send.Length * sizeof(TSend), sendType, sendCount, nameof(send));
        var rl = CheckTyped((long)receive.Length * sizeof(TReceive), receiveType, checked(receiveCount * Size), nameof(receive));
        int block = checked((int)(sendCount * sl.Size));
        CheckSameBytes(block, receiveCount * rl.Size);
        var packed = RentPacked(send, sl, sendCount, out _);
        var all = ArrayPool<byte>.Shared.Rent(Math.Max(1, checked(block * Size)));
        try
        {
            Allgather(new ReadOnlySpan<byte>(packed, 0, block), new Span<byte>(all, 0, block * Size));
            UnpackInto(all, block * Size, receive, rl, receiveCount * Size);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(packed);
            ArrayPool<byte>.Shared.Return(all);
        }
    }

    /// <summary>Allgather with one datatype and count on both sides (MPI_Allgather).</summary>
    public void Allgather<T>(ReadOnlySpan<T> send, Span<T> receive, Datatype type, int count) where T : unmanaged =>
        Allgather(send, type, count, receive, type, count);

    /// <summary>
    /// Sends elements j × <paramref name="sendCount"/>… of <paramref name="sendType"/> to rank j and stores the data
    /// from rank i at element i × <paramref name="receiveCount"/> of <paramref name="receiveType"/> (MPI_Alltoall).
    /// </summary>
    public unsafe void Alltoall<TSend, TReceive>(ReadOnlySpan<TSend> send, Datatype sendType, int sendCount,
        Span<TReceive> receive, Datatype receiveType, int receiveCount) where TSend : unmanaged where TReceive : unmanaged
    {
        var sl = CheckTyped((long)send.Length * sizeof(TSend), sendType, checked(sendCount * Size), nameof(send));
        var rl = CheckTyped((long)receive.Length * sizeof(TReceive), receiveType, checked(receiveCount * Size), nameof(receive));
        int block = checked((int)(sendCount * sl.Size));
        CheckSameBytes(block, receiveCount * rl.Size);
        var packed = RentPacked(send, sl, sendCount * Size, out int length);
        var all = ArrayPool<byte>.Shared.Rent(Math.Max(1, length));
        try
        {
            Alltoall(new ReadOnlySpan<byte>(packed, 0, length), new Span<byte>(all, 0, length));
            UnpackInto(all, length, receive, rl, receiveCount * Size);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(packed);
            ArrayPool<byte>.Shared.Return(all);
        }
    }

    /// <summary>Alltoall with one datatype and count on both sides (MPI_Alltoall).</summary>
    public void Alltoall<T>(ReadOnlySpan<T> send, Span<T> receive, Datatype type, int count) where T : unmanaged =>
        Alltoall(send, type, count, receive, type, count);

    private static void CheckSameBytes(long sendBytes, long receiveBytes)
    {
        if (sendBytes != receiveBytes)
        {
            throw new MpiException(ErrorClass.Type,
                $"The send side describes {sendBytes} bytes per rank but the receive side {receiveBytes}: the type signatures differ.");
        }
    }

    private static unsafe void UnpackInto<T>(byte[] packed, long length, Span<T> buffer, DatatypeLayout layout, int count) where T : unmanaged
    {
        fixed (byte* src = packed)
        fixed (T* dst = buffer)
            layout.Unpack(src, length, (byte*)dst, count);
    }
}
