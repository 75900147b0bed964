using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using SharpMpi.Datatypes;

namespace SharpMpi;

/// <summary>Storage order of a multidimensional array (for <see cref="Datatype.Subarray{T}"/>).</summary>
public enum ArrayOrder
{
    /// <summary>Row-major: the last index varies fastest (C, C#).</summary>
    C,
    /// <summary>Column-major: the first index varies fastest (Fortran).</summary>
    Fortran,
}

/// <summary>
/// An MPI derived datatype: a layout of primitive elements in memory (MPI_Type_*). Build one from element
/// types or other datatypes, <see cref="Commit"/> it, and use it with the (buffer, datatype, count) forms of
/// send, receive, collectives and <c>Pack</c>. Element i of a buffer starts at i × <see cref="Extent"/>
/// bytes; displacements are in elements of the old type for Vector/Indexed and in bytes for the H… forms.
/// </summary>
/// <remarks>
/// Committing compiles the layout into (offset, length) blocks with adjacent blocks merged, so packing is a
/// loop of memory copies; a layout that is one contiguous range is sent and received without any copy.
/// The type signature (the sequence of primitive element types) is kept: data sent with one datatype may be
/// received with another of the same signature. Datatypes are immutable once built and safe to share
/// between threads. Disposing (MPI_Type_free) makes this object unusable; datatypes built from it are not affected.
/// </remarks>
public sealed class Datatype : IDisposable
{
    private readonly TypeMap _map;
    private readonly bool _predefined;
    private DatatypeLayout? _layout;
    private bool _disposed;

    private Datatype(TypeMap map, string name, bool predefined = false)
    {
        _map = map;
        Name = name;
        _predefined = predefined;
        if (predefined)
            _layout = new DatatypeLayout(map);
    }

    /// <summary>A short description, e.g. "Vector(3, 1, 4, Int32)".</summary>
    public string Name { get; }

    /// <summary>Bytes of data in one element of this type (MPI_Type_size).</summary>
    public long Size => _map.Size;

    /// <summary>Distance in bytes from one element of this type to the next (MPI_Type_get_extent).</summary>
    public long Extent => _map.Ub - _map.Lb;

    /// <summary>Lower bound in bytes (MPI_Type_get_extent).</summary>
    public long LowerBound => _map.Lb;

    /// <summary>Upper bound in bytes: <see cref="LowerBound"/> + <see cref="Extent"/>.</summary>
    public long UpperBound => _map.Ub;

    /// <summary>Offset of the first byte of data (MPI_Type_get_true_extent).</summary>
    public long TrueLowerBound => _map.HasEntries ? _map.TrueLb : 0;

    /// <summary>Bytes from the first to one past the last byte of data (MPI_Type_get_true_extent).</summary>
    public long TrueExtent => _map.HasEntries ? _map.TrueUb - _map.TrueLb : 0;

    /// <summary>Number of primitive elements in one element of this type.</summary>
    public long ElementCount => _map.ElementCount;

    /// <summary>True once <see cref="Commit"/> has run (predefined types are always committed).</summary>
    public bool IsCommitted => _layout is not null;

    /// <summary>True when one element is a single contiguous range of <see cref="Size"/> bytes filling the extent.</summary>
    public bool IsContiguous => (_layout ?? new DatatypeLayout(_map)).IsContiguous;

