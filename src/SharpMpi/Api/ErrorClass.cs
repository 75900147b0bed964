namespace SharpMpi;

/// <summary>MPI error classes (values as in the MPI standard's ABI).</summary>
public enum ErrorClass
{
    /// <summary>No error.</summary>
    Success = 0,
    /// <summary>Invalid buffer pointer.</summary>
    Buffer = 1,
    /// <summary>Invalid count argument.</summary>
    Count = 2,
    /// <summary>Invalid datatype argument.</summary>
    Type = 3,
    /// <summary>Invalid tag argument.</summary>
    Tag = 4,
    /// <summary>Invalid communicator.</summary>
    Comm = 5,
    /// <summary>Invalid rank.</summary>
    Rank = 6,
    /// <summary>Invalid request.</summary>
    Request = 7,
    /// <summary>Invalid root.</summary>
    Root = 8,
    /// <summary>Invalid group.</summary>
    Group = 9,
    /// <summary>Invalid operation.</summary>
    Op = 10,
    /// <summary>Invalid topology.</summary>
    Topology = 11,
    /// <summary>Invalid dimension argument.</summary>
    Dims = 12,
    /// <summary>Invalid argument of some other kind.</summary>
    Arg = 13,
    /// <summary>Unknown error.</summary>
    Unknown = 14,
    /// <summary>Message truncated on receive.</summary>
    Truncate = 15,
    /// <summary>Known error not in this list.</summary>
    Other = 16,
    /// <summary>Internal MPI (implementation) error.</summary>
    Intern = 17,
    /// <summary>Error code is in status.</summary>
    InStatus = 18,
    /// <summary>Pending request.</summary>
    Pending = 19,
    /// <summary>Memory exhausted, or a user buffer (attached send buffer) is too small.</summary>
    NoMem = 34,
    /// <summary>Memory cannot be attached to a dynamic window (MPI_ERR_RMA_ATTACH).</summary>
    RmaAttach = 46,
    /// <summary>Conflicting accesses to a window (MPI_ERR_RMA_CONFLICT).</summary>
    RmaConflict = 47,
    /// <summary>Target memory is not part of the window, or not attached to a dynamic window (MPI_ERR_RMA_RANGE).</summary>
    RmaRange = 48,
    /// <summary>Memory cannot be shared (MPI_ERR_RMA_SHARED).</summary>
    RmaShared = 49,
    /// <summary>An RMA call outside an access epoch, or wrong synchronization (MPI_ERR_RMA_SYNC).</summary>
    RmaSync = 50,
    /// <summary>Invalid window (MPI_ERR_WIN).</summary>
    Win = 56,
    /// <summary>The window's flavor does not support the call (MPI_ERR_RMA_FLAVOR).</summary>
    RmaFlavor = 57,
    /// <summary>Operation not supported.</summary>
    Unsupported = 43,
    /// <summary>A process involved in the operation has failed.</summary>
    ProcessFailed = 75,
    /// <summary>The job was aborted.</summary>
    Aborted = 76,
}
