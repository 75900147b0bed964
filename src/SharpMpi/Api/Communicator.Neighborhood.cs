using System.Buffers;
using SharpMpi.Engine;

namespace SharpMpi;

/// <summary>
/// The neighbors of a rank in a virtual topology, in block order, with the tag of each message: receive
/// block <c>i</c> comes from <c>Sources[i]</c>, send block <c>j</c> goes to <c>Destinations[j]</c>;
/// <see cref="Communicator.ProcNull"/> entries move nothing.
/// </summary>
internal sealed class NeighborLists(int[] sources, int[] destinations, int[] receiveTags, int[] sendTags)
{
    public int[] Sources { get; } = sources;

    public int[] Destinations { get; } = destinations;

    public int[] ReceiveTags { get; } = receiveTags;

    public int[] SendTags { get; } = sendTags;
}

// Neighborhood collectives (MPI standard 8.6) over point-to-point on the collective context: all receives are
// posted, then all sends started, then everything is awaited, so any neighbor graph completes without
// ordering constraints. Blocks of ProcNull neighbors are left untouched.
public partial class Communicator
{
    /// <summary>The topology's neighbor lists; null when the communicator has no topology.</summary>
    internal virtual NeighborLists? Neighbors => null;

    /// <summary>
    /// Sends <paramref name="send"/> to every destination neighbor and receives one block of the same length
    /// from every source neighbor into <paramref name="receive"/>, in neighbor order (MPI_Neighbor_allgather).
    /// </summary>
    /// <remarks>Collective over the communicator; blocks until done. Needs a Cartesian or graph topology.</remarks>
    /// <exception cref="MpiException">With <see cref="ErrorClass.Topology"/> when the communicator has no topology.</exception>
    /// <exception cref="ArgumentException"><paramref name="receive"/> is shorter than (number of sources) × <paramref name="send"/>'s length.</exception>
    public unsafe void NeighborAllgather<T>(ReadOnlySpan<T> send, Span<T> receive) where T : unmanaged
    {
        var nb = RequireNeighbors();
        int block = send.Length;
        CheckLength(receive.Length, (long)block * nb.Sources.Length, nameof(receive));
        fixed (T* sp = send)
        fixed (T* rp = receive)
        {
            var requests = new Request[nb.Sources.Length + nb.Destinations.Length];
            for (int i = 0; i < nb.Sources.Length; i++)
                requests[i] = StartNeighborReceive(nb, i, (byte*)(rp + (long)i * block), (long)block * sizeof(T));
            for (int j = 0; j < nb.Destinations.Length; j++)
                requests[nb.Sources.Length + j] = StartNeighborSend(nb, j, (byte*)sp, (long)block * sizeof(T));
            Request.WaitAll(requests);
        }
    }

    /// <inheritdoc cref="NeighborAllgather{T}(ReadOnlySpan{T}, Span{T})"/>
    public void NeighborAllgather<T>(T[] send, T[] receive) where T : unmanaged =>
        NeighborAllgather(new ReadOnlySpan<T>(send ?? throw new ArgumentNullException(nameof(send))),
            new Span<T>(receive ?? throw new ArgumentNullException(nameof(receive))));

    /// <summary>
    /// Sends block <c>j</c> of <paramref name="send"/> to destination neighbor <c>j</c> and receives block
    /// <c>i</c> of <paramref name="receive"/> from source neighbor <c>i</c> (MPI_Neighbor_alltoall). The block
    /// length is <paramref name="send"/>'s length over the number of destinations (or, with none,
    /// <paramref name="receive"/>'s over the number of sources).
    /// </summary>
    /// <remarks>Collective over the communicator; blocks until done. Needs a Cartesian or graph topology.</remarks>
    /// <exception cref="MpiException">With <see cref="ErrorClass.Topology"/> when the communicator has no topology.</exception>
    /// <exception cref="ArgumentException">A buffer is not a whole number of blocks, or is too short.</exception>
    public unsafe void NeighborAlltoall<T>(ReadOnlySpan<T> send, Span<T> receive) where T : unmanaged
    {
        var nb = RequireNeighbors();
        int block = AlltoallBlock(nb, send.Length, receive.Length);
        fixed (T* sp = send)
        fixed (T* rp = receive)
        {
            var requests = new Request[nb.Sources.Length + nb.Destinations.Length];
            for (int i = 0; i < nb.Sources.Length; i++)
                requests[i] = StartNeighborReceive(nb, i, (byte*)(rp + (long)i * block), (long)block * sizeof(T));
            for (int j = 0; j < nb.Destinations.Length; j++)
                requests[nb.Sources.Length + j] = StartNeighborSend(nb, j, (byte*)(sp + (long)j * block), (long)block * sizeof(T));
            Request.WaitAll(requests);
        }
    }

