using System.Numerics;

namespace SharpMpi.Collectives;

/// <summary>
/// The predefined operators for element type <typeparamref name="T"/>, indexed by <see cref="OpKind"/>;
/// null where MPI does not define the combination. Built once per type, immutable afterwards.
/// </summary>
internal static class BuiltinReducers<T> where T : unmanaged
{
    public static readonly Reducer?[] Table = Build();

    private static Reducer?[] Build()
    {
        var t = new Reducer?[Enum.GetValues<OpKind>().Length];
        t[(int)OpKind.Replace] = new SpanReducer<T, ReplaceKernel<T>>(isCommutative: false);
        t[(int)OpKind.NoOp] = new SpanReducer<T, NoOpKernel<T>>(isCommutative: false);
        var x = typeof(T);
        if (x == typeof(sbyte)) Integer<sbyte>(t);
        else if (x == typeof(byte)) Integer<byte>(t);
        else if (x == typeof(short)) Integer<short>(t);
        else if (x == typeof(ushort)) Integer<ushort>(t);
        else if (x == typeof(int)) Integer<int>(t);
        else if (x == typeof(uint)) Integer<uint>(t);
        else if (x == typeof(long)) Integer<long>(t);
        else if (x == typeof(ulong)) Integer<ulong>(t);
        else if (x == typeof(nint)) Integer<nint>(t);
        else if (x == typeof(nuint)) Integer<nuint>(t);
        else if (x == typeof(float)) Number<float>(t);
        else if (x == typeof(double)) Number<double>(t);
        else if (x == typeof(Half)) Number<Half>(t);
        else if (x == typeof(Complex))
        {
            t[(int)OpKind.Sum] = new SpanReducer<Complex, Scalar<Complex, SumOp<Complex>>>(true);
            t[(int)OpKind.Prod] = new SpanReducer<Complex, Scalar<Complex, ProdOp<Complex>>>(true);
        }
        else if (x == typeof(bool))
        {
            t[(int)OpKind.LogicalAnd] = new SpanReducer<bool, Scalar<bool, BoolAndOp>>(true);
            t[(int)OpKind.LogicalOr] = new SpanReducer<bool, Scalar<bool, BoolOrOp>>(true);
            t[(int)OpKind.LogicalXor] = new SpanReducer<bool, Scalar<bool, BoolXorOp>>(true);
        }
        else if (x == typeof(ValueIndex<int>)) Loc<int>(t);
        else if (x == typeof(ValueIndex<long>)) Loc<long>(t);
        else if (x == typeof(ValueIndex<short>)) Loc<short>(t);
        else if (x == typeof(ValueIndex<float>)) Loc<float>(t);
        else if (x == typeof(ValueIndex<double>)) Loc<double>(t);
        else if (x == typeof(ValueIndex<sbyte>)) Loc<sbyte>(t);
        else if (x == typeof(ValueIndex<byte>)) Loc<byte>(t);
        else if (x == typeof(ValueIndex<ushort>)) Loc<ushort>(t);
        else if (x == typeof(ValueIndex<uint>)) Loc<uint>(t);
        else if (x == typeof(ValueIndex<ulong>)) Loc<ulong>(t);
        else if (x == typeof(ValueIndex<Half>)) Loc<Half>(t);
        return t;
    }

    private static void Number<TN>(Reducer?[] t) where TN : unmanaged, INumber<TN>
    {
        t[(int)OpKind.Sum] = new SpanReducer<TN, Vectorized<TN, SumOp<TN>>>(true);
        t[(int)OpKind.Prod] = new SpanReducer<TN, Vectorized<TN, ProdOp<TN>>>(true);
        t[(int)OpKind.Min] = new SpanReducer<TN, Vectorized<TN, MinOp<TN>>>(true);
        t[(int)OpKind.Max] = new SpanReducer<TN, Vectorized<TN, MaxOp<TN>>>(true);
    }

    private static void Integer<TN>(Reducer?[] t) where TN : unmanaged, IBinaryInteger<TN>
    {
        Number<TN>(t);
        t[(int)OpKind.BitwiseAnd] = new SpanReducer<TN, Vectorized<TN, BitAndOp<TN>>>(true);
        t[(int)OpKind.BitwiseOr] = new SpanReducer<TN, Vectorized<TN, BitOrOp<TN>>>(true);
        t[(int)OpKind.BitwiseXor] = new SpanReducer<TN, Vectorized<TN, BitXorOp<TN>>>(true);
        t[(int)OpKind.LogicalAnd] = new SpanReducer<TN, Scalar<TN, LogicalAndOp<TN>>>(true);
        t[(int)OpKind.LogicalOr] = new SpanReducer<TN, Scalar<TN, LogicalOrOp<TN>>>(true);
        t[(int)OpKind.LogicalXor] = new SpanReducer<TN, Scalar<TN, LogicalXorOp<TN>>>(true);
    }

    private static void Loc<TV>(Reducer?[] t) where TV : unmanaged, INumber<TV>
    {
        t[(int)OpKind.MinLoc] = new SpanReducer<ValueIndex<TV>, Scalar<ValueIndex<TV>, MinLocOp<TV>>>(true);
        t[(int)OpKind.MaxLoc] = new SpanReducer<ValueIndex<TV>, Scalar<ValueIndex<TV>, MaxLocOp<TV>>>(true);
    }
}
