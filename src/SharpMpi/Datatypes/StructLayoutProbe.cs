using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SharpMpi.Datatypes;

/// <summary>
/// Finds the managed field layout of a blittable struct: every primitive leaf field (nested structs
/// flattened) with its byte offset. Offsets are measured, not computed from layout rules: each leaf is set
/// to a value with nonzero bytes in a zeroed boxed copy and the changed bytes are located, so explicit
/// layouts, Pack, bool and char fields all come out as the runtime really lays them out.
/// </summary>
internal static class StructLayoutProbe
{
    private const BindingFlags InstanceFields = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;

    public static TypeMap Build<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicFields | DynamicallyAccessedMemberTypes.NonPublicFields)] T>()
        where T : unmanaged
    {
        var leaves = new List<(int Offset, Primitive Primitive)>();
        Walk(typeof(T), [], leaves, static (path, leafType) => Measure<T>(path, leafType));
        leaves.Sort((a, b) => a.Offset.CompareTo(b.Offset));
        var map = new TypeMap();
        foreach (var (offset, primitive) in leaves)
            map.Add(offset, primitive, 1);
        map.Lb = 0;
        map.Ub = Unsafe.SizeOf<T>();
        return map;
    }

    [UnconditionalSuppressMessage("Trimming", "IL2070", Justification = "Field types of an unmanaged struct are value types whose fields the caller keeps.")]
    private static void Walk(Type type, FieldInfo[] path, List<(int, Primitive)> leaves, Func<FieldInfo[], Type, int> measure)
    {
        foreach (var f in type.GetFields(InstanceFields))
        {
            var ft = f.FieldType;
            FieldInfo[] p = [.. path, f];
            if (ft.IsPointer || ft.IsFunctionPointer)
            {
                throw new ArgumentException($"{type.Name}.{f.Name} is a pointer; pointers cannot travel between ranks.");
            }
            if (Primitives.Of(ft) is { } prim)
            {
                leaves.Add((measure(p, ft), prim));
            }
            else if (ft.IsValueType && ft.GetCustomAttribute<InlineArrayAttribute>() is { } inline)
            {
                // [InlineArray(n)] struct: one declared field repeated n times.
                var element = ft.GetFields(InstanceFields)[0];
                int first = measure([.. p, element], element.FieldType);
                var elementPrim = Primitives.Of(element.FieldType)
                    ?? throw new NotSupportedException($"Inline arrays of {element.FieldType.Name} are not supported in datatypes.");
                int size = Primitives.SizeOf(elementPrim);
                for (int i = 0; i < inline.Length; i++)
                    leaves.Add((first + i * size, elementPrim));
            }
            else if (ft.IsValueType)
            {
                Walk(ft, p, leaves, measure);
            }
            else
            {
                throw new ArgumentException($"{type.Name}.{f.Name} is not an unmanaged field.");
            }
        }
    }

    private static int Measure<T>(FieldInfo[] path, Type leafType) where T : unmanaged
    {
        object boxed = default(T);
        boxed = SetPath(boxed, path, 0, Primitives.Probe(leafType));
        T value = (T)boxed;
        var bytes = MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value));
        int last = bytes.LastIndexOfAnyExcept((byte)0);
        if (last < 0)
            throw new InvalidOperationException($"Could not locate field {path[^1].Name} of {typeof(T).Name}.");
        int size = Primitives.SizeOf(Primitives.Of(leafType)!.Value);
        return last + 1 - size;
    }

    private static object SetPath(object box, FieldInfo[] path, int index, object leaf)
    {
        var f = path[index];
        if (index == path.Length - 1)
        {
            f.SetValue(box, leaf);
            return box;
        }
        object inner = f.GetValue(box)!;
        inner = SetPath(inner, path, index + 1, leaf);
        f.SetValue(box, inner);
        return box;
    }
}
