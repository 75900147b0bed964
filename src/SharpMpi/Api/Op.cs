using SharpMpi.Collectives;

namespace SharpMpi;

/// <summary>
/// A predefined reduction operator (MPI_SUM, MPI_MAX, …) for <c>Reduce</c>, <c>Allreduce</c>, <c>Scan</c>
/// and the other reductions. Which element types an operator accepts follows MPI: arithmetic and Min/Max on
/// every primitive number (sbyte … ulong, Half, float, double; Sum and Prod also on Complex), logical
/// operators on bool and integers, bitwise operators on integers, MinLoc/MaxLoc on <see cref="ValueIndex{T}"/>,
/// Replace and NoOp on any unmanaged type. Other combinations throw <see cref="ArgumentException"/>.
/// For your own operator implement <see cref="IReduceOp{T}"/> or pass a lambda.
/// </summary>
public sealed class Op
{
    private Op(OpKind kind, string name, bool isCommutative)
    {
        Kind = kind;
        Name = name;
        IsCommutative = isCommutative;
    }

    internal OpKind Kind { get; }

    /// <summary>The operator's name, e.g. "Sum".</summary>
    public string Name { get; }

    /// <summary>True when a ∘ b = b ∘ a (every predefined operator except <see cref="Replace"/> and <see cref="NoOp"/>).</summary>
    public bool IsCommutative { get; }

    /// <summary>Sum (MPI_SUM). Integers wrap around on overflow.</summary>
    public static Op Sum { get; } = new(OpKind.Sum, "Sum", true);

    /// <summary>Product (MPI_PROD).</summary>
    public static Op Prod { get; } = new(OpKind.Prod, "Prod", true);

    /// <summary>Minimum (MPI_MIN).</summary>
    public static Op Min { get; } = new(OpKind.Min, "Min", true);

    /// <summary>Maximum (MPI_MAX).</summary>
    public static Op Max { get; } = new(OpKind.Max, "Max", true);

    /// <summary>Logical and (MPI_LAND): on integers nonzero is true and the result is 1 or 0.</summary>
    public static Op LogicalAnd { get; } = new(OpKind.LogicalAnd, "LogicalAnd", true);

    /// <summary>Logical or (MPI_LOR).</summary>
    public static Op LogicalOr { get; } = new(OpKind.LogicalOr, "LogicalOr", true);

    /// <summary>Logical exclusive or (MPI_LXOR).</summary>
    public static Op LogicalXor { get; } = new(OpKind.LogicalXor, "LogicalXor", true);

    /// <summary>Bitwise and (MPI_BAND), integers only.</summary>
    public static Op BitwiseAnd { get; } = new(OpKind.BitwiseAnd, "BitwiseAnd", true);

    /// <summary>Bitwise or (MPI_BOR), integers only.</summary>
    public static Op BitwiseOr { get; } = new(OpKind.BitwiseOr, "BitwiseOr", true);

    /// <summary>Bitwise exclusive or (MPI_BXOR), integers only.</summary>
    public static Op BitwiseXor { get; } = new(OpKind.BitwiseXor, "BitwiseXor", true);

    /// <summary>Minimum value and its index (MPI_MINLOC) on <see cref="ValueIndex{T}"/>; ties keep the lower index.</summary>
    public static Op MinLoc { get; } = new(OpKind.MinLoc, "MinLoc", true);

    /// <summary>Maximum value and its index (MPI_MAXLOC) on <see cref="ValueIndex{T}"/>; ties keep the lower index.</summary>
    public static Op MaxLoc { get; } = new(OpKind.MaxLoc, "MaxLoc", true);

    /// <summary>a ∘ b = b (MPI_REPLACE): a reduction yields the highest rank's value.</summary>
    public static Op Replace { get; } = new(OpKind.Replace, "Replace", false);

    /// <summary>a ∘ b = a (MPI_NO_OP): a reduction yields the lowest rank's value.</summary>
    public static Op NoOp { get; } = new(OpKind.NoOp, "NoOp", false);

    /// <inheritdoc/>
    public override string ToString() => Name;

    /// <summary>The element-wise implementation for <typeparamref name="T"/>, or an ArgumentException naming <paramref name="paramName"/>.</summary>
    internal Reducer ReducerFor<T>(string paramName) where T : unmanaged =>
        BuiltinReducers<T>.Table[(int)Kind]
        ?? throw new ArgumentException($"Op.{Name} is not defined for elements of type {typeof(T).Name}.", paramName);
}

/// <summary>The predefined operators, in table order.</summary>
internal enum OpKind
{
    Sum,
    Prod,
    Min,
    Max,
    LogicalAnd,
    LogicalOr,
    LogicalXor,
    BitwiseAnd,
    BitwiseOr,
    BitwiseXor,
    MinLoc,
    MaxLoc,
    Replace,
    NoOp,
}
