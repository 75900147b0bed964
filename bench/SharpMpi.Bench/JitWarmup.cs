using SharpMpi;

namespace SharpMpi.Bench;

/// <summary>
/// Runs a benchmark's kernel for a fixed time before the first measurement. .NET compiles methods first
/// without optimization and recompiles the hot ones about 100 ms later (tiered compilation); OSU's
/// warm-up counts (1000 iterations of a 1 µs ping-pong) end long before that, so without this the
/// smallest sizes would be measured on unoptimized code. Rank 0 keeps the time and tells the others,
/// so every rank runs the same number of kernel calls.
/// </summary>
internal static class JitWarmup
{
    /// <summary>Long enough for the runtime's call counting delay and background recompilation.</summary>
    public const double Seconds = 0.5;

    public static void Run(Communicator world, Action kernel, int batch = 100)
    {
        double start = MpiEnvironment.WTime();
        while (true)
        {
            for (int i = 0; i < batch; i++)
                kernel();
            int more = world.Rank == 0 && MpiEnvironment.WTime() - start < Seconds ? 1 : 0;
            if (world.Broadcast(more, 0) == 0)
                return;
        }
    }
}
