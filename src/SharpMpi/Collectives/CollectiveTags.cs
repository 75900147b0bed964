namespace SharpMpi.Collectives;

/// <summary>
/// Tags of collective traffic on a communicator's collective context. Tags below <see cref="FirstSequenced"/>
/// are fixed tags of internal operations that never overlap (finalize barrier, context agreement). Every
/// public collective call takes the communicator's next sequence number (all ranks call collectives in the
/// same order, so they agree on it) and tags its messages <c>FirstSequenced + seq·8 + phase</c>: outstanding
/// nonblocking collectives on one communicator never match each other's messages, and an algorithm made of
/// several phases keeps them apart too.
/// </summary>
internal static class CollectiveTags
{
    public const int Barrier = 1;
    public const int ContextAgreement = 2;

    /// <summary>Smallest tag of a sequenced collective call.</summary>
    public const int FirstSequenced = 16;

    /// <summary>Phases per call (tag bits below the sequence number).</summary>
    public const int PhasesPerCall = 8;

    /// <summary>Sequence numbers wrap after this many calls (keeps tags below int.MaxValue).</summary>
    private const int SequenceMask = (1 << 27) - 1;

    /// <summary>First tag of the collective call with sequence number <paramref name="sequence"/>.</summary>
    public static int ForCall(int sequence) => FirstSequenced + (sequence & SequenceMask) * PhasesPerCall;
}
