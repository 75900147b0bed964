using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SharpMpi.Rma;

namespace SharpMpi.Collectives;

/// <summary>
/// Barrier, Broadcast, Reduce and Allreduce of a few KiB on a communicator whose ranks all share this host, done
/// in a block of memory they all map instead of by messages (the idea of Open MPI's coll/sm and MPICH's
/// release/gather collectives). A rank publishes its contribution and an arrival word in its own cache lines
/// and reads the others' directly: a 2-rank barrier costs one cache-line transfer each way at the same time,
/// where a message exchange costs a ring write, a poll, matching and a request on each side.
/// </summary>
/// <remarks>
/// <para>
/// Layout: a header line (whose first int counts the ranks still using a block of native memory, in-process),
/// then for every rank two control lines (one per parity of the call number) of
/// <see cref="LineStride"/> bytes: an 8-byte word holding the call number and a descriptor of the call, and up to
/// <see cref="InlineBytes"/> bytes of data, so a small contribution travels in the same line as the word that
/// announces it. Longer data (up to <see cref="SlotBytes"/>) goes to the rank's slot of that parity.
/// </para>
/// <para>
/// Reuse: a rank writes its parity-b lines and slot at call k only once every rank has posted call k − 1, so
/// every reader of call k − 2 (the last user of parity b) is done with them. Barrier, Allreduce and the root of
/// Reduce see every rank's post of call k anyway, so the check costs nothing after them.
/// </para>
/// <para>
/// The memory is set up by the first eligible call after <see cref="CollectiveTuning.SharedMemoryAfterCalls"/>
/// of them (a communicator used for one collective never pays for a shared file), with messages in that call's
/// tag block. Eligibility is computed from facts every rank agrees on (rank count, whether every peer is on
/// this host, the call's byte count), so all ranks switch at the same call.
/// </para>
/// </remarks>
internal sealed unsafe class SharedMemoryCollectives : IDisposable
{
    /// <summary>Largest communicator served (every rank reads every other rank's line in a barrier).</summary>
    public const int MaxRanks = 16;

    /// <summary>Largest contribution of a call (one slot per rank and parity).</summary>
    public const int SlotBytes = 4096;

    private const int LineStride = 128; // two cache lines: the adjacent-line prefetcher pulls pairs
    private const int InlineBytes = 56; // what follows the 8-byte word in its 64-byte line
    private const int HeaderBytes = LineStride;

    private enum Kind { Barrier = 1, Broadcast, Reduce, Allreduce }

    /// <summary>Bytes of a part pulled from one peer at a time in <see cref="ReduceByPulling"/>: stays in cache while it is folded.</summary>
    private const int PullChunkBytes = 64 * 1024;

    // Made once here, not where first needed: a lambda's cached delegate is allocated when first used, which
    // may be long into a run (a rank that never had to wait before).
    private static readonly Func<(SharedMemoryCollectives Self, int K), bool> s_allPosted = static s => s.Self.AllPosted(s.K);
    private static readonly Func<(SharedMemoryCollectives Self, int Root, int K), bool> s_rootPosted = static s => s.Self.Posted(s.Root, s.K);

    private readonly Communicator _comm;
    private readonly int _rank;
    private readonly int _size;
    private readonly int[] _world;
    private int _countdown;
    private bool _eligible;
    private SharedWindowMemory? _memory;
    private byte* _base;
    private bool _canPull; // every rank may read every other rank's memory (agreed at set-up)
    private int _call; // number of the last call begun
    private int _allPosted; // every rank is known to have posted this call number

    private SharedMemoryCollectives(Communicator comm, CollectiveTuning tuning)
    {
        _comm = comm;
        _rank = comm.Rank;
        _size = comm.Size;
        _world = comm.WorldRanks.ToArray();
        _countdown = tuning.SharedMemoryAfterCalls;
        Engine.ProgressEngine.PrepareWait<(SharedMemoryCollectives, int)>();
        Engine.ProgressEngine.PrepareWait<(SharedMemoryCollectives, int, int)>();
        _eligible = tuning.SharedMemoryCollectives && _size >= 2 && _size <= MaxRanks;
        for (int r = 0; r < _size && _eligible; r++)
            _eligible = comm.Engine.CanWake(_world[r]);
    }

