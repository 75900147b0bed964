using System.Globalization;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace SharpMpi.Run.Diagnostics;

/// <summary>
/// Turns the call sites ranks report (module, method token, IL offset) into <c>File.cs:line</c> from the
/// module's portable PDB (embedded, or beside it or where its debug directory says), choosing the line the
/// way a .NET stack trace does: the last visible sequence point at or before the offset. The ranks used to
/// do this themselves, each paying to load the PDB machinery; here it is done once per module per job.
/// </summary>
internal sealed class SourceLines : IDisposable
{
    private readonly Dictionary<string, MetadataReaderProvider?> _modules = new(StringComparer.Ordinal);

    /// <summary>"File.cs:line", or null when the module has no readable PDB or the offset no line.</summary>
    public string? Find(string module, int methodToken, int ilOffset)
    {
        if (!_modules.TryGetValue(module, out var provider))
            _modules[module] = provider = Open(module);
        if (provider is null)
            return null;
        try
        {
            var reader = provider.GetMetadataReader();
            var handle = MetadataTokens.MethodDefinitionHandle(methodToken & 0xFFFFFF);
            var info = reader.GetMethodDebugInformation(handle.ToDebugInformationHandle());
            string? file = null;
            int line = 0;
            foreach (var point in info.GetSequencePoints())
            {
                if (point.Offset > ilOffset)
                    break;
                if (point.IsHidden)
                    continue;
                file = reader.GetString(reader.GetDocument(point.Document).Name);
                line = point.StartLine;
            }
            return file is null ? null : $"{Path.GetFileName(file)}:{line.ToString(CultureInfo.InvariantCulture)}";
        }
        catch (Exception e) when (e is BadImageFormatException or ArgumentException or InvalidOperationException)
        {
            return null;
        }
    }

    private static MetadataReaderProvider? Open(string module)
    {
        try
        {
            using var pe = new PEReader(File.OpenRead(module));
            foreach (var entry in pe.ReadDebugDirectory())
            {
                if (entry.Type == DebugDirectoryEntryType.EmbeddedPortablePdb)
                    return pe.ReadEmbeddedPortablePdbDebugDirectoryData(entry);
            }
            return pe.TryOpenAssociatedPortablePdb(module, path => File.Exists(path) ? File.OpenRead(path) : null, out var provider, out _)
                ? provider
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or BadImageFormatException or InvalidOperationException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        foreach (var provider in _modules.Values)
            provider?.Dispose();
        _modules.Clear();
    }
}
