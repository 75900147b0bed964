using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using MemoryPack;

namespace SharpMpi.Serialization;

/// <summary>
/// The default serializer: MemoryPack. It handles primitives, strings, arrays (unmanaged element arrays as
/// one block copy), lists, dictionaries, tuples and any type marked <c>[MemoryPackable]</c>. A type it cannot
/// handle fails with a message that says how to make it serializable.
/// </summary>
public sealed class MemoryPackMpiSerializer : IMpiSerializer
{
    /// <summary>The shared instance.</summary>
    public static MemoryPackMpiSerializer Instance { get; } = new();

    /// <inheritdoc/>
    public void Serialize<T>(IBufferWriter<byte> writer, in T? value)
    {
        try
        {
            MemoryPackSerializer.Serialize(writer, value);
        }
        catch (MemoryPackSerializationException e)
        {
            throw Unsupported(typeof(T), e);
        }
    }

    /// <inheritdoc/>
    public T? Deserialize<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(ReadOnlySpan<byte> data)
    {
        try
        {
            return MemoryPackSerializer.Deserialize<T>(data);
        }
        catch (MemoryPackSerializationException e)
        {
            throw Unsupported(typeof(T), e);
        }
    }

    private static ArgumentException Unsupported(Type type, Exception inner) =>
        new($"Type {type} cannot be sent as an object: {inner.Message} Mark it [MemoryPackable] (and partial), or set MpiEnvironment.Serializer to a serializer that supports it.", "value", inner);
}