    /// <inheritdoc cref="NeighborAlltoall{T}(ReadOnlySpan{T}, Span{T})"/>
    public void NeighborAlltoall<T>(T[] send, T[] receive) where T : unmanaged =>
        NeighborAlltoall(new ReadOnlySpan<T>(send ?? throw new ArgumentNullException(nameof(send))),
            new Span<T>(receive ?? throw new ArgumentNullException(nameof(receive))));

    /// <summary>
    /// Like <see cref="NeighborAllgather{T}(ReadOnlySpan{T}, Span{T})"/> with a length per source neighbor:
    /// block <c>i</c> (<paramref name="counts"/>[i] elements at <paramref name="displacements"/>[i]) comes from
    /// source neighbor <c>i</c> (MPI_Neighbor_allgatherv).
    /// </summary>
    /// <remarks>Collective over the communicator; blocks until done.</remarks>
    /// <exception cref="MpiException">With <see cref="ErrorClass.Topology"/> when the communicator has no topology.</exception>
    /// <exception cref="ArgumentException">Counts or displacements do not match the neighbors or the buffer.</exception>
    public unsafe void NeighborAllgatherv<T>(ReadOnlySpan<T> send, Span<T> receive, ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements)
        where T : unmanaged
    {
        var nb = RequireNeighbors();
        CheckBlocks(counts, displacements, nb.Sources.Length, receive.Length, nameof(counts), nameof(displacements));
        fixed (T* sp = send)
        fixed (T* rp = receive)
        {
            var requests = new Request[nb.Sources.Length + nb.Destinations.Length];
            for (int i = 0; i < nb.Sources.Length; i++)
                requests[i] = StartNeighborReceive(nb, i, (byte*)(rp + displacements[i]), (long)counts[i] * sizeof(T));
            for (int j = 0; j < nb.Destinations.Length; j++)
                requests[nb.Sources.Length + j] = StartNeighborSend(nb, j, (byte*)sp, (long)send.Length * sizeof(T));
            Request.WaitAll(requests);
        }
    }

    /// <summary>
    /// Like <see cref="NeighborAlltoall{T}(ReadOnlySpan{T}, Span{T})"/> with a length and offset per block on
    /// both sides (MPI_Neighbor_alltoallv).
    /// </summary>
    /// <remarks>Collective over the communicator; blocks until done.</remarks>
    /// <exception cref="MpiException">With <see cref="ErrorClass.Topology"/> when the communicator has no topology.</exception>
    /// <exception cref="ArgumentException">Counts or displacements do not match the neighbors or the buffers.</exception>
    public unsafe void NeighborAlltoallv<T>(ReadOnlySpan<T> send, ReadOnlySpan<int> sendCounts, ReadOnlySpan<int> sendDisplacements,
        Span<T> receive, ReadOnlySpan<int> receiveCounts, ReadOnlySpan<int> receiveDisplacements) where T : unmanaged
    {
        var nb = RequireNeighbors();
        CheckBlocks(sendCounts, sendDisplacements, nb.Destinations.Length, send.Length, nameof(sendCounts), nameof(sendDisplacements));
        CheckBlocks(receiveCounts, receiveDisplacements, nb.Sources.Length, receive.Length, nameof(receiveCounts), nameof(receiveDisplacements));
        fixed (T* sp = send)
        fixed (T* rp = receive)
        {
            var requests = new Request[nb.Sources.Length + nb.Destinations.Length];
            for (int i = 0; i < nb.Sources.Length; i++)
                requests[i] = StartNeighborReceive(nb, i, (byte*)(rp + receiveDisplacements[i]), (long)receiveCounts[i] * sizeof(T));
            for (int j = 0; j < nb.Destinations.Length; j++)
                requests[nb.Sources.Length + j] = StartNeighborSend(nb, j, (byte*)(sp + sendDisplacements[j]), (long)sendCounts[j] * sizeof(T));
            Request.WaitAll(requests);
        }
    }

