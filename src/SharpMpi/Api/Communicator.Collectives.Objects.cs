using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using SharpMpi.Collectives;

namespace SharpMpi;

// Collectives on objects, serialized with MpiEnvironment.Serializer (MemoryPack by default), like mpi4py's
// lower-case bcast/gather/…: sizes are exchanged first (one small collective), then the bytes. Blocking.
// Intercommunicators take their own path (Communicator.Collectives.Inter.Objects.cs).
public partial class Communicator
{
    /// <summary>Returns <paramref name="value"/> of <paramref name="root"/> on every rank (the root gets its own object back) (MPI_Bcast of a serialized object).</summary>
    public unsafe T? BroadcastObject<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(T? value, int root)
    {
        if (IsIntercommunicator)
            return InterBroadcastObject(value, root);
        CheckRoot(root);
        if (Size == 1)
            return value;
        var w = Rank == root ? SerializeToWriter(value) : null;
        try
        {
            long length = w?.WrittenCount ?? 0;
            CollectiveCall.Complete(BroadcastAlgorithms.Run(BeginCollective(bytes: sizeof(long)), new Buf(&length, sizeof(long)), root));
            if (w is not null)
            {
                fixed (byte* p = w.WrittenSpan)
                    CollectiveCall.Complete(BroadcastAlgorithms.Run(BeginCollective(bytes: length), new Buf(p, length), root));
                return value;
            }
            var bytes = ArrayPool<byte>.Shared.Rent((int)Math.Max(1, length));
            try
            {
                fixed (byte* p = bytes)
                    CollectiveCall.Complete(BroadcastAlgorithms.Run(BeginCollective(bytes: length), new Buf(p, length), root));
                return Environment.Serializer.Deserialize<T>(bytes.AsSpan(0, (int)length));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(bytes);
            }
        }
        finally
        {
            if (w is not null)
                ReturnWriter(w);
        }
    }

    /// <summary>Gathers one object per rank; returns them in rank order at <paramref name="root"/>, null elsewhere (MPI_Gather of serialized objects).</summary>
    public unsafe T?[]? GatherObject<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(T? value, int root)
    {
        if (IsIntercommunicator)
            return InterGatherObject(value, root);
        CheckRoot(root);
        var w = SerializeToWriter(value);
        var lengths = Rank == root ? ArrayPool<int>.Shared.Rent(Size) : null;
        try
        {
            int mine = w.WrittenCount;
            fixed (int* lp = lengths)
                CollectiveCall.Complete(GatherScatterAlgorithms.Gather(BeginCollective(bytes: sizeof(int)), new Buf(&mine, sizeof(int)), new Buf(lp, Size * sizeof(int)), sizeof(int), root));
            var layout = Rank == root ? Blocks.Explicit(lengths.AsSpan(0, Size), default, false, 1, long.MaxValue, "value", "value", "value") : default;
            try
            {
                long total = Rank == root ? layout.Total : 0;
                var bytes = Rank == root ? RentBytes(total) : null;
                try
                {
                    fixed (byte* sp = w.WrittenSpan)
                    fixed (byte* rp = bytes)
                    {
                        var sb = new Buf(sp, mine);
                        var rb = new Buf(rp, total);
                        var c = BeginCollective(bytes: mine);
                        CollectiveCall.Complete(Size == 1 ? CopyOwn(sb, rb) : GatherScatterAlgorithms.LinearGather(c, sb, rb, layout, root));
                    }
                    if (Rank != root)
                        return null;
                    var result = new T?[Size];
                    for (int i = 0; i < Size; i++)
                        result[i] = Environment.Serializer.Deserialize<T>(bytes.AsSpan((int)layout.Offset(i), (int)layout.Length(i)));
                    return result;
                }
                finally
                {
                    if (bytes is not null)
                        ArrayPool<byte>.Shared.Return(bytes);
                }
            }
            finally
            {
                layout.Return();
            }
        }
        finally
        {
            ReturnWriter(w);
            if (lengths is not null)
                ArrayPool<int>.Shared.Return(lengths);
        }
    }

