using System.Runtime.CompilerServices;

namespace SharpMpi;

/// <summary>What a completed receive (or probe) found: source, tag and size of the message.</summary>
public readonly struct Status : IEquatable<Status>
{
    /// <summary>Creates a status.</summary>
    public Status(int source, int tag, long byteCount, bool isCancelled = false)
    {
        Source = source;
        Tag = tag;
        ByteCount = byteCount;
        IsCancelled = isCancelled;
    }

    /// <summary>Rank of the sender in the communicator (<see cref="Communicator.ProcNull"/> for a receive from ProcNull).</summary>
    public int Source { get; }

    /// <summary>Tag of the message.</summary>
    public int Tag { get; }

    /// <summary>Size of the message in bytes (64-bit).</summary>
    public long ByteCount { get; }

    /// <summary>True when the request was cancelled before it matched.</summary>
    public bool IsCancelled { get; }

    /// <summary>Number of whole <typeparamref name="T"/> elements in the message.</summary>
    /// <exception cref="InvalidOperationException">The byte count is not a multiple of the element size (MPI_UNDEFINED).</exception>
    public long GetCount<T>() where T : unmanaged
    {
        int size = Unsafe.SizeOf<T>();
        if (ByteCount % size != 0)
            throw new InvalidOperationException($"The message has {ByteCount} bytes, not a whole number of {typeof(T).Name} ({size} bytes each).");
        return ByteCount / size;
    }

    /// <inheritdoc/>
    public bool Equals(Status other) =>
        Source == other.Source && Tag == other.Tag && ByteCount == other.ByteCount && IsCancelled == other.IsCancelled;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Status s && Equals(s);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Source, Tag, ByteCount, IsCancelled);

    /// <summary>Equality.</summary>
    public static bool operator ==(Status left, Status right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(Status left, Status right) => !left.Equals(right);

    /// <inheritdoc/>
    public override string ToString() =>
        IsCancelled ? "Status(cancelled)" : $"Status(source={Source}, tag={Tag}, bytes={ByteCount})";
}
