using System.Buffers;
using System.Diagnostics.CodeAnalysis;

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
    /// <remarks>
    /// <typeparamref name="T"/> keeps all its members in trimmed and NativeAOT apps (DynamicallyAccessedMembers.All),
    /// as MemoryPack requires: it finds a <c>[MemoryPackable]</c> type's generated formatter by reflection when no value of
    /// the type was created yet. The object calls of <see cref="Communicator"/> carry the same annotation.
    /// </remarks>
    T? Deserialize<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(ReadOnlySpan<byte> data);
}
