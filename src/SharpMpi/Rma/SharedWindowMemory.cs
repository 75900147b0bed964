using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace SharpMpi.Rma;

/// <summary>
/// The memory of a shared window: one block holding every local rank's part. Ranks of one process (the
/// in-process test host) share plain native memory; ranks of several processes map one file in /dev/shm,
/// <c>sharpmpi.&lt;jobid&gt;.win.&lt;context&gt;</c>, created by the node's rank 0 and unlinked as soon as
/// every rank has mapped it, so nothing is left behind even if a rank dies.
/// </summary>
internal sealed unsafe class SharedWindowMemory : IDisposable
{
    private readonly MemoryMappedFile? _file;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly bool _ownsNative;

    private SharedWindowMemory(byte* pointer, MemoryMappedFile? file, MemoryMappedViewAccessor? view, bool ownsNative)
    {
        Pointer = pointer;
        _file = file;
        _view = view;
        _ownsNative = ownsNative;
    }

    public byte* Pointer { get; private set; }

    /// <summary>Native memory of this process rather than a mapped file.</summary>
    public bool IsNative => _view is null;

    /// <summary>Collective over <paramref name="node"/>: every rank gets the same <paramref name="totalBytes"/> block.</summary>
    public static SharedWindowMemory Create(Communicator node, long totalBytes, int context)
    {
        long alloc = Math.Max(64, totalBytes);
        int pid = Environment.ProcessId;
        var pids = node.Allgather(pid);
        bool oneProcess = Array.TrueForAll(pids, p => p == pid);
        if (oneProcess)
        {
            ulong address = 0;
            if (node.Rank == 0)
            {
                var p = (byte*)NativeMemory.AlignedAlloc((nuint)alloc, 64);
                NativeMemory.Clear(p, (nuint)alloc);
                address = (ulong)p;
            }
            address = node.Broadcast(address, 0);
            return FromNative((byte*)address, node.Rank == 0);
        }

        // Several processes: the job id names the file (random when run without the launcher).
        if (OperatingSystem.IsWindows())
            throw new MpiException(ErrorClass.RmaShared, "Shared windows across processes need /dev/shm.");
        string? job = Environment.GetEnvironmentVariable("SHARPMPI_JOBID");
        Span<byte> id = stackalloc byte[16];
        if (node.Rank == 0)
        {
            var text = string.IsNullOrEmpty(job) ? Convert.ToHexString(RandomNumberGenerator.GetBytes(6)) : job;
            id.Clear();
            System.Text.Encoding.ASCII.GetBytes(text.AsSpan(0, Math.Min(text.Length, 16)), id);
        }
        node.Broadcast(id, 0);
        string name = System.Text.Encoding.ASCII.GetString(id.TrimEnd((byte)0));
        string path = Path.Combine("/dev/shm", $"sharpmpi.{name}.win.{context}");
        bool created = false;
        try
        {
            if (node.Rank == 0)
            {
                CreateFile(path, alloc).Dispose();
                created = true;
            }
            node.Barrier();
            var memory = MapFile(path, alloc);
            node.Barrier();
            if (node.Rank == 0)
                File.Delete(path);
            return memory;
        }
        catch
        {
            if (created)
                File.Delete(path);
            throw;
        }
    }

    /// <summary>Creates the file <paramref name="path"/> (which must not exist) of <paramref name="bytes"/> zeroed bytes, readable by this user only.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    internal static FileStream CreateFile(string path, long bytes)
    {
        var stream = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.ReadWrite,
            Share = FileShare.ReadWrite,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        try
        {
            stream.SetLength(bytes);
            return stream;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Maps the first <paramref name="bytes"/> of the existing file <paramref name="path"/> read-write.</summary>
    internal static SharedWindowMemory MapFile(string path, long bytes)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        MemoryMappedFile? file = null;
        try
        {
            file = MemoryMappedFile.CreateFromFile(stream, null, bytes, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
            var view = file.CreateViewAccessor(0, bytes, MemoryMappedFileAccess.ReadWrite);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            return new SharedWindowMemory(pointer + view.PointerOffset, file, view, false);
        }
        catch
        {
            if (file is null)
                stream.Dispose();
            file?.Dispose();
            throw;
        }
    }

    /// <summary>A block of this process's native memory, freed by <see cref="Dispose"/> when <paramref name="owns"/>.</summary>
    internal static SharedWindowMemory FromNative(byte* pointer, bool owns) => new(pointer, null, null, owns);

    public void Dispose()
    {
        if (Pointer == null)
            return;
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _file!.Dispose();
        }
        else if (_ownsNative)
        {
            NativeMemory.AlignedFree(Pointer);
        }
        Pointer = null;
    }
}
