using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using SharpMpi.Collectives;

namespace SharpMpi;

// Object collectives on intercommunicators, with the root semantics of the buffer forms (Communicator.Root at
// the root, ProcNull in the rest of its group, the root's remote rank in the other group): lengths first, then
// the serialized bytes, each as one intercommunicator buffer collective. Results come from the remote group,
// in its rank order. Blocking.
public partial class Communicator
{
    private T? InterBroadcastObject<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(T? value, int root)
    {
        CheckInterRoot(root, nameof(root));
        ArrayBufferWriter<byte>? w = null;
        byte[]? bytes = null;
        try
        {
            w = root == Root ? SerializeToWriter(value) : null;
            long length = w?.WrittenCount ?? 0;
            InterBroadcast(new Span<long>(ref length), root, nameof(BroadcastObject));
            bytes = root >= 0 ? RentBytes(length) : null;
            var buffer = w is not null
                ? MemoryMarshal.CreateSpan(ref MemoryMarshal.GetReference(w.WrittenSpan), w.WrittenCount)
                : bytes.AsSpan(0, (int)length);
            InterBroadcast(buffer, root, nameof(BroadcastObject));
            return root == Root ? value : root == ProcNull ? default : Environment.Serializer.Deserialize<T>(buffer);
        }
        finally
        {
            Release(w, bytes);
        }
    }

    private T?[]? InterGatherObject<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(T? value, int root)
    {
        CheckInterRoot(root, nameof(root));
        ArrayBufferWriter<byte>? w = null;
        byte[]? bytes = null;
        try
        {
            w = root >= 0 ? SerializeToWriter(value) : null;
            var lengths = root == Root ? new int[RemoteCount] : [];
            int mine = w?.WrittenCount ?? 0;
            InterGather<int>(new ReadOnlySpan<int>(in mine), lengths, root, nameof(GatherObject));
            bytes = root == Root ? RentBytes(Total(lengths)) : null;
            InterGatherv<byte>(w is null ? default : w.WrittenSpan, bytes, lengths, default, false, root, nameof(GatherObject));
            return root == Root ? DeserializeBlocks<T>(bytes!, lengths) : null;
        }
        finally
        {
            Release(w, bytes);
        }
    }

    private T? InterScatterObject<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(T?[]? values, int root)
    {
        CheckInterRoot(root, nameof(root));
        ArrayBufferWriter<byte>? w = null;
        byte[]? bytes = null;
        try
        {
            w = root == Root ? RentWriter() : null;
            var lengths = w is not null ? SerializeEach(w, values, nameof(values)) : [];
            int mine = 0;
            InterScatter<int>(lengths, new Span<int>(ref mine), root, nameof(ScatterObject));
            bytes = RentBytes(mine);
            InterScatterv<byte>(w is null ? default : w.WrittenSpan, lengths, default, false, bytes.AsSpan(0, mine), root, nameof(ScatterObject));
            return root >= 0 ? Environment.Serializer.Deserialize<T>(bytes.AsSpan(0, mine)) : default;
        }
        finally
        {
            Release(w, bytes);
        }
    }

    private T?[] InterAllgatherObject<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(T? value)
    {
        ArrayBufferWriter<byte>? w = null;
        byte[]? bytes = null;
        try
        {
            w = SerializeToWriter(value);
            var lengths = new int[RemoteCount];
            int mine = w.WrittenCount;
            InterAllgather<int>(new ReadOnlySpan<int>(in mine), lengths, nameof(AllgatherObject));
            bytes = RentBytes(Total(lengths));
            InterAllgatherv<byte>(w.WrittenSpan, bytes, lengths, default, false, nameof(AllgatherObject));
            return DeserializeBlocks<T>(bytes, lengths);
        }
        finally
        {
            Release(w, bytes);
        }
    }

    private T?[] InterAlltoallObject<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(T?[] values)
    {
        ArrayBufferWriter<byte>? w = null;
        byte[]? bytes = null;
        try
        {
            w = RentWriter();
            var sendLengths = SerializeEach(w, values, nameof(values));
            var receiveLengths = new int[RemoteCount];
            InterAlltoall<int>(sendLengths, receiveLengths, nameof(AlltoallObject));
            bytes = RentBytes(Total(receiveLengths));
            InterAlltoallv<byte>(w.WrittenSpan, sendLengths, Offsets(sendLengths), bytes, receiveLengths, Offsets(receiveLengths), 1, nameof(AlltoallObject));
            return DeserializeBlocks<T>(bytes, receiveLengths);
        }
        finally
        {
            Release(w, bytes);
        }
    }

