using System.Buffers;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SharpMpi.Collectives;

/// <summary>
/// A pinned byte range of a collective call: a user buffer fixed or pinned for the whole call, or a
/// <see cref="TempBuffer"/>. A plain pointer so that the algorithms (async methods) can hold it across awaits.
/// </summary>
internal readonly unsafe struct Buf
{
    public readonly nint Ptr;
    public readonly long Length;

    public Buf(void* ptr, long length)
    {
        Ptr = (nint)ptr;
        Length = length;
    }

    public Buf(nint ptr, long length)
    {
        Ptr = ptr;
        Length = length;
    }

    public bool IsEmpty => Length == 0;

    public Buf Slice(long offset, long length)
    {
        Debug.Assert(offset >= 0 && length >= 0 && offset + length <= Length, $"slice {offset}+{length} of {Length}");
        return new Buf(Ptr + (nint)offset, length);
    }

    public Buf Slice(long offset) => Slice(offset, Length - offset);

    public Span<byte> Span => new((void*)Ptr, checked((int)Length));

    /// <summary>Same start and length (an in-place argument, or the accumulator already being the output).</summary>
    public bool SameAs(Buf other) => Ptr == other.Ptr && Length == other.Length;

    /// <summary>Copies min(Length, dest.Length) bytes; overlapping ranges are handled like memmove.</summary>
    public void CopyTo(Buf dest)
    {
        long n = Math.Min(Length, dest.Length);
        if (n > 0 && Ptr != dest.Ptr)
            Buffer.MemoryCopy((void*)Ptr, (void*)dest.Ptr, n, n);
    }
}

/// <summary>
/// A pinned scratch buffer: pooled array pinned with a GC handle (no allocation in the steady state), or
/// native memory beyond the largest array. Dispose exactly once (a <c>using</c> local).
/// </summary>
internal struct TempBuffer : IDisposable
{
    private byte[]? _array;
    private GCHandle _handle;
    private unsafe void* _native;

    public Buf Buf { get; private set; }

    public static unsafe TempBuffer Rent(long bytes)
    {
        var t = default(TempBuffer);
        if (bytes <= 0)
            return t;
        if (bytes <= Array.MaxLength)
        {
            t._array = ArrayPool<byte>.Shared.Rent((int)bytes);
            t._handle = GCHandle.Alloc(t._array, GCHandleType.Pinned);
            t.Buf = new Buf(t._handle.AddrOfPinnedObject(), bytes);
        }
        else
        {
            t._native = NativeMemory.Alloc((nuint)bytes);
            t.Buf = new Buf(t._native, bytes);
        }
        return t;
    }

    public unsafe void Dispose()
    {
        if (_array is not null)
        {
            _handle.Free();
            ArrayPool<byte>.Shared.Return(_array);
            _array = null;
        }
        if (_native is not null)
        {
            NativeMemory.Free(_native);
            _native = null;
        }
        Buf = default;
    }
}
