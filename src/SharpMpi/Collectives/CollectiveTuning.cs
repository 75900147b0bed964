using System.Text;

namespace SharpMpi.Collectives;

/// <summary>Algorithm choices of one collective; <c>Auto</c> lets size and rank count decide.</summary>
internal enum BarrierAlgorithm { Auto, Dissemination, Linear, SharedMemory }

internal enum BroadcastAlgorithm { Auto, Binomial, ScatterRingAllgather, Linear, SharedMemory }

internal enum ReduceAlgorithm { Auto, Binomial, ReduceScatterGather, SharedMemory }

internal enum AllreduceAlgorithm { Auto, RecursiveDoubling, Ring, ReduceBroadcast, Rabenseifner, SharedMemory }

internal enum AllgatherAlgorithm { Auto, RecursiveDoubling, Bruck, Ring }

internal enum AlltoallAlgorithm { Auto, Bruck, Scattered, Pairwise }

internal enum GatherAlgorithm { Auto, Binomial, Linear }

internal enum ScanAlgorithm { Auto, RecursiveDoubling, Linear }

internal enum ReduceScatterAlgorithm { Auto, Ring, ReduceScatterv }

/// <summary>
/// Which algorithm each collective uses, and the switch points of the automatic choice (MPICH's defaults;
/// see docs and mpi-internals §4). Immutable; one per environment (<see cref="MpiEnvironment.CollectiveTuning"/>),
/// read from <c>SHARPMPI_COLL_&lt;OP&gt;=&lt;algorithm&gt;</c> variables at first use, replaceable in-process
/// (tests force each algorithm this way). Forcing an algorithm that cannot serve a call (recursive doubling
/// on a non-power-of-two allgather, ring on a non-commutative reduction, Bruck on alltoallv) falls back to
/// one that can, so a forced setting is always correct.
/// </summary>
internal sealed record CollectiveTuning
{
    public static CollectiveTuning Default { get; } = new();

    public BarrierAlgorithm Barrier { get; init; }
    public BroadcastAlgorithm Broadcast { get; init; }
    public ReduceAlgorithm Reduce { get; init; }
    public AllreduceAlgorithm Allreduce { get; init; }
    public AllgatherAlgorithm Allgather { get; init; }
    public AlltoallAlgorithm Alltoall { get; init; }
    public GatherAlgorithm Gather { get; init; }
    public GatherAlgorithm Scatter { get; init; }
    public ScanAlgorithm Scan { get; init; }
    public ReduceScatterAlgorithm ReduceScatter { get; init; }

    /// <summary>
    /// Barrier: linear (every rank signals rank 0, which then releases them all) from this many ranks up to
    /// <see cref="BarrierLinearMaxRanks"/>, dissemination otherwise — Open MPI's choice for 4–7 ranks. Both take two
    /// message latencies at 4 ranks, but the linear one sends 2(p − 1) messages instead of p⌈lg p⌉ and releases
    /// rank 0 first: a rank 0 that then broadcasts (the usual pattern) has its data on the way before the
    /// others leave the barrier. With more ranks than cores that decides whether they find it there or sit
    /// through a trip through the scheduler (osu_bcast of 1–256 B on 4 ranks and 2 cores: 10–17 µs against
    /// Open MPI's 1.5 µs, measured with dissemination).
    /// </summary>
    public int BarrierLinearMinRanks { get; init; } = 4;

    /// <summary>Largest rank count that uses the linear barrier; see <see cref="BarrierLinearMinRanks"/>.</summary>
    public int BarrierLinearMaxRanks { get; init; } = 7;

    /// <summary>
    /// Broadcast: up to this many ranks, messages up to <see cref="BroadcastLinearMaxBytes"/> go from the root to
    /// every other rank directly (linear). A tree makes the leaves wait for an inner rank to be scheduled,
    /// receive and forward; with more ranks than cores that rank is often descheduled, and each level costs a
    /// trip through the scheduler. Linear needs only the root, and for eager sizes costs it p − 1 copies into
    /// rings. Open MPI on 4 ranks uses a k-nomial tree of radix 4, which is the same.
    /// </summary>
    public int BroadcastLinearMaxRanks { get; init; } = 4;

    /// <summary>
    /// Largest linear broadcast: the shared-memory eager limit (16 KiB). Longer messages go by rendezvous, and
    /// unless the receivers pull them (single copy) the root would stream every copy itself, one after another.
    /// </summary>
    public long BroadcastLinearMaxBytes { get; init; } = 16 * 1024;

    /// <summary>Broadcast: binomial below this many bytes …</summary>
    public long BroadcastShortBytes { get; init; } = 12 * 1024;

