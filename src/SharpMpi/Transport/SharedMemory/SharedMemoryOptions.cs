using System.Globalization;
using SharpMpi.Engine;

namespace SharpMpi.Transport.SharedMemory;

/// <summary>Tunables of the shared-memory transport.</summary>
/// <remarks>
/// Every rank on a host must use the same <see cref="RingCapacity"/> (the transport checks this when it
/// maps its peers' segments). <see cref="FromEnvironment(Func{string, string?}, int)"/> reads the
/// <c>SHARPMPI_SHM_*</c> variables; <see cref="Validate"/> rejects bad values with an
/// <see cref="ArgumentException"/> that names the setting.
/// </remarks>
internal sealed class SharedMemoryOptions
{
    /// <summary>Environment variable for <see cref="RingCapacity"/>.</summary>
    public const string RingSizeVariable = "SHARPMPI_SHM_RING_SIZE";

    /// <summary>Environment variable for <see cref="EagerLimit"/>.</summary>
    public const string EagerLimitVariable = "SHARPMPI_SHM_EAGER_LIMIT";

    /// <summary>Environment variable for <see cref="SingleCopy"/>.</summary>
    public const string SingleCopyVariable = "SHARPMPI_SHM_SINGLE_COPY";

    /// <summary>Environment variable for <see cref="SingleCopyThreshold"/>.</summary>
    public const string SingleCopyThresholdVariable = "SHARPMPI_SHM_SINGLE_COPY_MIN";

    /// <summary>Environment variable for <see cref="SplitCopyThreshold"/>.</summary>
    public const string SplitCopyThresholdVariable = "SHARPMPI_SHM_SPLIT_COPY_MIN";

    /// <summary>Default <see cref="SplitCopyThreshold"/>: 512 KiB (two chunks).</summary>
    public const long DefaultSplitCopyThreshold = 512 * 1024;

    /// <summary><see cref="SplitCopyThreshold"/> that turns splitting off.</summary>
    public const long NoSplitCopy = long.MaxValue;

    /// <summary>Default <see cref="SingleCopyThreshold"/>: 128 KiB.</summary>
    public const long DefaultSingleCopyThreshold = 128 * 1024;

    /// <summary>Default <see cref="RingCapacity"/>: 64 KiB.</summary>
    public const int DefaultRingCapacity = 64 * 1024;

    /// <summary>Default <see cref="EagerLimit"/>: 16 KiB.</summary>
    public const int DefaultEagerLimit = 16 * 1024;

    /// <summary>
    /// Bytes of the data area of each directed ring (sender → receiver). A power of two between
    /// <see cref="SpscRing.MinCapacity"/> and <see cref="SpscRing.MaxCapacity"/>; default 64 KiB;
    /// <c>SHARPMPI_SHM_RING_SIZE</c> (bytes, or with a K/M/G suffix: <c>256K</c>, <c>1M</c>).
    /// </summary>
    /// <remarks>A segment holds one ring per local peer, so a host uses about n² × this many bytes of /dev/shm.</remarks>
    public int RingCapacity { get; init; } = DefaultRingCapacity;

    /// <summary>
    /// Messages up to this many bytes are sent eagerly (header and payload in one frame). Default 16 KiB;
    /// <c>SHARPMPI_SHM_EAGER_LIMIT</c> (same syntax as the ring size). At most the ring's largest frame payload,
    /// so 32 KiB needs a 128 KiB ring; when only the ring size variable is set, the default is lowered to fit.
    /// </summary>
    public int EagerLimit { get; init; } = DefaultEagerLimit;

    /// <summary>
    /// Whether large messages may be read straight from the sender's memory with process_vm_readv.
    /// Default true; <c>SHARPMPI_SHM_SINGLE_COPY=0</c> forces the pipelined copy through the ring.
    /// </summary>
    public bool SingleCopy { get; init; } = true;

    /// <summary>
    /// Smallest message read with process_vm_readv; smaller rendezvous messages are pipelined through the ring.
    /// Below it the ring wins: both sides copy at once through lines that stay in cache, and the system call
    /// (which pins every page of the range) costs more than the second copy. From 128 KiB the single copy wins
    /// (2-rank ping-pong against the ring: 128 KiB 9.4 against 11.9 µs, 1 MiB 68 against 89 µs; windowed
    /// bandwidth 1.4–1.9× the ring's). Default 128 KiB; <c>SHARPMPI_SHM_SINGLE_COPY_MIN</c>.
    /// </summary>
    public long SingleCopyThreshold { get; init; } = DefaultSingleCopyThreshold;

    /// <summary>
    /// Smallest single-copy message whose chunks the sender copies too (process_vm_writev) while the receiver
    /// copies the rest, so two cores move it (see <see cref="SplitCopySlots"/>). Default 512 KiB;
    /// <see cref="NoSplitCopy"/> (<c>SHARPMPI_SHM_SPLIT_COPY_MIN=off</c>) when the host's ranks outnumber its
    /// cores, where the sender's core is somebody else's; <c>SHARPMPI_SHM_SPLIT_COPY_MIN</c>.
    /// </summary>
    public long SplitCopyThreshold { get; init; } = DefaultSplitCopyThreshold;