    internal TypeMap Map
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _map;
        }
    }

    /// <summary>The compiled layout; throws when the type is not committed or was disposed.</summary>
    internal DatatypeLayout Layout(string paramName)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _layout ?? throw new MpiException(ErrorClass.Type,
            $"Datatype {Name} ({paramName}) is not committed: call Commit() before communicating with it.");
    }

    /// <summary>Compiles the layout for communication (MPI_Type_commit) and returns this datatype.</summary>
    public Datatype Commit()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _layout ??= new DatatypeLayout(_map);
        return this;
    }

    /// <summary>Frees the datatype (MPI_Type_free). Predefined types (<see cref="Of{T}"/>) ignore it.</summary>
    public void Dispose()
    {
        if (!_predefined)
            _disposed = true;
    }

    /// <summary>The (offset, length) blocks of a committed type, in packing order (diagnostics and tests).</summary>
    public IReadOnlyList<(long Offset, long Length)> GetBlocks() =>
        Array.ConvertAll(Layout("this").Blocks, b => (b.Offset, b.Length));

    /// <inheritdoc/>
    public override string ToString() => $"{Name} (size {Size}, extent {Extent}, lb {LowerBound})";

    // ------------------------------------------------------------------ predefined

    /// <summary>
    /// The committed datatype of one <typeparamref name="T"/>: a primitive (int, double, …, enums by their
    /// underlying type) or a blittable struct described field by field (as <see cref="Struct{TStruct}"/>).
    /// </summary>
    public static Datatype Of<[DynamicallyAccessedMembers(StructLayoutProbe.Fields)] T>()
        where T : unmanaged
    {
        try
        {
            return Predefined<T>.Instance;
        }
        catch (TypeInitializationException e) when (e.InnerException is not null)
        {
            // Say why the struct cannot be described (a pointer field, fields removed by trimming), not that a
            // type initializer failed.
            ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
    }

    private static class Predefined<[DynamicallyAccessedMembers(StructLayoutProbe.Fields)] T>
        where T : unmanaged
    {
        public static readonly Datatype Instance = Create();

        private static Datatype Create()
        {
            if (Primitives.Of(typeof(T)) is { } p)
            {
                var map = new TypeMap();
                map.Add(0, p, 1);
                map.Lb = 0;
                map.Ub = Unsafe.SizeOf<T>();
                return new Datatype(map, typeof(T).Name, predefined: true);
            }
            return new Datatype(StructLayoutProbe.Build<T>(), typeof(T).Name, predefined: true);
        }
    }

    // ------------------------------------------------------------------ constructors

    /// <summary><paramref name="count"/> consecutive elements of <typeparamref name="T"/> (MPI_Type_contiguous).</summary>
    public static Datatype Contiguous<[DynamicallyAccessedMembers(StructLayoutProbe.Fields)] T>(int count) where T : unmanaged => Contiguous(count, Of<T>());

    /// <summary><paramref name="count"/> consecutive elements of <paramref name="oldType"/> (MPI_Type_contiguous).</summary>
    public static Datatype Contiguous(int count, Datatype oldType)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var old = Old(oldType);
        var map = new TypeMap();
        bool set = false;
        map.AddBlock(old, 0, count, ref set);
        return New(map, set, $"Contiguous({count}, {oldType.Name})");
    }

    /// <summary>
    /// <paramref name="count"/> blocks of <paramref name="blockLength"/> elements of <typeparamref name="T"/>, block
    /// starts <paramref name="stride"/> elements apart (MPI_Type_vector): a matrix column is
    /// <c>Vector&lt;double&gt;(rows, 1, columns)</c>.
    /// </summary>
    public static Datatype Vector<[DynamicallyAccessedMembers(StructLayoutProbe.Fields)] T>(int count, int blockLength, int stride) where T : unmanaged =>
        Vector(count, blockLength, stride, Of<T>());

    /// <summary>Vector of <paramref name="oldType"/>; the stride is in extents of the old type (MPI_Type_vector).</summary>
    public static Datatype Vector(int count, int blockLength, int stride, Datatype oldType)
    {
        var old = Old(oldType);
        return HVectorCore(count, blockLength, (long)stride * (old.Ub - old.Lb), old, $"Vector({count}, {blockLength}, {stride}, {oldType.Name})");
    }

    /// <summary>Like <see cref="Vector{T}"/> with the stride in bytes (MPI_Type_create_hvector).</summary>
    public static Datatype HVector<[DynamicallyAccessedMembers(StructLayoutProbe.Fields)] T>(int count, int blockLength, long strideBytes) where T : unmanaged =>
        HVector(count, blockLength, strideBytes, Of<T>());

    /// <summary>HVector of <paramref name="oldType"/> (MPI_Type_create_hvector).</summary>
    public static Datatype HVector(int count, int blockLength, long strideBytes, Datatype oldType) =>
        HVectorCore(count, blockLength, strideBytes, Old(oldType), $"HVector({count}, {blockLength}, {strideBytes}B, {oldType.Name})");

    private static Datatype HVectorCore(int count, int blockLength, long strideBytes, TypeMap old, string name)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegative(blockLength);
        var map = new TypeMap();
        bool set = false;
        for (int j = 0; j < count; j++)
            map.AddBlock(old, checked(j * strideBytes), blockLength, ref set);
        return New(map, set, name);
    }

    /// <summary>
    /// Blocks of <paramref name="blockLengths"/>[i] elements of <typeparamref name="T"/> starting at element
    /// <paramref name="displacements"/>[i] (MPI_Type_indexed).
    /// </summary>
    public static Datatype Indexed<[DynamicallyAccessedMembers(StructLayoutProbe.Fields)] T>(ReadOnlySpan<int> blockLengths, ReadOnlySpan<int> displacements) where T : unmanaged =>
        Indexed(blockLengths, displacements, Of<T>());

    /// <summary>Indexed of <paramref name="oldType"/>; displacements in extents of the old type (MPI_Type_indexed).</summary>
    public static Datatype Indexed(ReadOnlySpan<int> blockLengths, ReadOnlySpan<int> displacements, Datatype oldType)
    {
        var old = Old(oldType);
        long extent = old.Ub - old.Lb;
        var bytes = new long[displacements.Length];
        for (int i = 0; i < bytes.Length; i++)
            bytes[i] = displacements[i] * extent;
        return HIndexedCore(blockLengths, bytes, old, $"Indexed({blockLengths.Length} blocks, {oldType.Name})");
    }

    /// <summary>Like <see cref="Indexed{T}"/> with displacements in bytes (MPI_Type_create_hindexed).</summary>
    public static Datatype HIndexed<[DynamicallyAccessedMembers(StructLayoutProbe.Fields)] T>(ReadOnlySpan<int> blockLengths, ReadOnlySpan<long> byteDisplacements) where T : unmanaged =>
        HIndexed(blockLengths, byteDisplacements, Of<T>());

    /// <summary>HIndexed of <paramref name="oldType"/> (MPI_Type_create_hindexed).</summary>
    public static Datatype HIndexed(ReadOnlySpan<int> blockLengths, ReadOnlySpan<long> byteDisplacements, Datatype oldType) =>
        HIndexedCore(blockLengths, byteDisplacements, Old(oldType), $"HIndexed({blockLengths.Length} blocks, {oldType.Name})");

    /// <summary>Blocks of the same <paramref name="blockLength"/> at element <paramref name="displacements"/> (MPI_Type_create_indexed_block).</summary>
    public static Datatype IndexedBlock<[DynamicallyAccessedMembers(StructLayoutProbe.Fields)] T>(int blockLength, ReadOnlySpan<int> displacements) where T : unmanaged =>
        IndexedBlock(blockLength, displacements, Of<T>());

    /// <summary>IndexedBlock of <paramref name="oldType"/> (MPI_Type_create_indexed_block).</summary>
    public static Datatype IndexedBlock(int blockLength, ReadOnlySpan<int> displacements, Datatype oldType)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(blockLength);
        var lengths = new int[displacements.Length];
        Array.Fill(lengths, blockLength);
        return Indexed(lengths, displacements, oldType);
    }

    private static Datatype HIndexedCore(ReadOnlySpan<int> blockLengths, ReadOnlySpan<long> byteDisplacements, TypeMap old, string name)
    {
        if (blockLengths.Length != byteDisplacements.Length)
            throw new ArgumentException($"blockLengths has {blockLengths.Length} entries but the displacements {byteDisplacements.Length}.", nameof(blockLengths));
        var map = new TypeMap();
        bool set = false;
        for (int i = 0; i < blockLengths.Length; i++)
        {
            if (blockLengths[i] < 0)
                throw new ArgumentOutOfRangeException(nameof(blockLengths), blockLengths[i], $"blockLengths[{i}] is negative.");
            map.AddBlock(old, byteDisplacements[i], blockLengths[i], ref set);
        }
        return New(map, set, name);
    }

    /// <summary>
    /// The datatype of a blittable struct, field by field at the offsets the runtime really uses (nested
    /// structs flattened, padding skipped, extent = sizeof(<typeparamref name="TStruct"/>)). Committed.
    /// </summary>
    public static Datatype Struct<[DynamicallyAccessedMembers(StructLayoutProbe.Fields)] TStruct>()
        where TStruct : unmanaged
    {
        var map = Primitives.Of(typeof(TStruct)) is null ? StructLayoutProbe.Build<TStruct>() : Of<TStruct>().Map;
        var copy = new TypeMap();
        copy.AddCopy(map, 0);
        copy.Lb = 0;
        copy.Ub = Unsafe.SizeOf<TStruct>();
        return new Datatype(copy, $"Struct<{typeof(TStruct).Name}>").Commit();
    }

    /// <summary>
    /// A struct type from (block length, byte displacement, type) triples (MPI_Type_create_struct). The
    /// extent is that of the fields (lb = lowest field start, ub = highest field end); use
    /// <see cref="Resized"/> to add trailing padding.
    /// </summary>
    public static Datatype Struct(params ReadOnlySpan<(int BlockLength, long ByteDisplacement, Datatype Type)> fields)
    {
        var map = new TypeMap();
        bool set = false;
        for (int i = 0; i < fields.Length; i++)
        {
            var (length, displacement, type) = fields[i];
            ArgumentNullException.ThrowIfNull(type, nameof(fields));
            if (length < 0)
                throw new ArgumentOutOfRangeException(nameof(fields), length, $"fields[{i}] has a negative block length.");
            map.AddBlock(type.Map, displacement, length, ref set);
        }
        return New(map, set, $"Struct({fields.Length} fields)");
    }

    /// <summary>
    /// A subarray of an n-dimensional array of <typeparamref name="T"/> (MPI_Type_create_subarray):
    /// <paramref name="subsizes"/> elements per dimension starting at <paramref name="starts"/>, out of
    /// <paramref name="sizes"/>. The extent is the whole array, so consecutive elements of this type are consecutive arrays.
    /// </summary>
    public static Datatype Subarray<[DynamicallyAccessedMembers(StructLayoutProbe.Fields)] T>(ReadOnlySpan<int> sizes, ReadOnlySpan<int> subsizes, ReadOnlySpan<int> starts, ArrayOrder order = ArrayOrder.C)
        where T : unmanaged => Subarray(sizes, subsizes, starts, order, Of<T>());

    /// <summary>Subarray of <paramref name="oldType"/> elements (MPI_Type_create_subarray).</summary>
    public static Datatype Subarray(ReadOnlySpan<int> sizes, ReadOnlySpan<int> subsizes, ReadOnlySpan<int> starts, ArrayOrder order, Datatype oldType)
    {
        int n = sizes.Length;
        if (n == 0)
            throw new ArgumentException("At least one dimension is needed.", nameof(sizes));
        if (subsizes.Length != n)
            throw new ArgumentException($"subsizes has {subsizes.Length} entries for {n} dimensions.", nameof(subsizes));
        if (starts.Length != n)
            throw new ArgumentException($"starts has {starts.Length} entries for {n} dimensions.", nameof(starts));
        for (int d = 0; d < n; d++)
        {
            if (sizes[d] < 1)
                throw new ArgumentOutOfRangeException(nameof(sizes), sizes[d], $"sizes[{d}] must be at least 1.");
            if (subsizes[d] < 1 || subsizes[d] > sizes[d])
                throw new ArgumentOutOfRangeException(nameof(subsizes), subsizes[d], $"subsizes[{d}] must be between 1 and sizes[{d}] = {sizes[d]}.");
            if (starts[d] < 0 || starts[d] > sizes[d] - subsizes[d])
                throw new ArgumentOutOfRangeException(nameof(starts), starts[d], $"starts[{d}] must be between 0 and sizes[{d}] - subsizes[{d}] = {sizes[d] - subsizes[d]}.");
        }
        var old = Old(oldType);
        long extent = old.Ub - old.Lb;
        // Dimension order from slowest to fastest varying.
        var dims = new int[n];
        for (int d = 0; d < n; d++)
            dims[d] = order == ArrayOrder.C ? d : n - 1 - d;
        var strides = new long[n];
        long stride = 1;
        for (int k = n - 1; k >= 0; k--)
        {
            strides[k] = stride;
            stride = checked(stride * sizes[dims[k]]);
        }
        long total = stride;
        var map = new TypeMap();
        bool set = false;
        var index = new int[n];
        int fast = dims[n - 1];
        while (true)
        {
            long start = 0;
            for (int k = 0; k < n - 1; k++)
                start += (starts[dims[k]] + index[k]) * strides[k];
            start += starts[fast];
            map.AddBlock(old, checked(start * extent), subsizes[fast], ref set);
            int k2 = n - 2;
            while (k2 >= 0)
            {
                if (++index[k2] < subsizes[dims[k2]])
                    break;
                index[k2] = 0;
                k2--;
            }
            if (k2 < 0)
                break;
        }
        map.Lb = old.Lb;
        map.Ub = checked(old.Lb + total * extent);
        return new Datatype(map, $"Subarray({n}D, {order}, {oldType.Name})");
    }

    /// <summary>
    /// The same data with a new lower bound and extent (MPI_Type_create_resized), e.g. to interleave
    /// elements of a strided type. Not committed.
    /// </summary>
    public Datatype Resized(long lowerBound, long extent)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(extent);
        var map = new TypeMap();
        map.AddCopy(Map, 0);
        map.Lb = lowerBound;
        map.Ub = checked(lowerBound + extent);
        return new Datatype(map, $"Resized({Name}, lb {lowerBound}, extent {extent})");
    }

    /// <summary>A copy of this datatype (MPI_Type_dup), committed if this one is.</summary>
    public Datatype Duplicate()
    {
        var map = new TypeMap();
        map.AddCopy(Map, 0);
        map.Lb = _map.Lb;
        map.Ub = _map.Ub;
        var d = new Datatype(map, Name);
        return IsCommitted ? d.Commit() : d;
    }

    private static TypeMap Old(Datatype oldType, [CallerArgumentExpression(nameof(oldType))] string? name = null)
    {
        ArgumentNullException.ThrowIfNull(oldType, name);
        return oldType.Map;
    }

    private static Datatype New(TypeMap map, bool boundsSet, string name)
    {
        if (!boundsSet)
        {
            map.Lb = 0;
            map.Ub = 0;
        }
        return new Datatype(map, name);
    }
}
