using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SharpMpi.Engine;
using SharpMpi.Interop;

namespace SharpMpi.Transport.SharedMemory;

/// <summary>
/// Moves frames between ranks on one host through shared memory: per directed pair a single-producer
/// single-consumer ring in the receiver's segment, a futex doorbell per rank, and process_vm_readv for
/// single-copy pulls of large messages, which the sender helps with (process_vm_writev) when it can.
/// </summary>
/// <remarks>
/// Built by <see cref="Create"/>, which maps every local peer's segment between two fences and then
/// removes the segment files from /dev/shm (the mappings stay valid), so a crash after start-up leaves
/// nothing behind. A rank that dies before the second fence leaves its file for the launcher to remove. Like every <see cref="ITransport"/>, calls are serialized by the engine; only
/// <see cref="Doorbell"/> and <see cref="IsPeerAlive"/> may be used from other threads.
/// </remarks>
internal sealed unsafe class SharedMemoryTransport : ITransport, ISplitCopy
{
    /// <summary>Frames taken from one peer's ring per <see cref="Poll"/> (Open MPI uses 31), so one busy peer cannot starve the others.</summary>
    public const int MaxFramesPerPeerPerPoll = 32;

    /// <summary>Largest single process_vm_readv request (the kernel caps one call just below 2 GiB).</summary>
    private const long MaxPullChunk = 1L << 30;

    private readonly SharedSegment _own;
    private readonly SharedSegment[] _peerSegments;
    private readonly int[] _peerRanks;
    private readonly int[] _slotOfRank;
    private readonly SpscRing[] _inbound;
    private readonly Peer[] _peers;
    private readonly SplitCopySlots _splitSlots;
    private bool _disposed;

    private SharedMemoryTransport(SharedMemoryOptions options, int worldRank, SharedSegment own, SharedSegment[] peerSegments, int[] peerRanks)
    {
        Options = options;
        WorldRank = worldRank;
        _own = own;
        _peerSegments = peerSegments;
        _peerRanks = peerRanks;
        MaxFramePayload = SpscRing.MaxPayload(options.RingCapacity);
        Doorbell = new Doorbell(own.DoorbellSequence, own.DoorbellSleeping);
        _splitSlots = new SplitCopySlots(own.SplitCopyArea);

        int maxRank = worldRank;
        foreach (int rank in peerRanks)
            maxRank = Math.Max(maxRank, rank);
        _slotOfRank = new int[maxRank + 1];
        _slotOfRank.AsSpan().Fill(-1);

        _inbound = new SpscRing[peerRanks.Length];
        _peers = new Peer[peerRanks.Length];
        for (int slot = 0; slot < peerRanks.Length; slot++)
        {
            _slotOfRank[peerRanks[slot]] = slot;
            SharedSegment peer = peerSegments[slot];
            // The peer's ring for us sits at our slot in its list (its peers exclude itself, as ours do).
            int ourSlotThere = RingSlot(worldRank, peerRanks[slot], peerRanks);
            _inbound[slot] = new SpscRing(own.Ring(slot), options.RingCapacity);
            _peers[slot] = new Peer
            {
                Outbound = new SpscRing(peer.Ring(ourSlotThere), options.RingCapacity),
                DoorbellSequence = peer.DoorbellSequence,
                DoorbellSleeping = peer.DoorbellSleeping,
                SplitCopyArea = peer.SplitCopyArea,
                Pid = peer.Header->Pid,
            };
        }
    }

    /// <summary>What the transport was built with.</summary>
    public SharedMemoryOptions Options { get; }

    /// <summary>This rank's world rank.</summary>
    public int WorldRank { get; }

    /// <summary>World ranks of the local peers this transport serves (sorted, without this rank).</summary>
    public ReadOnlySpan<int> Peers => _peerRanks;

    /// <inheritdoc/>
    public string Name => "shm";

    /// <inheritdoc/>
    /// <remarks>Half the ring minus the frame header (32 720 bytes for the default 64 KiB ring).</remarks>
    public int MaxFramePayload { get; }