    /// <summary>
    /// <see cref="SingleCopyThreshold"/> when the host's ranks outnumber its cores: 32 KiB. The ring pipeline
    /// needs both sides running at once, and an oversubscribed receiver is often descheduled, so every ring's
    /// worth of data cost a trip through the scheduler (a 1 MiB broadcast on 4 ranks and 2 cores took 5× Open
    /// MPI's time); a single copy needs the sender for one handshake only (0.7× there).
    /// </summary>
    public const long OversubscribedSingleCopyThreshold = 32 * 1024;

    /// <summary>The defaults overridden by the <c>SHARPMPI_SHM_*</c> environment variables that are set.</summary>
    /// <param name="getVariable">Reads one variable; <see cref="Environment.GetEnvironmentVariable(string)"/> when null.</param>
    /// <param name="ranksOnThisHost">Ranks of the job on this host; more than the cores lowers the default single-copy threshold.</param>
    /// <exception cref="ArgumentException">A variable is set to a value that cannot be used; the message names it.</exception>
    public static SharedMemoryOptions FromEnvironment(Func<string, string?>? getVariable = null, int ranksOnThisHost = 1)
    {
        getVariable ??= Environment.GetEnvironmentVariable;
        int ringCapacity = DefaultRingCapacity;
        int eagerLimit = DefaultEagerLimit;
        bool singleCopy = true;

        string? ring = getVariable(RingSizeVariable);
        if (!string.IsNullOrWhiteSpace(ring))
            ringCapacity = ParseSize(RingSizeVariable, ring);
        string? eager = getVariable(EagerLimitVariable);
        if (!string.IsNullOrWhiteSpace(eager))
            eagerLimit = ParseSize(EagerLimitVariable, eager);
        else if (ringCapacity >= SpscRing.MinCapacity)
            eagerLimit = Math.Min(eagerLimit, SpscRing.MaxPayload(ringCapacity)); // a small ring alone lowers the default
        string? copy = getVariable(SingleCopyVariable);
        if (!string.IsNullOrWhiteSpace(copy))
            singleCopy = SwitchSetting.Parse(SingleCopyVariable, copy);
        long singleCopyThreshold = ranksOnThisHost > Environment.ProcessorCount ? OversubscribedSingleCopyThreshold : DefaultSingleCopyThreshold;
        string? threshold = getVariable(SingleCopyThresholdVariable);
        if (!string.IsNullOrWhiteSpace(threshold))
            singleCopyThreshold = ParseSize(SingleCopyThresholdVariable, threshold);
        long splitCopyThreshold = ranksOnThisHost > Environment.ProcessorCount ? NoSplitCopy : DefaultSplitCopyThreshold;
        string? split = getVariable(SplitCopyThresholdVariable);
        if (!string.IsNullOrWhiteSpace(split))
        {
            splitCopyThreshold = split.Trim().Equals("off", StringComparison.OrdinalIgnoreCase)
                ? NoSplitCopy
                : ParseSize(SplitCopyThresholdVariable, split);
        }

        var options = new SharedMemoryOptions
        {
            RingCapacity = ringCapacity,
            EagerLimit = eagerLimit,
            SingleCopy = singleCopy,
            SingleCopyThreshold = singleCopyThreshold,
            SplitCopyThreshold = splitCopyThreshold,
        };
        options.Validate();
        return options;
    }

    /// <summary>Throws when a value cannot be used.</summary>
    /// <exception cref="ArgumentException">The message names the property and its environment variable.</exception>
    public void Validate()
    {
        int capacity = RingCapacity;
        if (capacity < SpscRing.MinCapacity || capacity > SpscRing.MaxCapacity || (capacity & (capacity - 1)) != 0)
        {
            throw new ArgumentException(
                $"RingCapacity ({RingSizeVariable}) is {capacity}; it must be a power of two between {SpscRing.MinCapacity} and {SpscRing.MaxCapacity} bytes.",
                nameof(RingCapacity));
        }

        int maxPayload = SpscRing.MaxPayload(capacity);
        if (EagerLimit < 0 || EagerLimit > maxPayload)
        {
            throw new ArgumentException(
                $"EagerLimit ({EagerLimitVariable}) is {EagerLimit}; with a {capacity}-byte ring ({RingSizeVariable}) it must be between 0 and {maxPayload} bytes (half the ring minus one cache line and the {SpscRing.FrameOverhead}-byte frame stamp and header).",
                nameof(EagerLimit));
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"ring={RingCapacity} eager={EagerLimit} singleCopy={SingleCopy} singleCopyMin={SingleCopyThreshold} splitCopyMin={(SplitCopyThreshold == NoSplitCopy ? "off" : SplitCopyThreshold)}";

    private static int ParseSize(string variable, string text) => ByteSizeSetting.Parse(variable, text);
}