    /// <summary>
    /// The shared-memory collectives of <paramref name="c"/>'s communicator for a blocking call (setting them up at
    /// the call that reaches the threshold; every such call counts, whatever its size), else null. The caller
    /// decides by size which of them serves the call. <paramref name="forced"/>: the algorithm was chosen
    /// explicitly, so no threshold applies.
    /// </summary>
    public static SharedMemoryCollectives? For(CollectiveCall c, bool forced)
    {
        if (c.IsAsync)
            return null;
        var s = c.Comm.SharedCollectives;
        if (s is null)
        {
            if (!c.Tuning.SharedMemoryCollectives)
                return null;
            c.Comm.SharedCollectives = s = new SharedMemoryCollectives(c.Comm, c.Tuning);
        }
        if (s._base != null)
            return s;
        if (!s._eligible || (--s._countdown > 0 && !forced))
            return null;
        s.SetUp(c);
        return s._base != null ? s : null;
    }

    /// <summary>Serves a call of <paramref name="bytes"/> through the slots (<see cref="Allreduce"/>, <see cref="Reduce"/>, <see cref="Broadcast"/>).</summary>
    public static bool FitsSlot(long bytes) => bytes <= SlotBytes;

    /// <summary>
    /// Serves a reduction of <paramref name="bytes"/> by reading the other ranks' buffers directly
    /// (<see cref="ReduceByPulling"/>): every rank may read every other's memory, and the call is long enough.
    /// </summary>
    public bool PullsReduction(long bytes, CollectiveTuning tuning) =>
        _canPull && bytes > SlotBytes && bytes >= (_size == 2 ? tuning.SharedMemoryPullBytesTwoRanks : tuning.SharedMemoryPullBytes);

    /// <summary>The shared block is mapped and the collectives use it.</summary>
    public bool IsSetUp => _base != null;

    // ================================================================== the collectives

    public void Barrier()
    {
        int k = Begin();
        int desc = Describe(Kind.Barrier, 0, 0);
        Post(k, desc);
        WaitForAll(k, desc);
    }

    /// <summary>
    /// Reduce to <paramref name="root"/>, or Allreduce when <paramref name="root"/> is −1, when this object serves
    /// a call of that length (through the slots, or by pulling); false when the caller must use messages.
    /// </summary>
    public bool TryReduce(Buf send, Buf receive, Reducer op, int root, CollectiveTuning tuning)
    {
        if (FitsSlot(send.Length))
        {
            if (root < 0)
                Allreduce(send, receive, op);
            else
                Reduce(send, receive, op, root);
            return true;
        }
        if (!PullsReduction(send.Length, tuning))
            return false;
        ReduceByPulling(send, receive, op, root);
        return true;
    }

    /// <summary>Allreduce of <paramref name="send"/> into <paramref name="receive"/> (may be the same buffer): x0 ∘ x1 ∘ … in rank order on every rank.</summary>
    public void Allreduce(Buf send, Buf receive, Reducer op)
    {
        int k = Begin();
        int desc = Describe(Kind.Allreduce, 0, send.Length);
        send.CopyTo(Data(_rank, k, send.Length));
        Post(k, desc);
        WaitForAll(k, desc);
        Fold(k, receive.Slice(0, send.Length), op);
    }

    /// <summary>Reduce of <paramref name="send"/> into <paramref name="receive"/> of <paramref name="root"/>, in rank order.</summary>
    public void Reduce(Buf send, Buf receive, Reducer op, int root)
    {
        int k = Begin();
        int desc = Describe(Kind.Reduce, root, send.Length);
        send.CopyTo(Data(_rank, k, send.Length));
        Post(k, desc);
        if (_rank != root)
            return;
        WaitForAll(k, desc);
        Fold(k, receive.Slice(0, send.Length), op);
    }

    public void Broadcast(Buf buffer, int root)
    {
        int k = Begin();
        int desc = Describe(Kind.Broadcast, root, buffer.Length);
        if (_rank == root)
        {
            buffer.CopyTo(Data(_rank, k, buffer.Length));
            Post(k, desc);
            return;
        }
        if (!Posted(root, k))
            _comm.Engine.WaitUntil(s_rootPosted, (Self: this, Root: root, K: k));
        CheckDescriptor(root, k, desc);
        Data(root, k, buffer.Length).CopyTo(buffer);
        // Posting after the copy tells the root (and everyone) that this rank is done with the data.
        Post(k, desc);
    }

