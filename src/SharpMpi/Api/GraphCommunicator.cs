using SharpMpi.Collectives;

namespace SharpMpi;

/// <summary>
/// A communicator with a distributed graph topology (MPI_Dist_graph_create_adjacent): each rank knows the
/// ranks it receives from (<see cref="Sources"/>) and sends to (<see cref="Destinations"/>). Created by
/// <see cref="Communicator.CreateDistGraphAdjacent"/>.
/// </summary>
/// <remarks>
/// Neighbor collectives fill receive block <c>i</c> from <c>Sources[i]</c> and send block <c>j</c> to
/// <c>Destinations[j]</c>. Repeated edges are allowed: the k-th message from one rank to another fills the
/// receiver's k-th block from that rank. Edges are unweighted.
/// </remarks>
public sealed class GraphCommunicator : Communicator
{
    private readonly int[] _sources;
    private readonly int[] _destinations;
    private readonly NeighborLists _neighbors;

    internal GraphCommunicator(MpiEnvironment environment, int[] worldRanks, int rank, int context, string name,
        int[] sources, int[] destinations)
        : base(environment, worldRanks, rank, context, name)
    {
        _sources = sources;
        _destinations = destinations;
        var receiveTags = new int[sources.Length];
        var sendTags = new int[destinations.Length];
        Array.Fill(receiveTags, InternalTags.NeighborGraph);
        Array.Fill(sendTags, InternalTags.NeighborGraph);
        _neighbors = new NeighborLists(sources, destinations, receiveTags, sendTags);
    }

    /// <summary>Ranks this rank receives from, in block order (MPI_Dist_graph_neighbors).</summary>
    public IReadOnlyList<int> Sources => Array.AsReadOnly(_sources);

    /// <summary>Ranks this rank sends to, in block order (MPI_Dist_graph_neighbors).</summary>
    public IReadOnlyList<int> Destinations => Array.AsReadOnly(_destinations);

    internal override NeighborLists? Neighbors => _neighbors;

    /// <summary>Duplicates the graph communicator, topology included (MPI_Comm_dup). Collective.</summary>
    /// <exception cref="ObjectDisposedException">The communicator was disposed.</exception>
    public new GraphCommunicator Dup() => (GraphCommunicator)base.Dup();

    private protected override Communicator DupCore() =>
        new GraphCommunicator(Environment, WorldRanks.ToArray(), Rank, Environment.AllocateContext(this), Name + ".dup", _sources, _destinations);
}
