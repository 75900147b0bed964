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
    /// <summary>
    /// What the probe reads of a struct by reflection: its fields. Generic parameters that reach
    /// <see cref="Build{T}"/> carry this annotation, so a trimmed or NativeAOT app keeps the fields' metadata.
    /// </summary>
    public const DynamicallyAccessedMemberTypes Fields = DynamicallyAccessedMemberTypes.PublicFields | DynamicallyAccessedMemberTypes.NonPublicFields;

    private const BindingFlags InstanceFields = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;

    public static TypeMap Build<[DynamicallyAccessedMembers(Fields)] T>()
        where T : unmanaged
    {
        var leaves = new List<(int Offset, Primitive Primitive)>();
        Walk(typeof(T), typeof(T).GetFields(InstanceFields), [], leaves, static (path, leafType) => Measure<T>(path, leafType));
        leaves.Sort((a, b) => a.Offset.CompareTo(b.Offset));
        var map = new TypeMap();
        foreach (var (offset, primitive) in leaves)
            map.Add(offset, primitive, 1);
        map.Lb = 0;
        map.Ub = Unsafe.SizeOf<T>();
        return map;
    }

    // The fields of a struct nested in T cannot be annotated: the trimmer and NativeAOT keep the fields of T (the
    // annotated generic argument) but not, transitively, those of the structs its fields are. A JIT run always has
    // them. Where they were removed, NestedFields throws with the fix rather than describing the struct without
    // them (which would send too few bytes, silently).
    [UnconditionalSuppressMessage("Trimming", "IL2072", Justification = "Nested struct fields are checked by NestedFields; see the comment above.")]
    private static void Walk(Type type, FieldInfo[] fields, FieldInfo[] path, List<(int, Primitive)> leaves, Func<FieldInfo[], Type, int> measure)
    {
        foreach (var f in fields)
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
                var element = NestedFields(ft, type, f)[0];
                int first = measure([.. p, element], element.FieldType);
                var elementPrim = Primitives.Of(element.FieldType)
                    ?? throw new NotSupportedException($"Inline arrays of {element.FieldType.Name} are not supported in datatypes.");
                int size = Primitives.SizeOf(elementPrim);
                for (int i = 0; i < inline.Length; i++)
                    leaves.Add((first + i * size, elementPrim));
            }
            else if (ft.IsValueType)
            {
                Walk(ft, NestedFields(ft, type, f), p, leaves, measure);
            }
            else
            {
                throw new ArgumentException($"{type.Name}.{f.Name} is not an unmanaged field.");
            }
        }
    }

    /// <summary>
    /// The fields of <paramref name="nested"/>, the type of <paramref name="field"/> of <paramref name="owner"/>.
    /// A struct with no fields is one byte long; a longer one that shows none had them removed by trimming.
    /// </summary>
    private static FieldInfo[] NestedFields([DynamicallyAccessedMembers(Fields)] Type nested, Type owner, FieldInfo field)
    {
        var fields = nested.GetFields(InstanceFields);
        if (fields.Length == 0 && RuntimeHelpers.SizeOf(nested.TypeHandle) > 1)
        {
            throw new NotSupportedException(
                $"The fields of {nested.Name} (the type of {owner.Name}.{field.Name}) are not available: this app was trimmed or " +
                "published with NativeAOT, which keeps the fields of the struct a datatype is built from but not those of the structs " +
                $"nested in it. Keep them with [DynamicDependency(DynamicallyAccessedMemberTypes.PublicFields | DynamicallyAccessedMemberTypes.NonPublicFields, typeof({nested.Name}))] " +
                "on the method that builds the datatype.");
        }
        return fields;
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