    /// <summary>… or below this many ranks; scatter + ring allgather otherwise.</summary>
    public int BroadcastMinRanksForScatter { get; init; } = 8;

    /// <summary>
    /// Blocking Barrier, and Broadcast, Reduce and Allreduce of up to <see cref="SharedMemoryCollectives.SlotBytes"/>,
    /// on a communicator of at most <see cref="SharedMemoryCollectives.MaxRanks"/> ranks that all share this host, go
    /// through memory the ranks map together instead of messages (<see cref="SharedMemoryCollectives"/>).
    /// <c>SHARPMPI_COLL_SHM=0</c> turns that off.
    /// </summary>
    public bool SharedMemoryCollectives { get; init; } = true;

    /// <summary>
    /// Calls that could use shared memory before a communicator sets it up (a file and a few messages, about a
    /// millisecond): a communicator used for a handful of collectives keeps to messages.
    /// </summary>
    public int SharedMemoryAfterCalls { get; init; } = 8;

    /// <summary>
    /// Blocking Allreduce and Reduce from this many bytes (and above the slots) on shared-memory collectives: each
    /// rank folds its part reading the others' buffers directly (<see cref="SharedMemoryCollectives.ReduceByPulling"/>),
    /// when every rank may read every other's memory (single copy, see SHARPMPI_SHM_SINGLE_COPY).
    /// <c>SHARPMPI_COLL_SHM_PULL</c> (bytes, or with a K/M suffix).
    /// </summary>
    /// <remarks>
    /// 4 ranks on 2 cores, quiet machine, 5 interleaved rounds: pulling took 0.84–0.96× Open MPI's time from
    /// 128 KiB to 1 MiB, where the message algorithms took 1.45–1.86×; from 16 to 64 KiB the messages were faster
    /// (0.57–0.79× against 0.84–0.88×).
    /// </remarks>
    public long SharedMemoryPullBytes { get; init; } = 128 * 1024;

    /// <summary>
    /// <see cref="SharedMemoryPullBytes"/> for communicators of two ranks: 512 KiB, or what
    /// <c>SHARPMPI_COLL_SHM_PULL</c> says. Two ranks' ring synchronizes as often as the pulling algorithm (one
    /// exchange of halves each way, then of results), and below 512 KiB its copies were as fast or faster:
    /// 2 ranks, 3 interleaved rounds against Open MPI, pulling/messages 128 KiB 0.96/0.62×, 256 KiB 1.05/1.00×,
    /// 512 KiB 1.14/1.16×, 1 MiB 1.08/1.28×, 2 MiB 1.13/1.44×, 4 MiB 1.22/3.24× (the ring's 4 MiB varied from
    /// 1.7 to 3.2× between runs).
    /// </summary>
    public long SharedMemoryPullBytesTwoRanks { get; init; } = 512 * 1024;

    /// <summary>Allreduce: recursive doubling up to this many bytes, ring above (commutative ops).</summary>
    public long AllreduceShortBytes { get; init; } = 2048;

    /// <summary>Reduce: binomial up to this many bytes, reduce-scatter + gather above (commutative ops).</summary>
    public long ReduceShortBytes { get; init; } = 2048;

    /// <summary>Allgather, power-of-two ranks: recursive doubling below this many total bytes, ring above.</summary>
    public long AllgatherLongBytes { get; init; } = 512 * 1024;

    /// <summary>Allgather, other rank counts: Bruck below this many total bytes, ring above.</summary>
    public long AllgatherShortBytes { get; init; } = 80 * 1024;

    /// <summary>Alltoall: Bruck up to this many bytes per block (with at least <see cref="AlltoallBruckMinRanks"/> ranks).</summary>
    public long AlltoallShortBytes { get; init; } = 256;

    public int AlltoallBruckMinRanks { get; init; } = 8;

    /// <summary>Alltoall: scattered nonblocking exchange up to this many bytes per block, pairwise above.</summary>
    public long AlltoallMediumBytes { get; init; } = 32 * 1024;

    /// <summary>Scattered alltoall: peers in flight at once.</summary>
    public int AlltoallThrottle { get; init; } = 32;

    /// <summary>Gather/scatter: binomial tree below this many bytes per block, linear at and above.</summary>
    public long GatherLinearBlockBytes { get; init; } = 512 * 1024;

    /// <summary>Reduce-scatter (commutative): reduce + scatterv below this many total bytes, ring above.</summary>
    public long ReduceScatterLongBytes { get; init; } = 512 * 1024;

