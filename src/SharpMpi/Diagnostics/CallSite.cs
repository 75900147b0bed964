using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Reflection;

namespace SharpMpi.Diagnostics;

/// <summary>
/// Where the user's code made a profiled call: the calling method and the IL offset of the call in it.
/// File and line are not looked up here: that needs the program's PDB read through
/// System.Diagnostics.StackTrace (tens of milliseconds of loading and JIT in every rank, the largest part of
/// what <c>--profile</c> cost), so the rank writes the module, method token and offset, and the launcher
/// resolves them once for the job (<c>SourceLines</c> in SharpMpi.Run).
/// </summary>
internal sealed class CallSite
{
    private CallSite(string where, int ilOffset, string? module, int methodToken)
    {
        Where = where;
        ILOffset = ilOffset;
        Module = module;
        MethodToken = methodToken;
    }

    /// <summary>"Type.Method" of the caller.</summary>
    public string Where { get; }

    /// <summary>IL offset of the call in the caller.</summary>
    public int ILOffset { get; }

    /// <summary>Path of the caller's module file, or null when it was not loaded from a file.</summary>
    public string? Module { get; }

    /// <summary>Metadata token of the caller's method.</summary>
    public int MethodToken { get; }

    /// <summary>Native code offset of the call, for sites without an IL offset (NativeAOT); -1 otherwise.</summary>
    public int NativeOffset { get; private init; } = -1;

    /// <summary>How the site is shown when its line cannot be found: <c>Type.Method+IL_001a</c> (or <c>+0x1a</c>, native).</summary>
    public string Fallback => NativeOffset >= 0
        ? $"{Where}+0x{NativeOffset.ToString("x", CultureInfo.InvariantCulture)}"
        : $"{Where}+IL_{ILOffset.ToString("x4", CultureInfo.InvariantCulture)}";

    /// <summary>The site of a call made by <paramref name="method"/> at <paramref name="ilOffset"/>.</summary>
    [UnconditionalSuppressMessage("SingleFile", "IL3002", Justification = "A single-file app's module has no path; the check below drops it and the site keeps its fallback name")]
    public static CallSite Of(MethodBase method, int ilOffset)
    {
        string? module = method.Module.FullyQualifiedName;
        // Modules loaded from bytes report a placeholder such as "<Unknown>" instead of a path.
        if (!Path.IsPathRooted(module))
            module = null;
        return new CallSite($"{method.DeclaringType?.Name}.{method.Name}", ilOffset, module, method.MetadataToken);
    }

    /// <summary>A site known only by name and native offset (no reflection metadata, as in NativeAOT apps).</summary>
    public static CallSite Unresolved(string where, int nativeOffset) =>
        new(where, -1, null, 0) { NativeOffset = nativeOffset };
}
