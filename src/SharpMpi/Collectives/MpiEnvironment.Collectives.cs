using SharpMpi.Collectives;

namespace SharpMpi;

// Collective tuning of one rank (no static state: in-process ranks each have their own).
public sealed partial class MpiEnvironment
{
    private CollectiveTuning? _collectiveTuning;

    /// <summary>
    /// Algorithm choices and switch points of this rank's collectives: from <c>SHARPMPI_COLL_*</c> variables at
    /// first use, or set in-process (every rank must use the same choices).
    /// </summary>
    /// <exception cref="ArgumentException">A <c>SHARPMPI_COLL_*</c> variable names an unknown algorithm.</exception>
    internal CollectiveTuning CollectiveTuning
    {
        get => Volatile.Read(ref _collectiveTuning) ?? InitCollectiveTuning();
        set => Volatile.Write(ref _collectiveTuning, value ?? throw new ArgumentNullException(nameof(value)));
    }

    private readonly List<SharedMemoryCollectives> _sharedCollectives = [];

    /// <summary>Shared-memory collectives set up on any communicator of this rank, released at finalize if still held.</summary>
    internal void TrackSharedCollectives(SharedMemoryCollectives collectives)
    {
        lock (_sharedCollectives)
            _sharedCollectives.Add(collectives);
    }

    private void ReleaseSharedCollectives()
    {
        lock (_sharedCollectives)
        {
            foreach (var s in _sharedCollectives)
                s.Dispose();
            _sharedCollectives.Clear();
        }
    }

    private CollectiveTuning InitCollectiveTuning()
    {
        Interlocked.CompareExchange(ref _collectiveTuning, CollectiveTuning.FromEnvironment(), null);
        return _collectiveTuning!;
    }
}
