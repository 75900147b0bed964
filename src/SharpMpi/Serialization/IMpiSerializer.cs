using System.Buffers;

namespace SharpMpi.Serialization;

/// <summary>
/// Turns objects into bytes for the object family of calls (<c>SendObject</c>, <c>BroadcastObject</c>, …).
/// The default is <see cref="MemoryPackMpiSerializer"/>; set <see cref="MpiEnvironment.Serializer"/> to use another.
/// Implementations must be thread-safe.
/// </summary>
public interface IMpiSerializer
{
    /// <summary>Writes <paramref name="value"/> to <paramref name="writer"/>.</summary>
    void Serialize<T>(IBufferWriter<byte> writer, in T? value);

    /// <summary>Reads a value written by <see cref="Serialize{T}"/>.</summary>
    T? Deserialize<T>(ReadOnlySpan<byte> data);
}