    /// <summary>
    /// Ring steps (reduce-scatter and allgather rings) send blocks longer than this in segments of this many
    /// bytes, all in flight at once, and fold each received segment while it is still in cache; 0 turns
    /// segmenting off. <c>SHARPMPI_COLL_SEGMENT</c> (bytes, or with a K/M suffix).
    /// </summary>
    public long RingSegmentBytes { get; init; } = 64 * 1024;

    /// <summary>
    /// Defaults with algorithms forced by <c>SHARPMPI_COLL_BARRIER</c>, <c>_BCAST</c>, <c>_REDUCE</c>,
    /// <c>_ALLREDUCE</c>, <c>_ALLGATHER</c>, <c>_ALLTOALL</c>, <c>_GATHER</c>, <c>_SCATTER</c>, <c>_SCAN</c>,
    /// <c>_REDUCE_SCATTER</c> (values: <c>auto</c> or an algorithm name in snake_case, e.g. <c>ring</c>).
    /// </summary>
    /// <exception cref="ArgumentException">A variable names an unknown algorithm.</exception>
    public static CollectiveTuning FromEnvironment(Func<string, string?>? read = null)
    {
        read ??= System.Environment.GetEnvironmentVariable;
        // One setting for both pull thresholds: who sets it wants that size whatever the rank count.
        long? pull = read("SHARPMPI_COLL_SHM_PULL") is { Length: > 0 } pullText
            ? Transport.ByteSizeSetting.Parse("SHARPMPI_COLL_SHM_PULL", pullText)
            : null;
        return new CollectiveTuning
        {
            Barrier = Parse<BarrierAlgorithm>("SHARPMPI_COLL_BARRIER", read),
            Broadcast = Parse<BroadcastAlgorithm>("SHARPMPI_COLL_BCAST", read),
            Reduce = Parse<ReduceAlgorithm>("SHARPMPI_COLL_REDUCE", read),
            Allreduce = Parse<AllreduceAlgorithm>("SHARPMPI_COLL_ALLREDUCE", read),
            Allgather = Parse<AllgatherAlgorithm>("SHARPMPI_COLL_ALLGATHER", read),
            Alltoall = Parse<AlltoallAlgorithm>("SHARPMPI_COLL_ALLTOALL", read),
            Gather = Parse<GatherAlgorithm>("SHARPMPI_COLL_GATHER", read),
            Scatter = Parse<GatherAlgorithm>("SHARPMPI_COLL_SCATTER", read),
            Scan = Parse<ScanAlgorithm>("SHARPMPI_COLL_SCAN", read),
            ReduceScatter = Parse<ReduceScatterAlgorithm>("SHARPMPI_COLL_REDUCE_SCATTER", read),
            SharedMemoryCollectives = read("SHARPMPI_COLL_SHM") is { Length: > 0 } shm
                ? Transport.SwitchSetting.Parse("SHARPMPI_COLL_SHM", shm)
                : Default.SharedMemoryCollectives,
            SharedMemoryPullBytes = pull ?? Default.SharedMemoryPullBytes,
            SharedMemoryPullBytesTwoRanks = pull ?? Default.SharedMemoryPullBytesTwoRanks,
            RingSegmentBytes = read("SHARPMPI_COLL_SEGMENT") is { Length: > 0 } segment
                ? Transport.ByteSizeSetting.Parse("SHARPMPI_COLL_SEGMENT", segment)
                : Default.RingSegmentBytes,
        };
    }

    /// <summary>Parses an algorithm name (snake_case, case-insensitive; '-' accepted for '_').</summary>
    /// <exception cref="ArgumentException">Unknown name; the message lists the valid ones.</exception>
    public static TEnum Parse<TEnum>(string variable, Func<string, string?> read) where TEnum : struct, Enum
    {
        var text = read(variable);
        if (string.IsNullOrWhiteSpace(text))
            return default;
        var wanted = text.Trim().Replace('-', '_');
        foreach (var value in Enum.GetValues<TEnum>())
        {
            if (string.Equals(SnakeCase(value.ToString()), wanted, StringComparison.OrdinalIgnoreCase))
                return value;
        }
        var names = new StringBuilder();
        foreach (var value in Enum.GetValues<TEnum>())
            names.Append(names.Length == 0 ? "" : ", ").Append(SnakeCase(value.ToString()));
        throw new ArgumentException($"{variable}={text} names no algorithm; expected one of: {names}.", variable);
    }

    /// <summary>RecursiveDoubling → recursive_doubling.</summary>
    public static string SnakeCase(string name)
    {
        var sb = new StringBuilder(name.Length + 4);
        for (int i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
                sb.Append('_');
            sb.Append(char.ToLowerInvariant(name[i]));
        }
        return sb.ToString();
    }
}
