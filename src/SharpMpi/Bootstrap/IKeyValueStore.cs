namespace SharpMpi.Bootstrap;

/// <summary>
/// The key-value exchange a rank needs at start-up, whoever provides it: the SharpMPI launcher
/// (<see cref="KvsClient"/>), a PMI server (<see cref="Pmi1Client"/>, <see cref="Pmi2Client"/>, as
/// srun --mpi=pmi2 and Hydra offer), or files in a directory the ranks share (<see cref="FileKeyValueStore"/>).
/// </summary>
/// <remarks>
/// Portable use: put, then <see cref="Fence"/>, then get. The launcher's store and the file store also
/// let a get wait for a key not yet put; PMI cannot, so a get there of a key nobody put before the
/// last fence fails.
/// </remarks>
internal interface IKeyValueStore
{
    /// <summary>Stores <paramref name="value"/> under <paramref name="key"/>, visible to every rank after the next fence.</summary>
    void Put(string key, string value);

    /// <summary>The value some rank put under <paramref name="key"/>.</summary>
    string Get(string key);

    /// <summary>Returns when every rank has called it; puts made before it are then visible.</summary>
    void Fence();
}
