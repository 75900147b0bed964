namespace SharpMpi;

/// <summary>A communication error, with the MPI error class that describes it.</summary>
public class MpiException : Exception
{
    /// <summary>Creates an exception of the given class.</summary>
    public MpiException(ErrorClass errorClass, string message, Exception? inner = null)
        : base(message, inner) => ErrorClass = errorClass;

    /// <summary>The MPI error class.</summary>
    public ErrorClass ErrorClass { get; }
}

/// <summary>A process that an operation involves has died or left the job.</summary>
public sealed class MpiProcessFailedException : MpiException
{
    /// <summary>Creates the exception for world rank <paramref name="rank"/>.</summary>
    public MpiProcessFailedException(int rank, string message)
        : base(ErrorClass.ProcessFailed, message) => FailedRank = rank;

    /// <summary>World rank of the failed process.</summary>
    public int FailedRank { get; }
}

/// <summary>The job is being aborted (another rank failed, called Abort, or a test host timed out).</summary>
public sealed class MpiAbortedException : MpiException
{
    /// <summary>Creates the exception.</summary>
    public MpiAbortedException(string message, Exception? inner = null)
        : base(ErrorClass.Aborted, message, inner) { }
}
