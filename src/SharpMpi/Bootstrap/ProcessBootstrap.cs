namespace SharpMpi.Bootstrap;

/// <summary>
/// Finds this process's world, in DESIGN order: SharpMPI launcher variables, then (later) PMI, Slurm and
/// Open MPI variables, else a singleton.
/// </summary>
internal static class ProcessBootstrap
{
    public static MpiEnvironment CreateEnvironment() => MpiEnvironment.CreateSingleton();
}