    /// <summary>Nonblocking <see cref="NeighborAllgather{T}(ReadOnlySpan{T}, Span{T})"/> (MPI_Ineighbor_allgather as a task).</summary>
    /// <remarks>
    /// Do not touch the buffers until the task completes. Every rank must start its neighbor collectives on
    /// this communicator in the same order. The task completes without further MPI calls (progress thread).
    /// </remarks>
    /// <exception cref="MpiException">With <see cref="ErrorClass.Topology"/> when the communicator has no topology.</exception>
    /// <exception cref="ArgumentException"><paramref name="receive"/> is too short.</exception>
    public Task NeighborAllgatherAsync<T>(ReadOnlyMemory<T> send, Memory<T> receive) where T : unmanaged
    {
        var nb = RequireNeighbors();
        int block = send.Length;
        CheckLength(receive.Length, (long)block * nb.Sources.Length, nameof(receive));
        var requests = new Request[nb.Sources.Length + nb.Destinations.Length];
        for (int i = 0; i < nb.Sources.Length; i++)
            requests[i] = StartNeighborReceive(nb, i, receive.Slice(i * block, block));
        for (int j = 0; j < nb.Destinations.Length; j++)
            requests[nb.Sources.Length + j] = StartNeighborSend(nb, j, send);
        return Request.WhenAll(requests);
    }

    /// <inheritdoc cref="NeighborAllgatherAsync{T}(ReadOnlyMemory{T}, Memory{T})"/>
    public Task NeighborAllgatherAsync<T>(T[] send, T[] receive) where T : unmanaged =>
        NeighborAllgatherAsync(new ReadOnlyMemory<T>(send ?? throw new ArgumentNullException(nameof(send))),
            new Memory<T>(receive ?? throw new ArgumentNullException(nameof(receive))));

    /// <summary>Nonblocking <see cref="NeighborAlltoall{T}(ReadOnlySpan{T}, Span{T})"/> (MPI_Ineighbor_alltoall as a task).</summary>
    /// <remarks>
    /// Do not touch the buffers until the task completes. Every rank must start its neighbor collectives on
    /// this communicator in the same order. The task completes without further MPI calls (progress thread).
    /// </remarks>
    /// <exception cref="MpiException">With <see cref="ErrorClass.Topology"/> when the communicator has no topology.</exception>
    /// <exception cref="ArgumentException">A buffer is not a whole number of blocks, or is too short.</exception>
    public Task NeighborAlltoallAsync<T>(ReadOnlyMemory<T> send, Memory<T> receive) where T : unmanaged
    {
        var nb = RequireNeighbors();
        int block = AlltoallBlock(nb, send.Length, receive.Length);
        var requests = new Request[nb.Sources.Length + nb.Destinations.Length];
        for (int i = 0; i < nb.Sources.Length; i++)
            requests[i] = StartNeighborReceive(nb, i, receive.Slice(i * block, block));
        for (int j = 0; j < nb.Destinations.Length; j++)
            requests[nb.Sources.Length + j] = StartNeighborSend(nb, j, send.Slice(j * block, block));
        return Request.WhenAll(requests);
    }