    /// <summary>Sends <paramref name="values"/>[i] of <paramref name="root"/> (one per rank; ignored elsewhere) to rank i (MPI_Scatter of serialized objects).</summary>
    public unsafe T? ScatterObject<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(T?[]? values, int root)
    {
        if (IsIntercommunicator)
            return InterScatterObject(values, root);
        CheckRoot(root);
        var w = Rank == root ? RentWriter() : null;
        var lengths = Rank == root ? ArrayPool<int>.Shared.Rent(Size) : null;
        try
        {
            if (w is not null)
            {
                ArgumentNullException.ThrowIfNull(values);
                CheckPerRank(values.Length, nameof(values));
                for (int i = 0; i < Size; i++)
                {
                    int before = w.WrittenCount;
                    Environment.Serializer.Serialize(w, values[i]);
                    lengths![i] = w.WrittenCount - before;
                }
            }
            int mine = 0;
            fixed (int* lp = lengths)
                CollectiveCall.Complete(GatherScatterAlgorithms.Scatter(BeginCollective(bytes: sizeof(int)), new Buf(lp, Size * sizeof(int)), new Buf(&mine, sizeof(int)), sizeof(int), root));
            var layout = w is not null ? Blocks.Explicit(lengths.AsSpan(0, Size), default, false, 1, long.MaxValue, nameof(values), nameof(values), nameof(values)) : default;
            var bytes = RentBytes(mine);
            try
            {
                fixed (byte* sp = w is null ? default : w.WrittenSpan)
                fixed (byte* rp = bytes)
                {
                    var sb = new Buf(sp, w?.WrittenCount ?? 0);
                    var rb = new Buf(rp, mine);
                    var c = BeginCollective(bytes: mine);
                    CollectiveCall.Complete(Size == 1 ? CopyOwn(sb, rb) : GatherScatterAlgorithms.LinearScatter(c, sb, layout, rb, root));
                }
                return Environment.Serializer.Deserialize<T>(bytes.AsSpan(0, mine));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(bytes);
                layout.Return();
            }
        }
        finally
        {
            if (w is not null)
                ReturnWriter(w);
            if (lengths is not null)
                ArrayPool<int>.Shared.Return(lengths);
        }
    }

    /// <summary>Returns every rank's object, in rank order (MPI_Allgather of serialized objects).</summary>
    public unsafe T?[] AllgatherObject<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(T? value)
    {
        if (IsIntercommunicator)
            return InterAllgatherObject(value);
        var w = SerializeToWriter(value);
        var lengths = ArrayPool<int>.Shared.Rent(Size);
        try
        {
            lengths[Rank] = w.WrittenCount;
            fixed (int* lp = lengths)
                CollectiveCall.Complete(AllgatherAlgorithms.Run(BeginCollective(bytes: sizeof(int)), new Buf(lp, Size * sizeof(int)), Blocks.Regular(Size, sizeof(int))));
            var layout = Blocks.Explicit(lengths.AsSpan(0, Size), default, false, 1, long.MaxValue, "value", "value", "value");
            var bytes = RentBytes(layout.Total);
            try
            {
                fixed (byte* rp = bytes)
                {
                    var rb = new Buf(rp, layout.Total);
                    w.WrittenSpan.CopyTo(layout.Of(rb, Rank).Span);
                    CollectiveCall.Complete(AllgatherAlgorithms.Run(BeginCollective(bytes: w.WrittenCount), rb, layout));
                }
                var result = new T?[Size];
                for (int i = 0; i < Size; i++)
                    result[i] = Environment.Serializer.Deserialize<T>(bytes.AsSpan((int)layout.Offset(i), (int)layout.Length(i)));
                return result;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(bytes);
                layout.Return();
            }
        }
        finally
        {
            ReturnWriter(w);
            ArrayPool<int>.Shared.Return(lengths);
        }
    }

