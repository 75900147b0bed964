using SharpMpi.Engine;

namespace SharpMpi;

// Persistent point-to-point requests (MPI standard 3.9).
public partial class Communicator
{
    /// <summary>Creates a persistent standard send (MPI_Send_init).</summary>
    public PersistentRequest SendInit<T>(ReadOnlyMemory<T> data, int dest, int tag) where T : unmanaged =>
        SendInitCore(data, dest, tag, SendMode.Standard);

    /// <inheritdoc cref="SendInit{T}(ReadOnlyMemory{T}, int, int)"/>
    public PersistentRequest SendInit<T>(T[] data, int dest, int tag) where T : unmanaged =>
        SendInitCore(Checked(data), dest, tag, SendMode.Standard);

    /// <summary>Creates a persistent synchronous send (MPI_Ssend_init).</summary>
    public PersistentRequest SendSyncInit<T>(T[] data, int dest, int tag) where T : unmanaged =>
        SendInitCore(Checked(data), dest, tag, SendMode.Synchronous);

    /// <summary>Creates a persistent buffered send (MPI_Bsend_init).</summary>
    public PersistentRequest SendBufferedInit<T>(T[] data, int dest, int tag) where T : unmanaged =>
        SendInitCore(Checked(data), dest, tag, SendMode.Buffered);

    /// <summary>Creates a persistent ready send (MPI_Rsend_init).</summary>
    public PersistentRequest SendReadyInit<T>(T[] data, int dest, int tag) where T : unmanaged =>
        SendInitCore(Checked(data), dest, tag, SendMode.Ready);

    /// <summary>Creates a persistent send in the given mode from memory (MPI_Send_init and its mode variants).</summary>
    public PersistentRequest SendInit<T>(ReadOnlyMemory<T> data, int dest, int tag, SendModeKind mode) where T : unmanaged =>
        SendInitCore(data, dest, tag, (SendMode)mode);

    /// <summary>Creates a persistent receive (MPI_Recv_init).</summary>
    public unsafe PersistentRequest ReceiveInit<T>(Memory<T> buffer, int source, int tag) where T : unmanaged
    {
        CheckSource(source);
        CheckReceiveTag(tag);
        return new PersistentRequest(this, false, SendMode.Standard, buffer.Pin(), (long)buffer.Length * sizeof(T), source, tag);
    }

    /// <inheritdoc cref="ReceiveInit{T}(Memory{T}, int, int)"/>
    public PersistentRequest ReceiveInit<T>(T[] buffer, int source, int tag) where T : unmanaged =>
        ReceiveInit(new Memory<T>(buffer ?? throw new ArgumentNullException(nameof(buffer))), source, tag);

    private unsafe PersistentRequest SendInitCore<T>(ReadOnlyMemory<T> data, int dest, int tag, SendMode mode) where T : unmanaged
    {
        CheckDestination(dest);
        CheckSendTag(tag);
        return new PersistentRequest(this, true, mode, data.Pin(), (long)data.Length * sizeof(T), dest, tag);
    }
}

/// <summary>The four MPI send modes.</summary>
public enum SendModeKind
{
    /// <summary>MPI_Send: may buffer or wait for the receiver, the implementation decides.</summary>
    Standard = 0,
    /// <summary>MPI_Ssend: completes after the receiver matched.</summary>
    Synchronous = 1,
    /// <summary>MPI_Bsend: copies and completes at once.</summary>
    Buffered = 2,
    /// <summary>MPI_Rsend: the receive must already be posted.</summary>
    Ready = 3,
}
