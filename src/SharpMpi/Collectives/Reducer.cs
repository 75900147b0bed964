using System.Runtime.CompilerServices;

namespace SharpMpi.Collectives;

/// <summary>
/// A reduction operator on raw element buffers, as the algorithms use it: one virtual call per block, and
/// inside it a loop compiled for the element type and operator (see <see cref="SpanReducer{T, TKernel}"/>).
/// </summary>
internal abstract class Reducer
{
    protected Reducer(int elementSize, bool isCommutative)
    {
        ElementSize = elementSize;
        IsCommutative = isCommutative;
    }

    public int ElementSize { get; }

    public bool IsCommutative { get; }

    /// <summary>
    /// dest[i] = left[i] ∘ right[i] for <paramref name="count"/> elements; <paramref name="dest"/> may be
    /// <paramref name="left"/> or <paramref name="right"/> (the same address), never a partial overlap.
    /// </summary>
    public abstract void Apply(nint left, nint right, nint dest, long count);

    /// <summary>dest = left ∘ right over dest's length.</summary>
    public void Apply(Buf left, Buf right, Buf dest)
    {
        if (dest.Length > 0)
            Apply(left.Ptr, right.Ptr, dest.Ptr, dest.Length / ElementSize);
    }

    /// <summary>
    /// Folds a partner's <paramref name="theirs"/> into <paramref name="mine"/> in rank order: the lower rank's data
    /// on the left, so that non-commutative operators give the rank-ordered result.
    /// </summary>
    public void FoldInRankOrder(Buf theirs, Buf mine, bool theirsIsLower)
    {
        if (theirsIsLower)
            Apply(theirs, mine, mine);
        else
            Apply(mine, theirs, mine);
    }
}

/// <summary>An element-wise loop: d[i] = a[i] ∘ b[i]; d may alias a or b exactly.</summary>
internal interface IElementKernel<T>
{
    static abstract void Apply(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d);
}

/// <summary>A reducer over <typeparamref name="T"/> running <typeparamref name="TKernel"/> (specialized by the JIT).</summary>
internal sealed unsafe class SpanReducer<T, TKernel>(bool isCommutative) : Reducer(sizeof(T), isCommutative)
    where T : unmanaged
    where TKernel : IElementKernel<T>
{
    private const int Chunk = 1 << 24;

    public override void Apply(nint left, nint right, nint dest, long count)
    {
        var a = (T*)left;
        var b = (T*)right;
        var d = (T*)dest;
        while (count > 0)
        {
            int n = (int)Math.Min(count, Chunk);
            TKernel.Apply(new ReadOnlySpan<T>(a, n), new ReadOnlySpan<T>(b, n), new Span<T>(d, n));
            a += n;
            b += n;
            d += n;
            count -= n;
        }
    }
}

/// <summary>A user operator type: <see cref="IReduceOp{T}.Combine"/> called directly in the loop.</summary>
internal readonly struct UserKernel<T, TOp> : IElementKernel<T> where TOp : IReduceOp<T>
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // see Vectorized
    public static void Apply(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d)
    {
        for (int i = 0; i < d.Length; i++)
            d[i] = TOp.Combine(a[i], b[i]);
    }
}

/// <summary>One immutable reducer per (element type, operator type).</summary>
internal static class UserReducer<T, TOp> where T : unmanaged where TOp : IReduceOp<T>
{
    public static readonly Reducer Instance = new SpanReducer<T, UserKernel<T, TOp>>(TOp.IsCommutative);
}

/// <summary>A lambda operator (one delegate call per element).</summary>
internal sealed unsafe class DelegateReducer<T>(Func<T, T, T> combine, bool isCommutative) : Reducer(sizeof(T), isCommutative)
    where T : unmanaged
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // see Vectorized
    public override void Apply(nint left, nint right, nint dest, long count)
    {
        var a = (T*)left;
        var b = (T*)right;
        var d = (T*)dest;
        for (long i = 0; i < count; i++)
            d[i] = combine(a[i], b[i]);
    }
}

/// <summary>Helpers to build user reducers.</summary>
internal static class Reducers
{
    public static Reducer From<T>(Func<T, T, T> combine, bool commutative, [CallerArgumentExpression(nameof(combine))] string? name = null)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(combine, name);
        return new DelegateReducer<T>(combine, commutative);
    }
}
