namespace SharpMpi.Collectives;

/// <summary>
/// Tags of the communicator-management and neighborhood traffic on a communicator's collective context.
/// They are negative, so they can never meet the collective algorithms' tags (<see cref="CollectiveTags"/>,
/// non-negative) nor a wildcard receive (<see cref="Communicator.AnyTag"/> is −1).
/// </summary>
internal static class InternalTags
{
    /// <summary>Dup, Split, Create, topology creation: the exchanges and the context-id agreement on the parent.</summary>
    public const int Management = -16;

    /// <summary>Intercommunicator creation, merge and duplication: traffic between the two groups' leaders.</summary>
    public const int Intercommunicator = -17;

    /// <summary>Neighbor collectives on a distributed graph.</summary>
    public const int NeighborGraph = -32;

    /// <summary>Neighbor collectives on a Cartesian grid: <c>NeighborCartesian − (2·dimension + direction)</c>, direction 0 for −1, 1 for +1.</summary>
    public const int NeighborCartesian = -33;

    /// <summary>
    /// The tag band of a user-tagged creation (MPI_Comm_create_group, MPI_Intercomm_create on the peer
    /// communicator): <c>int.MinValue + (tag mod 2^30)</c>, far below every fixed internal tag.
    /// </summary>
    public static int ForUserTag(int tag) => int.MinValue + (tag & 0x3FFF_FFFF);
}
