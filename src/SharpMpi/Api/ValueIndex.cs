using System.Runtime.InteropServices;

namespace SharpMpi;

/// <summary>
/// A value with the index it belongs to (typically a rank), the element type of <see cref="Op.MinLoc"/> and
/// <see cref="Op.MaxLoc"/> (MPI_DOUBLE_INT and friends). Ties keep the lower index.
/// </summary>
/// <typeparam name="T">A primitive numeric type.</typeparam>
/// <param name="Value">The value compared.</param>
/// <param name="Index">The index reported with the minimum or maximum.</param>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct ValueIndex<T>(T Value, int Index) where T : unmanaged;