    /// <inheritdoc/>
    public int EagerLimit => Options.EagerLimit;

    /// <summary>
    /// The doorbell in this rank's own segment: the engine sleeps on it, local peers ring it after each
    /// frame they publish, and in-process producers (other transports' threads) may ring it too.
    /// </summary>
    public Doorbell Doorbell { get; }

    /// <summary>True while a thread of this rank sleeps on <see cref="Doorbell"/> (diagnostics and tests).</summary>
    internal bool IsSleeping => Volatile.Read(ref *_own.DoorbellSleeping) != 0;

    /// <inheritdoc/>
    public bool MayHaveInput => HasPendingInput;

    /// <inheritdoc/>
    public bool HasPendingInput
    {
        get
        {
            SpscRing[] inbound = _inbound;
            for (int i = 0; i < inbound.Length; i++)
            {
                if (inbound[i].HasInput)
                    return true;
            }

            return false;
        }
    }

    /// <summary>
    /// Sets up the transport for world rank <paramref name="worldRank"/> and the other ranks of
    /// <paramref name="localWorldRanks"/>. Every rank of that list must call this with the same job id,
    /// list and ring capacity; <paramref name="fence"/> is called twice and must be a barrier across
    /// exactly those ranks.
    /// </summary>
    /// <param name="options">Ring size, eager limit, single copy; validated here.</param>
    /// <param name="jobId">Job identifier used in the segment file names (letters, digits, '.', '-', '_').</param>
    /// <param name="worldRank">This rank.</param>
    /// <param name="localWorldRanks">Sorted distinct world ranks on this host, including <paramref name="worldRank"/>.</param>
    /// <param name="fence">Barrier across the ranks of <paramref name="localWorldRanks"/>.</param>
    /// <exception cref="ArgumentException">Bad options, job id or rank list.</exception>
    /// <exception cref="PlatformNotSupportedException">Not Linux on x64 or arm64.</exception>
    /// <exception cref="IOException">A segment cannot be created or opened.</exception>
    /// <exception cref="InvalidDataException">A peer's segment does not match this rank's layout, rank list or ring size.</exception>
    /// <remarks>
    /// Steps: create and initialise this rank's segment; fence; map every peer's segment and probe
    /// single copy; fence; remove every segment file of the host (whichever rank gets there first).
    /// On failure everything this call created is unmapped and removed before the exception propagates.
    /// </remarks>
    public static SharedMemoryTransport Create(SharedMemoryOptions options, string jobId, int worldRank, int[] localWorldRanks, Action fence)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(localWorldRanks);
        ArgumentNullException.ThrowIfNull(fence);
        options.Validate();
        ValidateJobId(jobId);
        int mySlot = ValidateLocalRanks(worldRank, localWorldRanks);
        if (!LinuxNative.IsSupported)
            throw new PlatformNotSupportedException("the shared-memory transport needs Linux on x64 or arm64 (futex, /dev/shm).");

        if (options.SingleCopy)
            LinuxNative.AllowPtraceFromAnyProcess();

        int[] peerRanks = new int[localWorldRanks.Length - 1];
        for (int i = 0, j = 0; i < localWorldRanks.Length; i++)
        {
            if (i != mySlot)
                peerRanks[j++] = localWorldRanks[i];
        }

