using System.Diagnostics;
using SharpMpi.Bootstrap;
using SharpMpi.Collectives;
using SharpMpi.Engine;
using SharpMpi.Serialization;

namespace SharpMpi;

/// <summary>Threading support (MPI_THREAD_*). SharpMPI always provides <see cref="Multiple"/>.</summary>
public enum ThreadLevel
{
    /// <summary>Only one thread exists.</summary>
    Single,
    /// <summary>Only the main thread makes MPI calls.</summary>
    Funneled,
    /// <summary>One thread at a time makes MPI calls.</summary>
    Serialized,
    /// <summary>Any thread may call MPI at any time.</summary>
    Multiple,
}

/// <summary>
/// One rank's MPI: created by <see cref="Initialize"/> (MPI_Init) and disposed at the end (MPI_Finalize).
/// Holds no static state, so one process can host several ranks (see <see cref="MpiTestHost"/>).
/// </summary>
public sealed partial class MpiEnvironment : IDisposable
{
    /// <summary>Context ids: World uses 0 and 1, Self 2 and 3; derived communicators get pairs from 4 up.</summary>
    internal const int WorldContext = 0;
    internal const int SelfContext = 2;
    internal const int FirstFreeContext = 4;

    private readonly IJobControl _jobControl;
    private readonly IDisposable[] _resources;
    private int _disposed;

    internal MpiEnvironment(ProgressEngine engine, int worldRank, int worldSize, string processorName,
        IJobControl jobControl, params IDisposable[] resources)
    {
        Engine = engine;
        _jobControl = jobControl;
        _resources = resources;
        ProcessorName = processorName;
        var worldRanks = new int[worldSize];
        for (int i = 0; i < worldSize; i++)
            worldRanks[i] = i;
        NodeOfWorldRank = new int[worldSize];
        World = new Communicator(this, worldRanks, worldRank, WorldContext, "World");
        Self = new Communicator(this, [worldRank], 0, SelfContext, "Self");
    }

    internal ProgressEngine Engine { get; }

    /// <summary>
    /// Host of each world rank, as a small integer (equal numbers = same machine). Used by SplitShared and
    /// transport choice. All zeros for in-process and singleton jobs.
    /// </summary>
    internal int[] NodeOfWorldRank { get; set; } = [];

    internal BufferedSendAccounting BufferedSends { get; } = new();

    /// <summary>All ranks of the job (MPI_COMM_WORLD).</summary>
    public Communicator World { get; }

    /// <summary>Just this rank (MPI_COMM_SELF).</summary>
    public Communicator Self { get; }

    /// <summary>This rank in <see cref="World"/>.</summary>
    public int Rank => World.Rank;

    /// <summary>Number of ranks in <see cref="World"/>.</summary>
    public int Size => World.Size;

    /// <summary>Name of the host this rank runs on (MPI_Get_processor_name).</summary>
    public string ProcessorName { get; }

    /// <summary>Thread support provided: always <see cref="ThreadLevel.Multiple"/>.</summary>
    public ThreadLevel ThreadLevel => ThreadLevel.Multiple;

    /// <summary>Serializer of the object family of calls (MemoryPack by default).</summary>
    public IMpiSerializer Serializer { get; set; } = MemoryPackMpiSerializer.Instance;

    /// <summary>Seconds since an arbitrary point in the past, high resolution (MPI_Wtime).</summary>
    public static double WTime() => Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;

    /// <summary>Resolution of <see cref="WTime"/> in seconds (MPI_Wtick).</summary>
    public static double WTick => 1.0 / Stopwatch.Frequency;

    /// <summary>True once the environment is disposed (MPI_Finalized).</summary>
    public bool IsFinalized => Volatile.Read(ref _disposed) != 0;

    /// <summary>
    /// Aborts the whole job (MPI_Abort): every rank is terminated and the launcher exits with
    /// <paramref name="errorCode"/>. In a process started by a launcher this call does not return.
    /// </summary>
    public void Abort(int errorCode = 1, string? message = null)
    {
        message ??= $"MPI_Abort called with error code {errorCode}";
        SharpMpi.Diagnostics.RankDiagnostics.Finish(Engine, "abort");
        _jobControl.Abort(Rank, errorCode, message);
    }

    /// <summary>Limits buffered sends to <paramref name="bytes"/> in flight (MPI_Buffer_attach); without it buffering is automatic.</summary>
    public void AttachBuffer(long bytes) => BufferedSends.Attach(bytes);

    /// <summary>Waits until every buffered message has been delivered, then removes the limit (MPI_Buffer_detach).</summary>
    public long DetachBuffer()
    {
        Engine.WaitUntil(static b => b.IsIdle, BufferedSends);
        return BufferedSends.Detach();
    }

    /// <summary>Context id pairs of new communicators (see <see cref="InternalContextAllocator"/>).</summary>
    internal InternalContextAllocator Contexts { get; } = new(FirstFreeContext);

    /// <summary>Allocates a context id pair agreed by all members of <paramref name="parent"/> (collective on it).</summary>
    internal int AllocateContext(Communicator parent)
    {
        Debug.Assert(!parent.IsInter, "an intercommunicator's contexts are agreed by both groups (Intercommunicator)");
        return Contexts.Allocate((long)parent.P2PContext << 32, v => ContextAgreement.AgreeMax(parent, v));
    }

    /// <summary>
    /// Finalizes (MPI_Finalize): waits for every rank to get here, so no message to or from this rank is
    /// still in flight, then releases transports and shared memory.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        try
        {
            if (Engine.AbortReason is null)
            {
                // Named for the deadlock detector and the trace: a rank waiting here has left its program.
                bool traced = SharpMpi.Diagnostics.CollectiveTrace.IsOn(Engine);
                if (traced)
                    SharpMpi.Diagnostics.CollectiveTrace.Enter(World, "Finalize", 0, isAsync: false);
                DisseminationBarrier.Run(World);
                if (traced)
                    SharpMpi.Diagnostics.CollectiveTrace.Exit();
                SharpMpi.Diagnostics.RankDiagnostics.Finish(Engine, "finalize");
                _jobControl.Finalized();
            }
        }
        finally
        {
            ReleaseSharedCollectives();
            Engine.Dispose();
            foreach (var r in _resources)
                r.Dispose();
            _jobControl.Dispose();
        }
    }
}
