namespace SharpMpi.Bootstrap;

/// <summary>Job control through the launcher's key-value store (<c>sharpmpi run</c>).</summary>
internal sealed class LauncherJobControl(KvsClient kvs) : IJobControl
{
    public void Abort(int rank, int exitCode, string message)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        try
        {
            kvs.Abort(exitCode, message);
        }
        catch (IOException)
        {
            // The launcher is gone already; exiting is all that is left.
        }
        // The launcher terminates every rank, this one included; exit in case that takes a moment.
        System.Environment.Exit(exitCode);
    }

    public void Fence() => kvs.Fence();

    public void Finalized() => kvs.Goodbye();

    public void Dispose() => kvs.Dispose();
}
