namespace SharpMpi.Bootstrap;

/// <summary>Job control of a program started without a launcher: a job of one rank.</summary>
internal sealed class SingletonJobControl : IJobControl
{
    public void Abort(int rank, int exitCode, string message)
    {
        Console.Error.WriteLine($"sharpmpi: rank {rank} aborted: {message}");
        Console.Error.Flush();
        System.Environment.Exit(exitCode);
    }

    public void Fence()
    {
    }

    public void Finalized()
    {
    }

    public void Dispose()
    {
    }
}
