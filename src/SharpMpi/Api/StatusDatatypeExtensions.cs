namespace SharpMpi;

/// <summary>Datatype-aware queries on a <see cref="Status"/>.</summary>
public static class StatusDatatypeExtensions
{
    /// <summary>
    /// Number of primitive elements of <paramref name="type"/>'s signature in the message (MPI_Get_elements):
    /// partial elements of <paramref name="type"/> count their whole primitives.
    /// </summary>
    /// <exception cref="InvalidOperationException">The message ends inside a primitive element (MPI_UNDEFINED).</exception>
    public static long GetElements(this Status status, Datatype type)
    {
        ArgumentNullException.ThrowIfNull(type);
        long n = type.Layout(nameof(type)).ElementsIn(status.ByteCount);
        if (n < 0)
            throw new InvalidOperationException($"The message has {status.ByteCount} bytes, which end inside a primitive element of {type.Name}.");
        return n;
    }

    /// <summary>Number of whole elements of <paramref name="type"/> in the message (MPI_Get_count).</summary>
    /// <exception cref="InvalidOperationException">The message is not a whole number of elements (MPI_UNDEFINED).</exception>
    public static long GetCount(this Status status, Datatype type)
    {
        ArgumentNullException.ThrowIfNull(type);
        long size = type.Layout(nameof(type)).Size;
        if (size == 0)
            return 0;
        if (status.ByteCount % size != 0)
            throw new InvalidOperationException($"The message has {status.ByteCount} bytes, not a whole number of {type.Name} ({size} bytes each).");
        return status.ByteCount / size;
    }
}
