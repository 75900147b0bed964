using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace SharpMpi.Transport.SharedMemory;

/// <summary>
/// One rank's shared-memory segment: a file in /dev/shm, mapped into this process. The owner creates it;
/// every local peer maps it too, because the rings the peers send on live in the receiver's segment.
/// </summary>
/// <remarks>
/// Layout (all offsets from the start of the file; everything in shared memory is an offset or a value,
/// never a pointer, except <see cref="SegmentHeader.OwnerAddress"/>, which only the single-copy probe uses):
/// <code>
///      0  header (128 B): magic, version, owner pid and world rank, ring count and capacity,
///         hash of the local rank list, owner's mapping address, probe nonce, segment length
///    128  doorbell sequence word (own 128-byte region)
///    256  doorbell sleeping word (own 128-byte region)
///    384  split-copy slots (64 × 128 B, see SplitCopySlots), written by this rank and its senders
///   8576  ring 0: tail (128 B) | head (128 B) | data (capacity)
///         ring 1 ...   one ring per local peer, in the order of their world ranks
/// </code>
/// Ring capacities are powers of two ≥ 4096, so every ring starts 128-byte aligned.
/// </remarks>
internal sealed unsafe class SharedSegment : IDisposable
{
    /// <summary>Directory of the segment files.</summary>
    public const string Directory = "/dev/shm";

    /// <summary>"SHMPISEG" read as a little-endian 64-bit word.</summary>
    public const ulong Magic = 0x4745_5349_504D_4853;

    /// <summary>Layout version; bump on any change to the segment or ring layout.</summary>
    public const int Version = 2;

    /// <summary>Offset of the doorbell sequence word.</summary>
    public const int DoorbellSequenceOffset = 128;

    /// <summary>Offset of the doorbell sleeping word.</summary>
    public const int DoorbellSleepingOffset = 256;

    /// <summary>Offset of the split-copy slots.</summary>
    public const int SplitCopyOffset = 384;

    /// <summary>Offset of the first ring.</summary>
    public const int RingsOffset = SplitCopyOffset + SplitCopySlots.AreaSize;

    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private byte* _base;
    private bool _linked;

    private SharedSegment(string path, MemoryMappedFile file, MemoryMappedViewAccessor view, long length, bool linked)
    {
        Path = path;
        _file = file;
        _view = view;
        Length = length;
        _linked = linked;
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _base = pointer + view.PointerOffset;
    }

    /// <summary>The segment's file.</summary>
    public string Path { get; }

    /// <summary>Bytes mapped.</summary>
    public long Length { get; }

    /// <summary>Start of the mapping in this process.</summary>
    public byte* Base => _base;

    /// <summary>The header at the start of the segment.</summary>
    public SegmentHeader* Header => (SegmentHeader*)_base;

    /// <summary>The doorbell's sequence word.</summary>
    public int* DoorbellSequence => (int*)(_base + DoorbellSequenceOffset);

    /// <summary>The doorbell's sleeping word.</summary>
    public int* DoorbellSleeping => (int*)(_base + DoorbellSleepingOffset);

    /// <summary>The split-copy slot area.</summary>
    public byte* SplitCopyArea => _base + SplitCopyOffset;

    /// <summary>File name of world rank <paramref name="worldRank"/>'s segment in job <paramref name="jobId"/>.</summary>
    public static string PathFor(string jobId, int worldRank) => $"{Directory}/sharpmpi.{jobId}.{worldRank}";

    /// <summary>Bytes of a segment holding <paramref name="ringCount"/> rings of <paramref name="ringCapacity"/> bytes.</summary>
    public static long SizeFor(int ringCount, int ringCapacity) => RingsOffset + ringCount * SpscRing.Footprint(ringCapacity);

    /// <summary>The memory of ring <paramref name="index"/> (its tail word).</summary>
    public byte* Ring(int index)
    {
        SegmentHeader* header = Header;
        return _base + RingsOffset + index * SpscRing.Footprint(header->RingCapacity);
    }

    /// <summary>
    /// Creates the file (mode 0600; fails if it exists), maps it and writes the header, magic last.
    /// </summary>
    /// <exception cref="IOException">The file exists already or cannot be created.</exception>
    public static SharedSegment Create(string path, int ownerWorldRank, int ringCount, int ringCapacity, ulong localRanksHash)
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("shared-memory segments need Linux (/dev/shm).");
        long length = SizeFor(ringCount, ringCapacity);
        FileStream stream;
        try
        {
            stream = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.ReadWrite,
                Share = FileShare.ReadWrite,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
        }
        catch (IOException e) when (File.Exists(path))
        {
            throw new IOException($"shared-memory segment {path} exists already: another job uses this job id, or a crashed job left it behind (delete it).", e);
        }

