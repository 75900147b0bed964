using SharpMpi.Bootstrap;
using SharpMpi.Engine;
using SharpMpi.Transport;
using SharpMpi.Transport.InProcess;

namespace SharpMpi;

public sealed partial class MpiEnvironment
{
    /// <summary>
    /// Starts MPI for this process (MPI_Init_thread with MPI_THREAD_MULTIPLE). Under a launcher the rank
    /// learns its world from the launcher's environment variables; run directly, it is a job of one rank.
    /// </summary>
    /// <param name="args">The program's arguments (kept for symmetry with MPI_Init; not modified).</param>
    public static MpiEnvironment Initialize(string[]? args = null)
    {
        _ = args;
        return ProcessBootstrap.CreateEnvironment();
    }

    /// <summary>A job of one rank: messages to self only.</summary>
    internal static MpiEnvironment CreateSingleton()
    {
        var hub = new InProcessHub(1, new InProcessOptions());
        var transport = hub.CreateTransport(0);
        var engine = new ProgressEngine(0, [transport], transport.Doorbell, WaitPolicy.ForLocalRanks(1));
        return new MpiEnvironment(engine, 0, 1, System.Environment.MachineName, new SingletonJobControl());
    }

    /// <summary>
    /// Runs <paramref name="main"/> as this rank's program: initializes, runs, finalizes. An exception that
    /// escapes <paramref name="main"/> prints <c>rank N: exception</c> and aborts the whole job. Returns the
    /// exit code for <c>Main</c> to return.
    /// </summary>
    public static int Run(string[] args, Func<Communicator, Task> main)
    {
        ArgumentNullException.ThrowIfNull(main);
        using var mpi = Initialize(args);
        try
        {
            main(mpi.World).GetAwaiter().GetResult();
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"rank {mpi.Rank}: {e}");
            Console.Error.Flush();
            mpi.Abort(1, $"unhandled {e.GetType().Name}: {e.Message}");
            return 1;
        }
    }

    /// <summary>Runs a synchronous <paramref name="main"/>; see <see cref="Run(string[], Func{Communicator, Task})"/> (MPI_Init, then MPI_Finalize).</summary>
    public static int Run(string[] args, Action<Communicator> main)
    {
        ArgumentNullException.ThrowIfNull(main);
        return Run(args, c =>
        {
            main(c);
            return Task.CompletedTask;
        });
    }
}
