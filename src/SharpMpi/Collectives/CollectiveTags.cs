namespace SharpMpi.Collectives;

/// <summary>
/// Tags of collective traffic on a communicator's collective context. MPI requires every rank to call
/// collectives on a communicator in the same order and messages between two ranks do not overtake, so a
/// fixed tag per operation is enough to keep them apart.
/// </summary>
internal static class CollectiveTags
{
    public const int Barrier = 1;
    public const int ContextAgreement = 2;
}