    /// <summary>
    /// Reduce (to <paramref name="root"/>) or Allreduce (<paramref name="root"/> &lt; 0) of a long vector with one
    /// copy: every rank folds its p-th of the elements, in rank order, from the other ranks' send buffers, read
    /// directly (process_vm_readv), then the ranks that want the result read the other parts from the ranks that
    /// folded them. Three posts in all, whatever the length: with more ranks than cores every synchronization
    /// is a trip through the scheduler, and the message algorithms take 2(p − 1) of them.
    /// </summary>
    public void ReduceByPulling(Buf send, Buf receive, Reducer op, int root)
    {
        long n = send.Length;
        int size = op.ElementSize;
        var parts = Blocks.Even(_size, n / size, size);
        long lo = parts.Offset(_rank), length = parts.Length(_rank);
        bool wantsAll = root < 0 || _rank == root;
        // Where this rank's folded part goes: its place in the receive buffer, or scratch on a rank that gets no result.
        using var own = wantsAll ? default : TempBuffer.Rent(Math.Max(length, 1));
        var part = wantsAll ? receive.Slice(lo, length) : own.Buf.Slice(0, length);
        bool inPlace = send.Ptr == receive.Ptr && wantsAll;

        int k = Begin();
        int desc = Describe(root < 0 ? Kind.Allreduce : Kind.Reduce, Math.Max(root, 0), n);
        byte* line = Line(_rank, k) + 8;
        *(ulong*)line = (ulong)send.Ptr;
        *(ulong*)(line + 8) = (ulong)part.Ptr;
        Post(k, desc);
        WaitForAll(k, desc);
        Span<ulong> sends = stackalloc ulong[_size];
        Span<ulong> folds = stackalloc ulong[_size];
        for (int r = 0; r < _size; r++)
        {
            sends[r] = *(ulong*)(Line(r, k) + 8);
            folds[r] = *(ulong*)(Line(r, k) + 16);
        }

        var engine = _comm.Engine;
        long chunk = Math.Min(length, PullChunkBytes / size * size);
        using var incoming = TempBuffer.Rent(Math.Max(chunk, 1));
        // In place, this rank's own elements are the destination: fold into scratch, then copy over them.
        using var folded = inPlace ? TempBuffer.Rent(Math.Max(chunk, 1)) : default;
        for (long off = 0; off < length; off += chunk)
        {
            long m = Math.Min(chunk, length - off);
            var acc = inPlace ? folded.Buf.Slice(0, m) : part.Slice(off, m);
            // The left operand so far: rank 0's elements where they are (its own send buffer, or pulled straight
            // into acc), then acc. No copy of the first operand.
            Buf left = default;
            for (int r = 0; r < _size; r++)
            {
                Buf x;
                if (r == _rank)
                {
                    x = send.Slice(lo + off, m);
                }
                else
                {
                    x = r == 0 ? acc : incoming.Buf.Slice(0, m);
                    engine.PullFrom(_world[r], sends[r] + (ulong)(lo + off), (byte*)x.Ptr, m);
                }
                if (r == 0)
                {
                    left = x;
                }
                else
                {
                    op.Apply(left, x, acc);
                    left = acc;
                }
            }
            if (inPlace)
                acc.CopyTo(part.Slice(off, m));
        }

        // Every part is folded: the ranks that want the result read the others' parts.
        k = Begin();
        Post(k, desc);
        WaitForAll(k, desc);
        if (wantsAll)
        {
            for (int r = 0; r < _size; r++)
            {
                if (r != _rank && parts.Length(r) > 0)
                    engine.PullFrom(_world[r], folds[r], (byte*)receive.Ptr + parts.Offset(r), parts.Length(r));
            }
        }
        // Nobody reads this rank's buffers once all have posted again: the caller may reuse them.
        k = Begin();
        Post(k, desc);
        WaitForAll(k, desc);
    }

    // ================================================================== the protocol

    /// <summary>Starts call number k: waits until every rank has posted k − 1, so this rank may overwrite its parity-k lines.</summary>
    private int Begin()
    {
        int k = ++_call;
        if (_allPosted != k - 1)
        {
            if (!AllPosted(k - 1))
                _comm.Engine.WaitUntil(s_allPosted, (Self: this, K: k - 1));
            _allPosted = k - 1;
        }
        return k;
    }

