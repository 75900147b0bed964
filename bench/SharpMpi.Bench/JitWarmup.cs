using SharpMpi;

namespace SharpMpi.Bench;

/// <summary>
/// Runs a benchmark's kernel for a fixed time before the first measurement. .NET compiles methods first
/// without optimization and recompiles the hot ones about 100 ms later (tiered compilation); OSU's
/// warm-up counts (1000 iterations of a 1 µs ping-pong) end long before that, so without this the
/// smallest sizes would be measured on unoptimized code. It goes on until no rank has compiled a method
/// for a while (at most a few seconds); the ranks agree after every batch, so all run the same kernel calls.
/// The methods holding the timed loops are marked AggressiveOptimization: a loop in a method that runs once
/// starts in unoptimized code and is replaced on the stack (on-stack replacement) after some thousand
/// iterations, a compile that happened inside the first size's measurement and doubled its time.
/// </summary>
internal static class JitWarmup
{
    /// <summary>Long enough for the runtime's call counting delay and background recompilation.</summary>
    public const double Seconds = 0.5;

    /// <summary>Stop early only once no rank has compiled a method for this long.</summary>
    private const double QuietSeconds = 0.25;

    /// <summary>Give up waiting for the compiler to go quiet after this long.</summary>
    private const double MaxSeconds = 5;

    public static void Run(Communicator world, Action kernel, int batch = 100)
    {
        double start = MpiEnvironment.WTime();
        long compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
        double lastCompile = start;
        while (true)
        {
            for (int i = 0; i < batch; i++)
                kernel();
            double now = MpiEnvironment.WTime();
            long count = System.Runtime.JitInfo.GetCompiledMethodCount();
            if (count != compiled)
            {
                compiled = count;
                lastCompile = now;
            }
            bool more = now - start < MaxSeconds && (now - start < Seconds || now - lastCompile < QuietSeconds);
            if (world.Allreduce(more ? 1 : 0, Op.Max) == 0)
                return;
        }
    }
}