    /// <summary>Sends <paramref name="values"/>[j] to rank j and returns the objects received, indexed by source rank (MPI_Alltoall of serialized objects).</summary>
    public unsafe T?[] AlltoallObject<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(T?[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (IsIntercommunicator)
            return InterAlltoallObject(values);
        CheckPerRank(values.Length, nameof(values));
        var w = RentWriter();
        var lengths = ArrayPool<int>.Shared.Rent(2 * Size);
        try
        {
            for (int i = 0; i < Size; i++)
            {
                int before = w.WrittenCount;
                Environment.Serializer.Serialize(w, values[i]);
                lengths[i] = w.WrittenCount - before;
            }
            fixed (int* lp = lengths)
            {
                CollectiveCall.Complete(AlltoallAlgorithms.Alltoall(BeginCollective(bytes: Size * sizeof(int)), new Buf(lp, Size * sizeof(int)),
                    new Buf(lp + Size, Size * sizeof(int)), sizeof(int)));
            }
            var sl = Blocks.Explicit(lengths.AsSpan(0, Size), default, false, 1, long.MaxValue, nameof(values), nameof(values), nameof(values));
            var rl = Blocks.Explicit(lengths.AsSpan(Size, Size), default, false, 1, long.MaxValue, nameof(values), nameof(values), nameof(values));
            var bytes = RentBytes(rl.Total);
            try
            {
                fixed (byte* sp = w.WrittenSpan)
                fixed (byte* rp = bytes)
                    CollectiveCall.Complete(AlltoallAlgorithms.Alltoallv(BeginCollective(bytes: w.WrittenCount), new Buf(sp, w.WrittenCount), sl, new Buf(rp, rl.Total), rl));
                var result = new T?[Size];
                for (int i = 0; i < Size; i++)
                    result[i] = Environment.Serializer.Deserialize<T>(bytes.AsSpan((int)rl.Offset(i), (int)rl.Length(i)));
                return result;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(bytes);
                sl.Return();
                rl.Return();
            }
        }
        finally
        {
            ReturnWriter(w);
            ArrayPool<int>.Shared.Return(lengths);
        }
    }

    /// <summary>
    /// Folds every rank's object with <paramref name="op"/> in rank order (((x0 ∘ x1) ∘ x2) …, a binomial tree
    /// of contiguous rank ranges, so <paramref name="op"/> need only be associative); the result at
    /// <paramref name="root"/>, default elsewhere.
    /// </summary>
    public T? ReduceObject<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(T? value, Func<T?, T?, T?> op, int root)
    {
        if (IsIntercommunicator)
            return InterReduceObject(value, op, root);
        CheckRoot(root);
        ArgumentNullException.ThrowIfNull(op);
        var c = BeginCollective();
        // Runs on this thread like the buffer collectives, which end in CollectiveCall.Complete; leave the
        // collective's trace frame the same way, or later waits would be reported as inside ReduceObject.
        try
        {
            int p = Size, r = Rank;
            var acc = value;
            for (int mask = 1; mask < p; mask <<= 1)
            {
                if ((r & mask) == 0)
                {
                    if ((r | mask) < p)
                        acc = op(acc, ReceiveObjectInternal<T>(c, r | mask, 0));
                }
                else
                {
                    SendObjectInternal(c, acc, r - mask, 0);
                    break;
                }
            }
            if (root != 0)
            {
                if (r == 0)
                    SendObjectInternal(c, acc, root, 2);
                else if (r == root)
                    acc = ReceiveObjectInternal<T>(c, 0, 2);
            }
            return r == root ? acc : default;
        }
        finally
        {
            Diagnostics.CollectiveTrace.Exit();
        }
    }

    /// <summary>Folds every rank's object with <paramref name="op"/> in rank order and returns the result on every rank (MPI_Allreduce on serialized objects).</summary>
    public T? AllreduceObject<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(T? value, Func<T?, T?, T?> op) =>
        IsIntercommunicator ? InterAllreduceObject(value, op) : BroadcastObject(ReduceObject(value, op, 0), 0);

    /// <summary>Inclusive scan of objects: rank i gets x0 ∘ x1 ∘ … ∘ xi (a chain through the ranks) (MPI_Scan on serialized objects).</summary>
    public T? ScanObject<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(T? value, Func<T?, T?, T?> op)
    {
        ArgumentNullException.ThrowIfNull(op);
        var c = BeginCollective();
        try
        {
            var acc = value;
            if (Rank > 0)
                acc = op(ReceiveObjectInternal<T>(c, Rank - 1, 0), value);
            if (Rank < Size - 1)
                SendObjectInternal(c, acc, Rank + 1, 0);
            return acc;
        }
        finally
        {
            Diagnostics.CollectiveTrace.Exit();
        }
    }

    // ------------------------------------------------------------------ helpers

    private System.Buffers.ArrayBufferWriter<byte> SerializeToWriter<T>(T? value)
    {
        var w = RentWriter();
        try
        {
            Environment.Serializer.Serialize(w, value);
            return w;
        }
        catch
        {
            ReturnWriter(w);
            throw;
        }
    }

    private static byte[] RentBytes(long length)
    {
        if (length > Array.MaxLength)
            throw new MpiException(ErrorClass.Count, $"Serialized objects of {length} bytes exceed the largest .NET array.");
        return ArrayPool<byte>.Shared.Rent((int)Math.Max(1, length));
    }

    /// <summary>One object as two messages on the collective context: its length, then its bytes.</summary>
    private unsafe void SendObjectInternal<T>(CollectiveCall c, T? value, int dest, int phase)
    {
        var w = SerializeToWriter(value);
        try
        {
            long length = w.WrittenCount;
            CollectiveCall.Wait(c.Send(new Buf(&length, sizeof(long)), dest, phase));
            fixed (byte* p = w.WrittenSpan)
                CollectiveCall.Wait(c.Send(new Buf(p, length), dest, phase + 1));
        }
        finally
        {
            ReturnWriter(w);
        }
    }

    private unsafe T? ReceiveObjectInternal<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(CollectiveCall c, int source, int phase)
    {
        long length = 0;
        CollectiveCall.Wait(c.Receive(new Buf(&length, sizeof(long)), source, phase));
        var bytes = RentBytes(length);
        try
        {
            fixed (byte* p = bytes)
                CollectiveCall.Wait(c.Receive(new Buf(p, length), source, phase + 1));
            return Environment.Serializer.Deserialize<T>(bytes.AsSpan(0, (int)length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }
}
