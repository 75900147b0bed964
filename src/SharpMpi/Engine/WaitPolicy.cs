using System.Diagnostics;

namespace SharpMpi.Engine;

/// <summary>
/// How long a waiting rank spins, then yields, before it sleeps on its doorbell. A kernel wake-up costs
/// about 20–30 µs on a typical VM, so latency-sensitive waits spin first; when ranks outnumber cores,
/// spinning only steals the core from the rank we wait for, so it yields at once.
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
    public static WaitPolicy ForLocalRanks(int ranksOnThisHost)
    {
        bool oversubscribed = ranksOnThisHost > Environment.ProcessorCount;
        double spin = oversubscribed ? 0 : 50;
        double yield = oversubscribed ? 2_000 : 2_000;
        spin = ReadMicroseconds("SHARPMPI_SPIN_US", spin);
        yield = Math.Max(spin, ReadMicroseconds("SHARPMPI_YIELD_US", yield));
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
