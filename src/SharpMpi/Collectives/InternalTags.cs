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
    /// Tag of MPI_Comm_create_group traffic among the group's members on the parent's collective context:
    /// <c>int.MinValue + (tag mod 2^29)</c>, far below every fixed internal tag.
    /// </summary>
    public static int ForCreateGroup(int tag) => int.MinValue + (tag & UserTagMask);

    /// <summary>
    /// Tag of MPI_Intercomm_create traffic between the leaders on the peer communicator's collective context:
    /// <c>int.MinValue + 2^29 + (tag mod 2^29)</c>, a band of its own.
    /// </summary>
    public static int ForIntercommunicatorCreate(int tag) => int.MinValue + (UserTagMask + 1) + (tag & UserTagMask);

    private const int UserTagMask = 0x1FFF_FFFF;
}
