using System.Runtime.InteropServices;
using SharpMpi.Collectives;
using SharpMpi.Rma;

namespace SharpMpi;

// Creating windows for one-sided communication (MPI standard chapter 12). Every call is collective.
public partial class Communicator
{
    /// <summary>
    /// Allocates <paramref name="count"/> zeroed elements on this rank and exposes them in a new window
    /// (MPI_Win_allocate). Collective; counts may differ between ranks.
    /// </summary>
    /// <remarks>
    /// When the ranks are processes on one node, the memory is allocated as in
    /// <see cref="AllocateSharedWindow{T}"/> (like Open MPI's osc/sm): Put, Get and the atomics are then direct
    /// accesses by the origin and locks are words in that memory, with no message to the target.
    /// </remarks>
    public unsafe Window<T> AllocateWindow<T>(long count) where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (ProcessesOnOneNode())
            return AllocateSharedWindow<T>(count);
        long bytes = checked(count * sizeof(T));
        var memory = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(64, bytes), 64);
        NativeMemory.Clear(memory, (nuint)Math.Max(64, bytes));
        try
        {
            var core = CreateWindowCore<T>(memory, bytes, dynamic: false);
            return new Window<T>(core, count, (nint)memory);
        }
        catch
        {
            NativeMemory.AlignedFree(memory);
            throw;
        }
    }

    /// <summary>
    /// Exposes <paramref name="memory"/> in a new window (MPI_Win_create); it stays pinned while the window
    /// exists. Collective.
    /// </summary>
    public unsafe Window<T> CreateWindow<T>(Memory<T> memory) where T : unmanaged
    {
        var pin = memory.Pin();
        var core = CreateWindowCore<T>((byte*)pin.Pointer, (long)memory.Length * sizeof(T), dynamic: false);
        core.Attach((byte*)pin.Pointer, 0, pin); // keeps the pin; released when the window is freed
        return new Window<T>(core, memory.Length, 0);
    }

    /// <summary>
    /// Creates a window without memory (MPI_Win_create_dynamic): each rank exposes regions later with
    /// <see cref="Window{T}.Attach"/> and tells the others the returned offsets. Collective.
    /// </summary>
    public unsafe Window<T> CreateDynamicWindow<T>() where T : unmanaged =>
        new(CreateWindowCore<T>(null, 0, dynamic: true), 0, 0);

    /// <summary>
    /// Allocates a window in memory shared by all ranks of this communicator, which must be on one node (make
    /// it with <see cref="SplitShared"/>): rank i's <paramref name="count"/> elements follow rank i-1's, and
    /// every rank can address every part directly (MPI_Win_allocate_shared). Collective.
    /// </summary>
    /// <exception cref="MpiException">With <see cref="ErrorClass.RmaShared"/> when the ranks are on different nodes.</exception>
    public unsafe SharedWindow<T> AllocateSharedWindow<T>(long count) where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        CheckIntracommunicator();
        var nodes = Environment.NodeOfWorldRank;
        if (nodes.Length > 0)
        {
            int node = nodes[WorldRankOf(0)];
            foreach (int w in WorldRanks)
            {
                if (nodes[w] != node)
                    throw new MpiException(ErrorClass.RmaShared, $"Communicator '{Name}' spans several nodes: create shared windows on SplitShared().");
            }
        }
        long bytes = checked(count * sizeof(T));
        var lengths = Allgather(bytes);
        var offsets = new long[Size];
        long total = 64L * (Size + 1); // first: a 64-byte line per rank for its lock words, one for the fence barrier
        for (int r = 0; r < Size; r++)
        {
            offsets[r] = total;
            total = checked(total + (lengths[r] + 63) / 64 * 64);
        }
        int context = Environment.AllocateContext(this);
        var memory = SharedWindowMemory.Create(this, total, context);
        try
        {
            var core = CreateWindowCore<T>(memory.Pointer + offsets[Rank], bytes, dynamic: false, context, lengths, direct: true);
            var bases = new byte*[Size];
            for (int r = 0; r < bases.Length; r++)
                bases[r] = memory.Pointer + offsets[r];
            // Every rank must choose the same fence: the shared barrier only when all can wake all.
            bool wakes = true;
            foreach (int w in WorldRanks)
                wakes &= Engine.CanWake(w);
            wakes = Allreduce(wakes ? 1 : 0, Op.Min) == 1;
            core.EnableDirectAccess(bases, DirectAtomics.KindOf<T>(), (int*)memory.Pointer, (int*)(memory.Pointer + 64L * Size), wakes);
            var elementLengths = Array.ConvertAll(lengths, l => l / sizeof(T));
            return new SharedWindow<T>(core, count, memory, offsets, elementLengths);
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    /// <summary>Collective: true when this communicator's ranks are several processes, all on one node.</summary>
    private bool ProcessesOnOneNode()
    {
        if (Size < 2 || IsInter)
            return false;
        var nodes = Environment.NodeOfWorldRank;
        if (nodes.Length == 0)
            return false;
        int node = nodes[WorldRankOf(0)];
        foreach (int w in WorldRanks)
        {
            if (nodes[w] != node)
                return false;
        }
        // Ranks that are threads of one process (the test host) keep private memory and messages.
        int pid = System.Environment.ProcessId;
        return Array.Exists(Allgather(pid), p => p != pid);
    }

    /// <summary>
    /// The engine side of a new window, registered for its messages. Unless <paramref name="direct"/> (the caller
    /// makes it direct next), the progress thread serves it while it exists.
    /// </summary>
    private unsafe WindowCore CreateWindowCore<T>(byte* memory, long bytes, bool dynamic, int context = -1, long[]? lengths = null, bool direct = false)
        where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        CheckIntracommunicator();
        if (context < 0)
            context = Environment.AllocateContext(this);
        lengths ??= Allgather(bytes);
        var core = new WindowCore(this, context, sizeof(T), BuiltinReducers<T>.Table, memory, bytes, lengths, dynamic);
        Engine.RegisterActiveMessages(context, core);
        // Targets serve passive-target operations on the progress thread while the window exists.
        if (!direct)
            core.ServeInBackground();
        Barrier();
        return core;
    }
}