        ulong ranksHash = HashRanks(localWorldRanks);
        var own = SharedSegment.Create(SharedSegment.PathFor(jobId, worldRank), worldRank, peerRanks.Length, options.RingCapacity, ranksHash);
        var peerSegments = new SharedSegment[peerRanks.Length];
        SharedMemoryTransport? transport = null;
        try
        {
            fence();
            for (int slot = 0; slot < peerRanks.Length; slot++)
            {
                var segment = SharedSegment.Open(SharedSegment.PathFor(jobId, peerRanks[slot]));
                peerSegments[slot] = segment;
                CheckPeer(segment, peerRanks[slot], peerRanks.Length, options.RingCapacity, ranksHash);
            }

            transport = new SharedMemoryTransport(options, worldRank, own, peerSegments, peerRanks);
            if (options.SingleCopy)
            {
                for (int slot = 0; slot < peerRanks.Length; slot++)
                    transport._peers[slot].CanPull = ProbePull(peerSegments[slot]);
            }

            fence();

            // Every rank has mapped every segment now. Each removes all the files, not only its own, so
            // the first rank out of the fence leaves nothing behind even if another dies right after it.
            own.RemoveFile();
            foreach (SharedSegment segment in peerSegments)
                segment.RemoveFile();
            return transport;
        }
        catch
        {
            if (transport is not null)
            {
                transport.Dispose();
            }
            else
            {
                foreach (SharedSegment segment in peerSegments)
                    segment?.Dispose();
                own.Dispose();
            }

            throw;
        }
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TrySend(int peer, in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        Debug.Assert(!_disposed);
        Debug.Assert(header.PayloadLength == payload.Length, "header.PayloadLength must equal payload.Length");
        Debug.Assert(peer < _slotOfRank.Length && _slotOfRank[peer] >= 0, "peer is not another rank on this host");
        ref Peer target = ref _peers[_slotOfRank[peer]];
        if (!target.Outbound.TryWrite(header, payload))
            return false;
        Doorbell.Ring(target.DoorbellSequence, target.DoorbellSleeping);
        return true;
    }

    /// <inheritdoc/>
    public bool CanWake => true;

