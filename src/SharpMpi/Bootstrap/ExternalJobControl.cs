namespace SharpMpi.Bootstrap;

/// <summary>
/// Job control when another launcher started the ranks (srun, Hydra, Open MPI's mpirun): fences through
/// the job's store; abort prints the reason (nobody else will) and asks the PMI server, if any, to end
/// the job; finalize tells the PMI server or leaves the file store.
/// </summary>
internal sealed class ExternalJobControl(IKeyValueStore store, Action<int, string>? abort, Action goodbye, Action dispose) : IJobControl
{
    public void Abort(int rank, int exitCode, string message)
    {
        Console.Out.Flush();
        Console.Error.WriteLine($"sharpmpi: rank {rank} aborted: {message}");
        Console.Error.Flush();
        try
        {
            abort?.Invoke(exitCode, message);
        }
        catch (IOException)
        {
            // The server is gone; exiting is all that is left.
        }
        System.Environment.Exit(exitCode);
    }

    public void Fence() => store.Fence();

    public void Finalized() => goodbye();

    public void Dispose() => dispose();
}