    /// <summary>Publishes this rank's arrival at call <paramref name="k"/> (after its data) and wakes peers that sleep on it.</summary>
    private void Post(int k, int desc)
    {
        Volatile.Write(ref Word(_rank, k), (ulong)(uint)desc << 32 | (uint)k);
        var engine = _comm.Engine;
        for (int r = 0; r < _size; r++)
        {
            if (r != _rank)
                engine.Wake(_world[r]);
        }
    }

    private void WaitForAll(int k, int desc)
    {
        if (!AllPosted(k))
            _comm.Engine.WaitUntil(s_allPosted, (Self: this, K: k));
        _allPosted = k;
        for (int r = 0; r < _size; r++)
            CheckDescriptor(r, k, desc);
    }

    /// <summary>receive = x0 ∘ x1 ∘ … ∘ x(p−1), from the ranks' data of call <paramref name="k"/>.</summary>
    private void Fold(int k, Buf receive, Reducer op)
    {
        long n = receive.Length;
        op.Apply(Data(0, k, n), Data(1, k, n), receive);
        for (int r = 2; r < _size; r++)
            op.Apply(receive, Data(r, k, n), receive);
    }

    /// <summary>Rank <paramref name="rank"/> has posted call <paramref name="k"/> or a later one (call numbers wrap).</summary>
    private bool Posted(int rank, int k) => (int)((uint)Volatile.Read(ref Word(rank, k)) - (uint)k) >= 0;

    private bool AllPosted(int k)
    {
        for (int r = 0; r < _size; r++)
        {
            if (!Posted(r, k))
                return false;
        }
        return true;
    }

    private ref ulong Word(int rank, int k) => ref *(ulong*)Line(rank, k);

    private byte* Line(int rank, int k) => _base + HeaderBytes + (rank * 2 + (k & 1)) * LineStride;

    private Buf Data(int rank, int k, long length) => length <= InlineBytes
        ? new Buf(Line(rank, k) + 8, length)
        : new Buf(_base + HeaderBytes + _size * 2 * LineStride + (rank * 2 + (k & 1)) * (long)SlotBytes, length);

    private static long AreaBytes(int size) => HeaderBytes + size * 2L * (LineStride + SlotBytes);

    // ================================================================== mismatch detection

    // kind (4 bits) | root (8 bits) | bytes (20 bits): exact below 1 MiB, longer calls all read as 1 MiB − 1.
    private const int DescribedBytes = (1 << 20) - 1;

    private static int Describe(Kind kind, int root, long bytes) => (int)kind | root << 4 | (int)Math.Min(bytes, DescribedBytes) << 12;

    /// <summary>
    /// Rank <paramref name="rank"/>'s post of call <paramref name="k"/> must describe the same call as ours. If
    /// it has moved on already its word is of a later call, which cannot be checked (and it passed its own check).
    /// </summary>
    private void CheckDescriptor(int rank, int k, int desc)
    {
        ulong word = Volatile.Read(ref Word(rank, k));
        if ((int)(uint)word != k || (int)(word >> 32) == desc)
            return;
        throw new MpiException(ErrorClass.Other,
            $"Collective mismatch on {_comm.Name}: rank {_rank} is in {Name(desc)} but rank {rank} is in {Name((int)(word >> 32))} (collective call #{k} on shared memory).");
    }

    private static string Name(int desc)
    {
        var kind = (Kind)(desc & 0xF);
        int root = (desc >> 4) & 0xFF;
        int bytes = (int)((uint)desc >> 12);
        string length = bytes == DescribedBytes ? "1 MiB or more" : $"{bytes} B";
        return kind switch
        {
            Kind.Barrier => "Barrier",
            Kind.Allreduce => $"Allreduce of {length}",
            _ => $"{kind} of {length} with root {root}",
        };
    }

    // ================================================================== set-up and release