    /// <inheritdoc/>
    public void Wake(int peer)
    {
        ref Peer target = ref _peers[_slotOfRank[peer]];
        Doorbell.Ring(target.DoorbellSequence, target.DoorbellSleeping);
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Takes up to <see cref="MaxFramesPerPeerPerPoll"/> frames from each peer's ring. The payload given to
    /// the sink points into the ring and is released when the sink returns. A frame whose sink call throws
    /// stays in the ring and is delivered again by the next call.
    /// </remarks>
    public int Poll(IFrameSink sink)
    {
        Debug.Assert(!_disposed);
        SpscRing[] inbound = _inbound;
        int[] ranks = _peerRanks;
        int delivered = 0;
        for (int i = 0; i < inbound.Length; i++)
        {
            ref SpscRing ring = ref inbound[i];
            if (ring.HasInput)
                delivered += ring.Drain(sink, ranks[i], MaxFramesPerPeerPerPoll);
        }

        return delivered;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Decided once per peer at start-up: a small process_vm_readv of a word in the peer's segment header.
    /// Always false when <see cref="SharedMemoryOptions.SingleCopy"/> is off.
    /// </remarks>
    public bool CanPull(int peer) => _peers[_slotOfRank[peer]].CanPull;

    /// <inheritdoc/>
    public long PullThreshold => Options.SingleCopyThreshold;

    /// <inheritdoc/>
    /// <exception cref="IOException">process_vm_readv failed (errno in the message), e.g. the peer died or the range is not mapped.</exception>
    public void Pull(int peer, ulong address, Span<byte> destination)
    {
        fixed (byte* pointer = destination)
            Pull(peer, address, pointer, destination.Length);
    }

    /// <summary>
    /// Copies <paramref name="length"/> bytes from <paramref name="address"/> in <paramref name="peer"/>'s
    /// address space to <paramref name="destination"/> in this process; any length, also above 2 GiB.
    /// </summary>
    /// <exception cref="IOException">process_vm_readv failed (errno in the message), e.g. the peer died or the range is not mapped.</exception>
    public void Pull(int peer, ulong address, byte* destination, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        int pid = _peers[_slotOfRank[peer]].Pid;
        long done = 0;
        while (done < length)
        {
            long chunk = Math.Min(length - done, MaxPullChunk);
            long read = LinuxNative.ReadProcessMemory(pid, address + (ulong)done, destination + done, chunk);
            if (read <= 0)
                ThrowPullFailed(peer, pid, address, length, done, read < 0 ? Marshal.GetLastPInvokeError() : 0);
            done += read;
        }
    }

    /// <inheritdoc/>
    public long SplitCopyThreshold => Options.SplitCopyThreshold;

    /// <inheritdoc/>
    public bool TryOpenSplitCopy(int peer, long length, out int slot, out int generation)
    {
        slot = generation = 0;
        return CanPull(peer) && _splitSlots.TryOpen(length, out slot, out generation);
    }

    /// <inheritdoc/>
    /// <remarks>The slot is freed only when every chunk is accounted for; after an exception it stays taken,
    /// because the sender may still be writing a chunk it claimed.</remarks>
    public void PullSplitCopy(int peer, int slot, int generation, ulong source, byte* destination, long length)
    {
        var pull = new PullChunk(this, peer, source, destination);
        SplitCopySlots.CopyChunks(_splitSlots.Area, slot, generation, length, fromFront: true, ref pull);
        if (!_splitSlots.WaitDone(slot, length, this, peer))
            Pull(peer, source, destination, length); // the sender's process_vm_writev failed: copy it all here
        _splitSlots.Close(slot);
    }

    /// <inheritdoc/>
    public void PushSplitCopy(int peer, int slot, int generation, byte* source, ulong destination, long length)
    {
        if ((uint)slot >= SplitCopySlots.Count)
            return;
        ref Peer target = ref _peers[_slotOfRank[peer]];
        if (!target.CanPull)
            return;
        var push = new PushChunk(target.Pid, source, destination);
        SplitCopySlots.CopyChunks(target.SplitCopyArea, slot, generation, length, fromFront: false, ref push);
    }

    /// <summary>The receiver's share of a split copy: process_vm_readv from the sender.</summary>
    private readonly struct PullChunk(SharedMemoryTransport transport, int peer, ulong source, byte* destination) : IChunkCopy
    {
        public bool Copy(long offset, long bytes)
        {
            transport.Pull(peer, source + (ulong)offset, destination + offset, bytes);
            return true;
        }
    }

    /// <summary>The sender's share of a split copy: process_vm_writev into the receiver's buffer.</summary>
    private readonly struct PushChunk(int pid, byte* source, ulong destination) : IChunkCopy
    {
        public bool Copy(long offset, long bytes)
        {
            long done = 0;
            while (done < bytes)
            {
                long written = LinuxNative.WriteProcessMemory(pid, destination + (ulong)(offset + done), source + offset + done, Math.Min(bytes - done, MaxPullChunk));
                if (written <= 0)
                    return false;
                done += written;
            }
            return true;
        }
    }

    /// <inheritdoc/>
    /// <remarks>A peer that left cleanly (finalized) is not a failure.</remarks>
    public bool TryFindFailedPeer(out int peer, out string reason)
    {
        for (int slot = 0; slot < _peerRanks.Length; slot++)
        {
            int rank = _peerRanks[slot];
            if (Volatile.Read(ref _peerSegments[slot].Header->Departed) == 0 && !IsPeerAlive(rank))
            {
                peer = rank;
                reason = $"its process (pid {_peers[_slotOfRank[rank]].Pid}) is gone";
                return true;
            }
        }
        peer = -1;
        reason = "";
        return false;
    }

    /// <summary>
    /// True while <paramref name="peer"/>'s process exists (kill(pid, 0) succeeds or fails only with EPERM).
    /// </summary>
    /// <remarks>Thread-safe. A recycled pid can make a dead peer look alive; use it as a hint for failure detection.</remarks>
    public bool IsPeerAlive(int peer)
    {
        const int EPerm = 1;
        int pid = _peers[_slotOfRank[peer]].Pid;
        return LinuxNative.Kill(pid, 0) == 0 || Marshal.GetLastPInvokeError() == EPerm;
    }

    /// <summary>Unmaps every segment. Frames still in the rings are lost.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;

        _disposed = true;
        Volatile.Write(ref _own.Header->Departed, 1);
        Doorbell.Dispose();
        foreach (SharedSegment segment in _peerSegments)
            segment?.Dispose();
        _own.Dispose();
    }

    /// <summary>
    /// Index of <paramref name="sender"/>'s ring in <paramref name="receiver"/>'s segment: the sender's
    /// position among the receiver's peers (all local ranks but the receiver, ascending).
    /// </summary>
    private static int RingSlot(int sender, int receiver, int[] senderPeers)
    {
        // The local ranks are senderPeers plus the sender; count those below the sender, without the receiver.
        int slot = 0;
        foreach (int rank in senderPeers)
        {
            if (rank < sender && rank != receiver)
                slot++;
        }

        return slot;
    }

    private static bool ProbePull(SharedSegment peer)
    {
        SegmentHeader* header = peer.Header;
        ulong value = 0;
        long read = LinuxNative.ReadProcessMemory(header->Pid, header->OwnerAddress + SegmentHeader.ProbeNonceOffset, (byte*)&value, sizeof(ulong));
        return read == sizeof(ulong) && value == header->ProbeNonce;
    }

    private static void CheckPeer(SharedSegment segment, int rank, int ringCount, int ringCapacity, ulong ranksHash)
    {
        SegmentHeader* header = segment.Header;
        if (header->OwnerWorldRank != rank)
            throw new InvalidDataException($"shared-memory segment {segment.Path} belongs to rank {header->OwnerWorldRank}, expected {rank}.");
        if (header->RingCapacity != ringCapacity)
        {
            throw new InvalidDataException(
                $"rank {rank} uses a {header->RingCapacity}-byte shared-memory ring but this rank uses {ringCapacity}: set {SharedMemoryOptions.RingSizeVariable} alike on every rank.");
        }

        if (header->RingCount != ringCount || header->LocalRanksHash != ranksHash)
            throw new InvalidDataException($"rank {rank} was given a different list of ranks on this host than this rank ({ringCount + 1} ranks).");
    }

    private static void ValidateJobId(string jobId)
    {
        ArgumentException.ThrowIfNullOrEmpty(jobId);
        foreach (char c in jobId)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '-' or '_'))
                throw new ArgumentException($"job id '{jobId}' may contain only ASCII letters, digits, '.', '-' and '_' (it names files in {SharedSegment.Directory}).", nameof(jobId));
        }
    }

    private static int ValidateLocalRanks(int worldRank, int[] localWorldRanks)
    {
        int mySlot = -1;
        for (int i = 0; i < localWorldRanks.Length; i++)
        {
            if (localWorldRanks[i] < 0 || (i > 0 && localWorldRanks[i] <= localWorldRanks[i - 1]))
                throw new ArgumentException("localWorldRanks must be distinct non-negative world ranks in ascending order.", nameof(localWorldRanks));
            if (localWorldRanks[i] == worldRank)
                mySlot = i;
        }

        if (mySlot < 0)
            throw new ArgumentException($"localWorldRanks does not contain this rank ({worldRank}).", nameof(localWorldRanks));
        return mySlot;
    }

    private static ulong HashRanks(int[] ranks)
    {
        ulong hash = 14695981039346656037; // FNV-1a
        foreach (int rank in ranks)
        {
            hash ^= (uint)rank;
            hash *= 1099511628211;
        }

        return hash;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowPullFailed(int peer, int pid, ulong address, long length, long done, int errno)
    {
        string reason = errno == 0 ? "no bytes read" : $"errno {errno}: {Marshal.GetPInvokeErrorMessage(errno)}";
        throw new IOException($"process_vm_readv of {length} bytes at 0x{address:x} from rank {peer} (pid {pid}) failed after {done} bytes ({reason}).", errno);
    }

    /// <summary>What a sender keeps per local peer.</summary>
    private struct Peer
    {
        /// <summary>Producer view of our ring in the peer's segment.</summary>
        public SpscRing Outbound;
        /// <summary>The peer's doorbell words, in its segment.</summary>
        public int* DoorbellSequence;
        /// <summary>See <see cref="DoorbellSequence"/>.</summary>
        public int* DoorbellSleeping;
        /// <summary>The split-copy slots in the peer's segment (it receives, we help).</summary>
        public byte* SplitCopyArea;
        /// <summary>The peer's process id.</summary>
        public int Pid;
        /// <summary>Whether the single-copy probe succeeded.</summary>
        public bool CanPull;
    }
}
