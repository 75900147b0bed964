using System.Diagnostics;

namespace SharpMpi.Engine;

/// <summary>
/// How long a waiting rank spins, then yields, before it sleeps on its doorbell. A kernel wake-up costs
/// about 20–30 µs on a typical VM, so latency-sensitive waits spin first; when ranks outnumber cores,
/// spinning only steals the core from the rank we wait for, so it yields at once. With a core per rank it
/// never yields: on a busy machine sched_yield hands the core to another process for a whole time slice
/// (milliseconds), which made every message wait that long; it spins up to 2 ms and then sleeps.
/// </summary>
internal sealed class WaitPolicy
{
    public WaitPolicy(double spinMicroseconds, double yieldMicroseconds, long sleepMicroseconds)
    {
        SpinTicks = (long)(spinMicroseconds * Stopwatch.Frequency / 1e6);
        YieldTicks = (long)(yieldMicroseconds * Stopwatch.Frequency / 1e6);
        SleepMicroseconds = sleepMicroseconds;
    }

    public long SpinTicks { get; }

    public long YieldTicks { get; }

    /// <summary>Longest single sleep; a sleeper wakes at least this often to check for aborts.</summary>
    public long SleepMicroseconds { get; }

    /// <summary>
    /// The default for <paramref name="ranksOnThisHost"/> ranks sharing this machine's cores; environment
    /// variables SHARPMPI_SPIN_US and SHARPMPI_YIELD_US override.
    /// </summary>
    public static WaitPolicy ForLocalRanks(int ranksOnThisHost) => Create(ranksOnThisHost > Environment.ProcessorCount ? 0 : 2_000);

    /// <summary>
    /// For ranks that are threads of one process shared with other work (<see cref="MpiTestHost"/>): spin
    /// briefly, then yield, so a waiting rank does not keep the core from the rank or test it waits for.
    /// </summary>
    public static WaitPolicy ForThreadRanks(int ranks) => Create(ranks > Environment.ProcessorCount ? 0 : 50);

    private static WaitPolicy Create(double defaultSpin)
    {
        double spin = ReadMicroseconds("SHARPMPI_SPIN_US", defaultSpin);
        double yield = Math.Max(spin, ReadMicroseconds("SHARPMPI_YIELD_US", 2_000));
        return new WaitPolicy(spin, yield, 100_000);
    }

    private static double ReadMicroseconds(string variable, double fallback)
    {
        var text = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrEmpty(text))
            return fallback;
        if (!double.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var value) || value < 0)
            throw new ArgumentException($"{variable} must be a non-negative number of microseconds, not '{text}'.", variable);
        return value;
    }
}