        SharedSegment? segment = null;
        try
        {
            stream.SetLength(length);
            segment = Map(path, stream, length, linked: true);
            SegmentHeader* header = segment.Header;
            header->Version = Version;
            header->Pid = Environment.ProcessId;
            header->OwnerWorldRank = ownerWorldRank;
            header->RingCount = ringCount;
            header->RingCapacity = ringCapacity;
            header->LocalRanksHash = localRanksHash;
            header->OwnerAddress = (ulong)segment._base;
            header->ProbeNonce = (ulong)Random.Shared.NextInt64() | 1;
            header->Length = length;
            Volatile.Write(ref header->Magic, Magic);
            return segment;
        }
        catch
        {
            if (segment is not null)
                segment.Dispose();
            else
                stream.Dispose();
            File.Delete(path);
            throw;
        }
    }

    /// <summary>Maps a peer's segment and checks its header.</summary>
    /// <exception cref="IOException">The file is missing or cannot be mapped.</exception>
    /// <exception cref="InvalidDataException">The file is not a segment of this layout version.</exception>
    public static SharedSegment Open(string path)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        SharedSegment? segment = null;
        try
        {
            long length = stream.Length;
            if (length < RingsOffset)
                throw new InvalidDataException($"shared-memory segment {path} is {length} bytes, shorter than its {RingsOffset}-byte header.");
            segment = Map(path, stream, length, linked: false);
            SegmentHeader* header = segment.Header;
            if (Volatile.Read(ref header->Magic) != Magic)
                throw new InvalidDataException($"{path} is not a SharpMPI shared-memory segment (bad magic 0x{header->Magic:x16}).");
            if (header->Version != Version)
                throw new InvalidDataException($"shared-memory segment {path} has layout version {header->Version}; this SharpMPI uses {Version} (mixed SharpMPI versions in one job?).");
            if (header->Length != length || SizeFor(header->RingCount, header->RingCapacity) != length)
                throw new InvalidDataException($"shared-memory segment {path} is {length} bytes but its header describes {header->Length} ({header->RingCount} rings of {header->RingCapacity} bytes).");
            return segment;
        }
        catch
        {
            if (segment is not null)
                segment.Dispose();
            else
                stream.Dispose();
            throw;
        }
    }

    private static SharedSegment Map(string path, FileStream stream, long length, bool linked)
    {
        MemoryMappedFile? file = null;
        try
        {
            file = MemoryMappedFile.CreateFromFile(stream, null, length, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
            var view = file.CreateViewAccessor(0, length, MemoryMappedFileAccess.ReadWrite);
            return new SharedSegment(path, file, view, length, linked);
        }
        catch
        {
            if (file is not null)
                file.Dispose();
            else
                stream.Dispose();
            throw;
        }
    }

    /// <summary>Removes the file if this process created it and it is still there (failed set-up).</summary>
    private void RemoveOwnFile()
    {
        if (!_linked)
            return;
        _linked = false;
        File.Delete(Path);
    }

    /// <summary>
    /// Removes the file whoever created it (the mappings stay valid). Only safe once every rank has
    /// mapped it, i.e. after the second fence.
    /// </summary>
    public void RemoveFile()
    {
        _linked = false;
        File.Delete(Path);
    }

    /// <summary>Unmaps the segment and removes the file if this process created it and has not removed it yet.</summary>
    public void Dispose()
    {
        if (_base == null)
            return;
        _base = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
        RemoveOwnFile();
    }
}

/// <summary>The first 128 bytes of a <see cref="SharedSegment"/>, written by its owner before the first fence.</summary>
[StructLayout(LayoutKind.Explicit, Size = 128)]
internal struct SegmentHeader
{
    /// <summary>Offset of <see cref="ProbeNonce"/>.</summary>
    public const int ProbeNonceOffset = 48;

    /// <summary><see cref="SharedSegment.Magic"/>, written last.</summary>
    [FieldOffset(0)] public ulong Magic;
    /// <summary><see cref="SharedSegment.Version"/>.</summary>
    [FieldOffset(8)] public int Version;
    /// <summary>Owner's process id (for process_vm_readv and liveness checks).</summary>
    [FieldOffset(12)] public int Pid;
    /// <summary>Owner's world rank.</summary>
    [FieldOffset(16)] public int OwnerWorldRank;
    /// <summary>Rings in the segment (local ranks − 1).</summary>
    [FieldOffset(20)] public int RingCount;
    /// <summary>Data bytes per ring.</summary>
    [FieldOffset(24)] public int RingCapacity;
    /// <summary>Hash of the sorted local world ranks: every rank on the host must agree on the list.</summary>
    [FieldOffset(32)] public ulong LocalRanksHash;
    /// <summary>Where the owner mapped this segment in its own address space (single-copy probe only).</summary>
    [FieldOffset(40)] public ulong OwnerAddress;
    /// <summary>Random non-zero word that peers read with process_vm_readv to check they may pull.</summary>
    [FieldOffset(ProbeNonceOffset)] public ulong ProbeNonce;
    /// <summary>Total bytes of the segment.</summary>
    [FieldOffset(56)] public long Length;
    /// <summary>Set by the owner when it leaves cleanly, so peers do not take its exit for a failure.</summary>
    [FieldOffset(64)] public int Departed;
}
