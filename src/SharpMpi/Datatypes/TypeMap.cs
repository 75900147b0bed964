namespace SharpMpi.Datatypes;

/// <summary>A run of <see cref="Count"/> consecutive primitives of one kind at byte <see cref="Offset"/>.</summary>
internal readonly record struct TypeEntry(long Offset, Primitive Primitive, long Count)
{
    public long Length => Count * Primitives.SizeOf(Primitive);
}

/// <summary>A run of <see cref="Count"/> primitives of one kind in a type signature.</summary>
internal readonly record struct SignatureRun(Primitive Primitive, long Count);

/// <summary>
/// A datatype's type map while it is being built: entries in type-map order (the order data is packed in),
/// adjacent runs of the same primitive merged, and the bounds MPI defines (lb/ub, true lb/ub).
/// </summary>
internal sealed class TypeMap
{
    private readonly List<TypeEntry> _entries = [];

    public IReadOnlyList<TypeEntry> Entries => _entries;

    /// <summary>Bytes of data (sum of entry lengths).</summary>
    public long Size { get; private set; }

    public long Lb { get; set; }

    public long Ub { get; set; }

    public long TrueLb { get; private set; } = long.MaxValue;

    public long TrueUb { get; private set; } = long.MinValue;

    public bool HasEntries => _entries.Count > 0;

    /// <summary>Appends <paramref name="count"/> primitives at <paramref name="offset"/>, merging with the previous run when possible.</summary>
    public void Add(long offset, Primitive primitive, long count)
    {
        if (count == 0)
            return;
        int size = Primitives.SizeOf(primitive);
        long length = checked(count * size);
        if (_entries.Count > 0)
        {
            var last = _entries[^1];
            if (last.Primitive == primitive && last.Offset + last.Length == offset)
                _entries[^1] = last with { Count = last.Count + count };
            else
                _entries.Add(new TypeEntry(offset, primitive, count));
        }
        else
        {
            _entries.Add(new TypeEntry(offset, primitive, count));
        }
        Size += length;
        TrueLb = Math.Min(TrueLb, offset);
        TrueUb = Math.Max(TrueUb, offset + length);
    }

    /// <summary>Appends a copy of <paramref name="old"/>'s entries displaced by <paramref name="displacement"/> bytes.</summary>
    public void AddCopy(TypeMap old, long displacement)
    {
        foreach (var e in old._entries)
            Add(checked(e.Offset + displacement), e.Primitive, e.Count);
    }

    /// <summary>
    /// Appends <paramref name="count"/> copies of <paramref name="old"/>, copy k at
    /// <paramref name="displacement"/> + k × old extent, and widens lb/ub like MPI (first call sets them).
    /// </summary>
    public void AddBlock(TypeMap old, long displacement, long count, ref bool boundsSet)
    {
        if (count <= 0)
            return;
        long extent = old.Ub - old.Lb;
        if (old._entries.Count == 1 && old._entries[0].Length == extent && extent > 0)
        {
            // Contiguous old type: one run for the whole block.
            var e = old._entries[0];
            Add(checked(e.Offset + displacement), e.Primitive, checked(e.Count * count));
        }
        else
        {
            for (long k = 0; k < count; k++)
                AddCopy(old, checked(displacement + k * extent));
        }
        long first = displacement;
        long lastStart = checked(displacement + (count - 1) * extent);
        long lb = Math.Min(first, lastStart) + old.Lb;
        long ub = Math.Max(first, lastStart) + old.Ub;
        if (!boundsSet)
        {
            Lb = lb;
            Ub = ub;
            boundsSet = true;
        }
        else
        {
            Lb = Math.Min(Lb, lb);
            Ub = Math.Max(Ub, ub);
        }
    }

    /// <summary>Number of primitive elements.</summary>
    public long ElementCount
    {
        get
        {
            long n = 0;
            foreach (var e in _entries)
                n += e.Count;
            return n;
        }
    }
}
