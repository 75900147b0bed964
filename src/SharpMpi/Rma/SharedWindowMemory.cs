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
            return new SharedWindowMemory((byte*)address, null, null, node.Rank == 0);
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
        FileStream? stream = null;
        try
        {
            if (node.Rank == 0)
            {
                stream = new FileStream(path, new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.ReadWrite,
                    Share = FileShare.ReadWrite,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                });
                stream.SetLength(alloc);
            }
            node.Barrier();
            stream ??= new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
            var file = MemoryMappedFile.CreateFromFile(stream, null, alloc, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
            var view = file.CreateViewAccessor(0, alloc, MemoryMappedFileAccess.ReadWrite);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            node.Barrier();
            if (node.Rank == 0)
                File.Delete(path);
            return new SharedWindowMemory(pointer + view.PointerOffset, file, view, false);
        }
        catch
        {
            stream?.Dispose();
            if (node.Rank == 0)
                File.Delete(path);
            throw;
        }
    }

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
