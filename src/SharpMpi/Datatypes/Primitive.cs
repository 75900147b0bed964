using System.Numerics;

namespace SharpMpi.Datatypes;

/// <summary>The primitive element types a type signature is made of.</summary>
internal enum Primitive : byte
{
    Byte,
    SByte,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    Single,
    Double,
    Half,
    Char,
    Boolean,
    IntPtr,
    UIntPtr,
    Decimal,
    Int128,
    UInt128,
}

/// <summary>Sizes and recognition of <see cref="Primitive"/> element types.</summary>
internal static class Primitives
{
    private static readonly int[] s_sizes = [1, 1, 2, 2, 4, 4, 8, 8, 4, 8, 2, 2, 1, 8, 8, 16, 16, 16];

    public static int SizeOf(Primitive p) => s_sizes[(int)p];

    /// <summary>The primitive for <paramref name="type"/> (enums by their underlying type), or null for a struct.</summary>
    public static Primitive? Of(Type type)
    {
        if (type.IsEnum)
            type = Enum.GetUnderlyingType(type);
        if (type == typeof(byte)) return Primitive.Byte;
        if (type == typeof(sbyte)) return Primitive.SByte;
        if (type == typeof(short)) return Primitive.Int16;
        if (type == typeof(ushort)) return Primitive.UInt16;
        if (type == typeof(int)) return Primitive.Int32;
        if (type == typeof(uint)) return Primitive.UInt32;
        if (type == typeof(long)) return Primitive.Int64;
        if (type == typeof(ulong)) return Primitive.UInt64;
        if (type == typeof(float)) return Primitive.Single;
        if (type == typeof(double)) return Primitive.Double;
        if (type == typeof(Half)) return Primitive.Half;
        if (type == typeof(char)) return Primitive.Char;
        if (type == typeof(bool)) return Primitive.Boolean;
        if (type == typeof(nint)) return Primitive.IntPtr;
        if (type == typeof(nuint)) return Primitive.UIntPtr;
        if (type == typeof(decimal)) return Primitive.Decimal;
        if (type == typeof(Int128)) return Primitive.Int128;
        if (type == typeof(UInt128)) return Primitive.UInt128;
        return null;
    }

    /// <summary>A boxed value of <paramref name="type"/> (a primitive) whose bytes are all nonzero, used to find field offsets.</summary>
    public static object Probe(Type type)
    {
        if (type.IsEnum)
            return Enum.ToObject(type, Probe(Enum.GetUnderlyingType(type)) switch
            {
                byte b => (ulong)b,
                sbyte s => (ulong)(byte)s,
                short s => (ulong)(ushort)s,
                ushort u => u,
                int i => (ulong)(uint)i,
                uint u => u,
                long l => (ulong)l,
                ulong u => u,
                var o => throw new NotSupportedException(o.GetType().Name),
            });
        return Of(type) switch
        {
            Primitive.Byte => (byte)0xFF,
            Primitive.SByte => (sbyte)-1,
            Primitive.Int16 => (short)-1,
            Primitive.UInt16 => ushort.MaxValue,
            Primitive.Int32 => -1,
            Primitive.UInt32 => uint.MaxValue,
            Primitive.Int64 => -1L,
            Primitive.UInt64 => ulong.MaxValue,
            Primitive.Single => BitConverter.Int32BitsToSingle(-1),
            Primitive.Double => BitConverter.Int64BitsToDouble(-1),
            Primitive.Half => BitConverter.Int16BitsToHalf(-1),
            Primitive.Char => '\uFFFF',
            Primitive.Boolean => true,
            Primitive.IntPtr => (nint)(-1),
            Primitive.UIntPtr => nuint.MaxValue,
            Primitive.Decimal => decimal.MinValue,
            Primitive.Int128 => Int128.NegativeOne,
            Primitive.UInt128 => UInt128.MaxValue,
            _ => throw new NotSupportedException(type.Name),
        };
    }

    /// <summary>True for <see cref="Complex"/> and other types the layout probe treats as a struct of fields.</summary>
    public static bool IsStruct(Type type) => Of(type) is null && type.IsValueType;
}