    /// <summary>The root's group folds at its leader (in rank order, on the local group), which sends the result to the root.</summary>
    private T? InterReduceObject<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(T? value, Func<T?, T?, T?> op, int root)
    {
        CheckInterRoot(root, nameof(root));
        ArgumentNullException.ThrowIfNull(op);
        // The local fold runs (and leaves its trace frame) before this call's frame is entered.
        var acc = root >= 0 ? LocalGroup.ReduceObject(value, op, 0) : default;
        var c = BeginInter(false, 0, null, nameof(ReduceObject));
        try
        {
            if (root == Root)
                return ReceiveObjectInternal<T>(c.Remote, 0, 0);
            if (root >= 0 && Rank == 0)
                SendObjectInternal(c.Remote, acc, root, 0);
            return default;
        }
        finally
        {
            Diagnostics.CollectiveTrace.Exit();
        }
    }

    /// <summary>Each group folds at its leader; the leaders swap the serialized results and broadcast them within their group.</summary>
    private unsafe T? InterAllreduceObject<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(T? value, Func<T?, T?, T?> op)
    {
        ArgumentNullException.ThrowIfNull(op);
        var acc = LocalGroup.ReduceObject(value, op, 0);
        ArrayBufferWriter<byte>? w = null;
        byte[]? bytes = null;
        try
        {
            w = Rank == 0 ? SerializeToWriter(acc) : null;
            long mine = w?.WrittenCount ?? 0, theirs = 0;
            CollectiveCall.Complete(InterAlgorithms.SwapAndBroadcast(BeginInter(false, sizeof(long), null, nameof(AllreduceObject)),
                new Buf(&mine, sizeof(long)), new Buf(&theirs, sizeof(long))));
            bytes = RentBytes(theirs);
            fixed (byte* s = w is null ? default : w.WrittenSpan)
            fixed (byte* r = bytes)
            {
                CollectiveCall.Complete(InterAlgorithms.SwapAndBroadcast(BeginInter(false, mine, null, nameof(AllreduceObject)),
                    new Buf(s, mine), new Buf(r, theirs)));
            }
            return Environment.Serializer.Deserialize<T>(bytes.AsSpan(0, (int)theirs));
        }
        finally
        {
            Release(w, bytes);
        }
    }

    // ------------------------------------------------------------------ helpers

    private void Release(ArrayBufferWriter<byte>? w, byte[]? bytes)
    {
        if (w is not null)
            ReturnWriter(w);
        if (bytes is not null)
            ArrayPool<byte>.Shared.Return(bytes);
    }

    /// <summary>Serializes one object per remote rank back to back into <paramref name="w"/>; returns their lengths.</summary>
    private int[] SerializeEach<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(ArrayBufferWriter<byte> w, T?[]? values, string name)
    {
        ArgumentNullException.ThrowIfNull(values, name);
        CheckPerRemoteRank(values.Length, name);
        var lengths = new int[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            int before = w.WrittenCount;
            Environment.Serializer.Serialize(w, values[i]);
            lengths[i] = w.WrittenCount - before;
        }
        return lengths;
    }

    private T?[] DeserializeBlocks<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(byte[] bytes, int[] lengths)
    {
        var result = new T?[lengths.Length];
        int at = 0;
        for (int i = 0; i < lengths.Length; i++)
        {
            result[i] = Environment.Serializer.Deserialize<T>(bytes.AsSpan(at, lengths[i]));
            at += lengths[i];
        }
        return result;
    }

    private static long Total(int[] lengths)
    {
        long total = 0;
        foreach (int n in lengths)
            total += n;
        return total;
    }

    /// <summary>Displacements of blocks packed back to back.</summary>
    private static int[] Offsets(int[] lengths)
    {
        var offsets = new int[lengths.Length];
        for (int i = 1; i < lengths.Length; i++)
            offsets[i] = checked(offsets[i - 1] + lengths[i - 1]);
        return offsets;
    }
}