    /// <summary>
    /// Collective: rank 0 makes the block (native memory when every rank is in this process, else a file in
    /// /dev/shm that is unlinked once all have mapped it) and tells the others where it is; every rank reports
    /// whether it could map it, and rank 0 tells all whether to use it. A failure anywhere leaves every rank on
    /// the message algorithms, never some on each.
    /// </summary>
    private void SetUp(CollectiveCall c)
    {
        _eligible = false; // one attempt, whatever happens
        long bytes = AreaBytes(_size);
        Span<byte> where = stackalloc byte[128]; // [0..8) native address or 0, [8..128) file path (ASCII, zero-padded)
        Span<byte> flag = stackalloc byte[8];
        fixed (byte* w = where)
        fixed (byte* f = flag)
        {
            var whereBuf = new Buf(w, where.Length);
            var flagBuf = new Buf(f, flag.Length);
            string? path = null;
            if (_rank == 0)
            {
                bool oneProcess = true;
                for (int r = 1; r < _size; r++)
                {
                    c.ReceiveNow(flagBuf, r, 3);
                    oneProcess &= MemoryMarshal.Read<int>(flag) == Environment.ProcessId;
                }
                where.Clear();
                try
                {
                    if (oneProcess)
                    {
                        var p = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
                        NativeMemory.Clear(p, (nuint)bytes);
                        *(int*)p = _size; // users of the native block: the last to let go frees it
                        MemoryMarshal.Write(where, (ulong)p);
                    }
                    else if (!OperatingSystem.IsWindows())
                    {
                        path = FilePath();
                        SharedWindowMemory.CreateFile(path, bytes).Dispose();
                        System.Text.Encoding.ASCII.GetBytes(path, where[8..]);
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    path = null; // no shared file: every rank stays on messages
                    where.Clear();
                }
                for (int r = 1; r < _size; r++)
                    c.SendNow(whereBuf, r, 4);
            }
            else
            {
                MemoryMarshal.Write(flag, Environment.ProcessId);
                c.SendNow(flagBuf, 0, 3);
                c.ReceiveNow(whereBuf, 0, 4);
            }

            bool ok = Attach(where, bytes);
            bool pull = CanPullFromAll();
            if (_rank == 0)
            {
                for (int r = 1; r < _size; r++)
                {
                    c.ReceiveNow(flagBuf, r, 5);
                    ok &= flag[0] != 0;
                    pull &= flag[1] != 0;
                }
                if (path is not null)
                    File.Delete(path);
                flag[0] = ok ? (byte)1 : (byte)0;
                flag[1] = pull ? (byte)1 : (byte)0;
                for (int r = 1; r < _size; r++)
                    c.SendNow(flagBuf, r, 6);
            }
            else
            {
                flag[0] = ok ? (byte)1 : (byte)0;
                flag[1] = pull ? (byte)1 : (byte)0;
                c.SendNow(flagBuf, 0, 5);
                c.ReceiveNow(flagBuf, 0, 6);
                ok = flag[0] != 0;
                pull = flag[1] != 0;
            }
            _canPull = ok && pull;
            if (ok)
            {
                _base = _memory!.Pointer;
                _comm.Environment.TrackSharedCollectives(this);
            }
            else
            {
                _memory?.Dispose();
                _memory = null;
            }
        }
    }

    private bool CanPullFromAll()
    {
        for (int r = 0; r < _size; r++)
        {
            if (r != _rank && !_comm.Engine.CanPullFrom(_world[r]))
                return false;
        }
        return true;
    }

    private string FilePath()
    {
        string job = Environment.GetEnvironmentVariable("SHARPMPI_JOBID") is { Length: > 0 } j
            ? j
            : Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));
        // The collective context is unique among this process's communicators, and two communicators with
        // the same context on different processes are disjoint, so their rank 0s differ.
        return $"/dev/shm/sharpmpi.{job[..Math.Min(job.Length, 32)]}.coll.{_comm.CollectiveContext}.{_world[0]}";
    }

    private bool Attach(ReadOnlySpan<byte> where, long bytes)
    {
        ulong address = MemoryMarshal.Read<ulong>(where);
        if (address != 0)
        {
            _memory = SharedWindowMemory.FromNative((byte*)address, owns: false);
            return true;
        }
        int end = where[8..].IndexOf((byte)0);
        if (end <= 0)
            return false;
        try
        {
            _memory = SharedWindowMemory.MapFile(System.Text.Encoding.ASCII.GetString(where.Slice(8, end)), bytes);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Unmaps the block; the last rank of this process to let go of a native block frees it.</summary>
    public void Dispose()
    {
        if (_base == null)
            return;
        bool native = _memory!.IsNative;
        if (Interlocked.Decrement(ref *(int*)_base) == 0 && native)
            NativeMemory.AlignedFree(_base);
        _memory.Dispose();
        _memory = null;
        _base = null;
    }
}
