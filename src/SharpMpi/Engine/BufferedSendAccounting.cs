namespace SharpMpi.Engine;

/// <summary>
/// Counts the bytes held by buffered sends (MPI_Bsend). By default buffering is automatic (unbounded, pooled
/// memory); after <see cref="Attach"/> the total is limited like MPI's attached buffer and a send that would
/// overflow it fails with <see cref="ErrorClass.NoMem"/> instead of corrupting anything.
/// </summary>
internal sealed class BufferedSendAccounting
{
    /// <summary>Per-message overhead MPI charges against an attached buffer (MPI_BSEND_OVERHEAD).</summary>
    public const int Overhead = 96;

    private long _capacity = -1;
    private long _inUse;
    private int _messages;

    public static readonly Action<RequestCore> Release = static r =>
    {
        var accounting = (BufferedSendAccounting)r.State!;
        Interlocked.Add(ref accounting._inUse, -(r.Length + Overhead));
        Interlocked.Decrement(ref accounting._messages);
    };

    /// <summary>Limits buffered sends to <paramref name="bytes"/> in flight.</summary>
    public void Attach(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (Interlocked.CompareExchange(ref _capacity, bytes, -1) != -1)
            throw new InvalidOperationException("A buffer is already attached; detach it first.");
    }

    /// <summary>Back to automatic buffering; returns the attached size. The caller waits for <see cref="IsIdle"/> first.</summary>
    public long Detach()
    {
        long old = Interlocked.Exchange(ref _capacity, -1);
        if (old < 0)
            throw new InvalidOperationException("No buffer is attached.");
        return old;
    }

    public bool IsIdle => Volatile.Read(ref _messages) == 0;

    /// <summary>Accounts for a new buffered message of <paramref name="length"/> bytes, or throws when it does not fit.</summary>
    public void Reserve(long length)
    {
        long need = length + Overhead;
        long total = Interlocked.Add(ref _inUse, need);
        long capacity = Volatile.Read(ref _capacity);
        if (capacity >= 0 && total > capacity)
        {
            Interlocked.Add(ref _inUse, -need);
            throw new MpiException(ErrorClass.NoMem,
                $"Buffered send of {length} bytes does not fit in the attached buffer ({capacity} bytes, {total - need} in use, {Overhead} bytes overhead per message).");
        }
        Interlocked.Increment(ref _messages);
    }
}