    /// <inheritdoc cref="NeighborAlltoallAsync{T}(ReadOnlyMemory{T}, Memory{T})"/>
    public Task NeighborAlltoallAsync<T>(T[] send, T[] receive) where T : unmanaged =>
        NeighborAlltoallAsync(new ReadOnlyMemory<T>(send ?? throw new ArgumentNullException(nameof(send))),
            new Memory<T>(receive ?? throw new ArgumentNullException(nameof(receive))));

    // ------------------------------------------------------------------ helpers

    private NeighborLists RequireNeighbors()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return Neighbors ?? throw new MpiException(ErrorClass.Topology,
            $"Communicator '{Name}' has no virtual topology; create one with CreateCartesian or CreateDistGraphAdjacent.");
    }

    private unsafe Request StartNeighborReceive(NeighborLists nb, int index, byte* buffer, long bytes)
    {
        int source = nb.Sources[index];
        if (source == ProcNull)
            return default;
        return new Request(Engine.StartReceive(CollectiveContext, source, nb.ReceiveTags[index], buffer, bytes));
    }

    private unsafe Request StartNeighborSend(NeighborLists nb, int index, byte* buffer, long bytes)
    {
        int dest = nb.Destinations[index];
        if (dest == ProcNull)
            return default;
        return new Request(Engine.StartSend(CollectiveContext, Rank, nb.SendTags[index], WorldRankOf(dest), buffer, bytes, SendMode.Standard));
    }

    private unsafe Request StartNeighborReceive<T>(NeighborLists nb, int index, Memory<T> buffer) where T : unmanaged
    {
        int source = nb.Sources[index];
        if (source == ProcNull)
            return default;
        MemoryHandle pin = buffer.Pin();
        return new Request(Engine.StartReceive(CollectiveContext, source, nb.ReceiveTags[index], (byte*)pin.Pointer,
            (long)buffer.Length * sizeof(T), pin, hasPin: true));
    }

    private unsafe Request StartNeighborSend<T>(NeighborLists nb, int index, ReadOnlyMemory<T> data) where T : unmanaged
    {
        int dest = nb.Destinations[index];
        if (dest == ProcNull)
            return default;
        MemoryHandle pin = data.Pin();
        return new Request(Engine.StartSend(CollectiveContext, Rank, nb.SendTags[index], WorldRankOf(dest), (byte*)pin.Pointer,
            (long)data.Length * sizeof(T), SendMode.Standard, pin, hasPin: true));
    }

    private static int AlltoallBlock(NeighborLists nb, int sendLength, int receiveLength)
    {
        int outDegree = nb.Destinations.Length;
        int inDegree = nb.Sources.Length;
        int block = outDegree > 0 ? sendLength / outDegree : inDegree > 0 ? receiveLength / inDegree : 0;
        if (outDegree > 0 && sendLength != (long)block * outDegree)
            throw new ArgumentException($"The send buffer of {sendLength} elements is not {outDegree} equal blocks.", "send");
        CheckLength(receiveLength, (long)block * inDegree, "receive");
        return block;
    }

    private static void CheckLength(int length, long needed, string name)
    {
        if (length < needed)
            throw new ArgumentException($"The buffer has {length} elements; the neighbors need {needed}.", name);
    }

    private static void CheckBlocks(ReadOnlySpan<int> counts, ReadOnlySpan<int> displacements, int neighbors, int length,
        string countsName, string displacementsName)
    {
        if (counts.Length < neighbors)
            throw new ArgumentException($"{counts.Length} counts for {neighbors} neighbors.", countsName);
        if (displacements.Length < neighbors)
            throw new ArgumentException($"{displacements.Length} displacements for {neighbors} neighbors.", displacementsName);
        for (int i = 0; i < neighbors; i++)
        {
            if (counts[i] < 0)
                throw new ArgumentOutOfRangeException(countsName, counts[i], $"Count {i} is negative.");
            if (displacements[i] < 0 || (long)displacements[i] + counts[i] > length)
                throw new ArgumentOutOfRangeException(displacementsName, displacements[i], $"Block {i} ({counts[i]} elements at {displacements[i]}) is outside the {length}-element buffer.");
        }
    }
}
