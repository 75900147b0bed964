using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SharpMpi;

// MPI_Pack / MPI_Unpack / MPI_Pack_size: build one message out of several pieces in a byte buffer, with a
// running position. The packed form is the raw little-endian bytes of the data, in type-map order (the
// same bytes a send with the datatype puts on the wire), so packed data may be sent as bytes and received
// with a datatype, and the other way round. A piece that does not fit throws before anything is written.
public partial class Communicator
{
    /// <summary>Bytes that <paramref name="count"/> values of <typeparamref name="T"/> take when packed (MPI_Pack_size).</summary>
    public int PackSize<T>(int count) where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return checked(count * Unsafe.SizeOf<T>());
    }

    /// <summary>Bytes that <paramref name="count"/> elements of <paramref name="type"/> take when packed (MPI_Pack_size).</summary>
    public int PackSize(Datatype type, int count)
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return checked((int)(count * type.Size));
    }

    /// <summary>Appends <paramref name="value"/> to <paramref name="buffer"/> at <paramref name="position"/> and advances it (MPI_Pack).</summary>
    /// <exception cref="ArgumentException">The value does not fit in <paramref name="buffer"/> after <paramref name="position"/> (nothing is written).</exception>
    public void Pack<T>(T value, Span<byte> buffer, ref long position) where T : unmanaged =>
        Pack(new ReadOnlySpan<T>(in value), buffer, ref position);

    /// <summary>Appends <paramref name="values"/> to <paramref name="buffer"/> at <paramref name="position"/> and advances it (MPI_Pack).</summary>
    /// <exception cref="ArgumentException">The values do not fit in <paramref name="buffer"/> after <paramref name="position"/> (nothing is written).</exception>
    public void Pack<T>(ReadOnlySpan<T> values, Span<byte> buffer, ref long position) where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(values);
        bytes.CopyTo(Room(buffer, position, bytes.Length, nameof(buffer)));
        position += bytes.Length;
    }

    /// <summary>
    /// Appends <paramref name="count"/> elements of <paramref name="type"/> laid out in <paramref name="data"/> to
    /// <paramref name="buffer"/> at <paramref name="position"/> and advances it (MPI_Pack).
    /// </summary>
    /// <exception cref="ArgumentException">The elements do not fit in <paramref name="data"/> or in <paramref name="buffer"/> (nothing is written).</exception>
    public unsafe void Pack<T>(ReadOnlySpan<T> data, Datatype type, int count, Span<byte> buffer, ref long position) where T : unmanaged
    {
        var layout = CheckTyped((long)data.Length * sizeof(T), type, count, nameof(data));
        long length = count * layout.Size;
        var room = Room(buffer, position, length, nameof(buffer));
        fixed (T* src = data)
        fixed (byte* dst = room)
            layout.Pack((byte*)src, count, dst);
        position += length;
    }

    /// <summary>Reads one <typeparamref name="T"/> from <paramref name="buffer"/> at <paramref name="position"/> and advances it (MPI_Unpack).</summary>
    /// <exception cref="ArgumentException">Fewer bytes than a <typeparamref name="T"/> remain after <paramref name="position"/>.</exception>
    public void Unpack<T>(ReadOnlySpan<byte> buffer, ref long position, out T value) where T : unmanaged
    {
        value = default;
        Unpack(buffer, ref position, new Span<T>(ref value));
    }

    /// <summary>Reads one <typeparamref name="T"/> from <paramref name="buffer"/> at <paramref name="position"/> and advances it (MPI_Unpack).</summary>
    public T Unpack<T>(ReadOnlySpan<byte> buffer, ref long position) where T : unmanaged
    {
        Unpack(buffer, ref position, out T value);
        return value;
    }

    /// <summary>Fills <paramref name="values"/> from <paramref name="buffer"/> at <paramref name="position"/> and advances it (MPI_Unpack).</summary>
    /// <exception cref="ArgumentException">Fewer bytes than <paramref name="values"/> needs remain after <paramref name="position"/>.</exception>
    public void Unpack<T>(ReadOnlySpan<byte> buffer, ref long position, Span<T> values) where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(values);
        Room(buffer, position, bytes.Length, nameof(buffer)).CopyTo(bytes);
        position += bytes.Length;
    }

    /// <summary>
    /// Reads <paramref name="count"/> elements of <paramref name="type"/> from <paramref name="buffer"/> at
    /// <paramref name="position"/> into their places in <paramref name="data"/> and advances it (MPI_Unpack).
    /// </summary>
    /// <exception cref="ArgumentException">The elements do not fit in <paramref name="data"/>, or <paramref name="buffer"/> holds too few bytes.</exception>
    public unsafe void Unpack<T>(ReadOnlySpan<byte> buffer, ref long position, Span<T> data, Datatype type, int count) where T : unmanaged
    {
        var layout = CheckTyped((long)data.Length * sizeof(T), type, count, nameof(data));
        long length = count * layout.Size;
        var packed = Room(buffer, position, length, nameof(buffer));
        fixed (byte* src = packed)
        fixed (T* dst = data)
            layout.Unpack(src, length, (byte*)dst, count);
        position += length;
    }

    private static Span<byte> Room(Span<byte> buffer, long position, long length, string name)
    {
        CheckRoom(buffer.Length, position, length, name);
        return buffer.Slice((int)position, (int)length);
    }

    private static ReadOnlySpan<byte> Room(ReadOnlySpan<byte> buffer, long position, long length, string name)
    {
        CheckRoom(buffer.Length, position, length, name);
        return buffer.Slice((int)position, (int)length);
    }

    private static void CheckRoom(int bufferLength, long position, long length, string name)
    {
        if (position < 0 || position > bufferLength)
            throw new ArgumentOutOfRangeException(nameof(position), position, $"position must be between 0 and the length of {name} ({bufferLength}).");
        if (length > bufferLength - position)
        {
            throw new ArgumentException(
                $"{name} has {bufferLength - position} bytes left after position {position} but {length} are needed.", name);
        }
    }
}
