namespace SharpMpi.Bootstrap;

/// <summary>
/// What a rank can ask of whatever started it: abort the whole job, and say goodbye at finalize. The
/// launcher's key-value store, the in-process test host and the singleton each implement it.
/// </summary>
internal interface IJobControl : IDisposable
{
    /// <summary>Aborts every rank of the job with <paramref name="exitCode"/>. Does not return for process ranks.</summary>
    void Abort(int rank, int exitCode, string message);

    /// <summary>A barrier across the whole job outside the message engine (used at start-up and finalize).</summary>
    void Fence();

    /// <summary>Tells the starter this rank finished cleanly.</summary>
    void Finalized();
}
