using System.Globalization;

namespace SharpMpi.Bootstrap;

/// <summary>Everything a rank learns at start-up, from whichever source started it.</summary>
/// <param name="Rank">World rank.</param>
/// <param name="Size">World size.</param>
/// <param name="LocalRank">Rank among the ranks on this node.</param>
/// <param name="LocalSize">Ranks on this node.</param>
/// <param name="Node">Node id: equal for ranks that share a host (and /dev/shm).</param>
/// <param name="JobId">Short job id, safe in file names (shared-memory segment names).</param>
/// <param name="SecretHex">Per-job secret for the TCP handshake, hex.</param>
/// <param name="Store">Put/get/fence for exchanging addresses.</param>
/// <param name="JobControl">Abort, fence, finalize; owns <paramref name="Store"/> (disposing it closes the store).</param>
/// <param name="Source">Where this came from ("sharpmpi", "PMI-2", "PMI-1", "Slurm", "Open MPI"), for messages.</param>
internal sealed record BootstrapWorld(
    int Rank,
    int Size,
    int LocalRank,
    int LocalSize,
    int Node,
    string JobId,
    string SecretHex,
    IKeyValueStore Store,
    IJobControl JobControl,
    string Source)
{
    /// <summary>Keeps the secret out of logs.</summary>
    public override string ToString() =>
        $"BootstrapWorld {{ Source = {Source}, Rank = {Rank}, Size = {Size}, LocalRank = {LocalRank}, LocalSize = {LocalSize}, Node = {Node}, JobId = {JobId} }}";
}

/// <summary>
/// Finds out what started this process, in DESIGN.md §6 order: the SharpMPI launcher's variables →
/// PMI-2 → PMI-1 (<c>PMI_FD</c> / <c>PMI_PORT</c>: srun --mpi=pmi2, Hydra) → Slurm's variables without
/// PMI → Open MPI's variables → none (singleton).
/// </summary>
/// <remarks>
/// Without our launcher there is no launcher-made secret, job id or node id. Rank 0 generates a random
/// secret and job id and publishes them through the job's store, and every rank publishes its host
/// name: ranks with the same host name get the same node id (numbered in order of their lowest rank).
/// The secret then authenticates TCP peers only as well as the store itself is protected: any process
/// that can talk to the job's PMI server (or read the file store's directory) can read it.
/// Slurm without PMI and Open MPI's mpirun (PMIx only) offer no store at all; a directory under
/// /dev/shm serves instead, which works only when every rank is on one machine.
/// </remarks>
internal static class BootstrapSource
{
    private const string SharedDirectoryRoot = "/dev/shm";

    /// <summary>The world of this process, or null for a singleton.</summary>
    /// <exception cref="InvalidOperationException">Variables are inconsistent, or the source cannot work here (Slurm across nodes without PMI).</exception>
    /// <exception cref="IOException">The launcher's store or the PMI server cannot be reached.</exception>
    /// <remarks>A job id derived here is also exported as SHARPMPI_JOBID, so the program (and its logs) see it as under sharpmpi run.</remarks>
    public static BootstrapWorld? Detect()
    {
        BootstrapWorld? world = Detect(Environment.GetEnvironmentVariable);
        if (world is not null && world.Source != "sharpmpi")
            Environment.SetEnvironmentVariable(LaunchInfo.JobIdVariable, world.JobId);
        return world;
    }

    /// <inheritdoc cref="Detect()"/>
    internal static BootstrapWorld? Detect(Func<string, string?> getVariable)
    {
        if (LaunchInfo.FromEnvironment(getVariable) is LaunchInfo info)
        {
            var kvs = KvsClient.Connect(info.KvsEndpoint, info.SecretHex, info.Rank);
            return new BootstrapWorld(info.Rank, info.Size, info.LocalRank, info.LocalSize, info.Node, info.JobId, info.SecretHex,
                kvs, new LauncherJobControl(kvs), "sharpmpi");
        }

        if (PmiClient.Connect(getVariable) is PmiClient pmi)
        {
            var control = new ExternalJobControl(pmi, pmi.Abort, pmi.Goodbye, pmi.Dispose);
            return Exchange(pmi.Rank, pmi.Size, pmi, control, pmi.Version);
        }

        if (getVariable("SLURM_PROCID") is { Length: > 0 } slurmRank && getVariable("SLURM_STEP_ID") is { Length: > 0 } step)
        {
            int rank = ParseInt("SLURM_PROCID", slurmRank);
            int size = ParseInt("SLURM_STEP_NUM_TASKS", getVariable("SLURM_STEP_NUM_TASKS") ?? getVariable("SLURM_NTASKS"));
            string nodes = getVariable("SLURM_STEP_NUM_NODES") ?? getVariable("SLURM_NNODES") ?? "1";
            if (nodes != "1")
            {
                throw new InvalidOperationException(
                    $"this srun step spans {nodes} nodes but offers no PMI: run it with 'srun --mpi=pmi2' (or set MpiDefault=pmi2 in slurm.conf)");
            }
            string job = getVariable("SLURM_JOB_ID") ?? getVariable("SLURM_JOBID") ?? "0";
            return FileStoreWorld(rank, size, $"sharpmpi-kvs.{Safe(job)}.{Safe(step)}", "Slurm");
        }

        if (getVariable("OMPI_COMM_WORLD_RANK") is { Length: > 0 } ompiRank)
        {
            int rank = ParseInt("OMPI_COMM_WORLD_RANK", ompiRank);
            int size = ParseInt("OMPI_COMM_WORLD_SIZE", getVariable("OMPI_COMM_WORLD_SIZE"));
            string? localSize = getVariable("OMPI_COMM_WORLD_LOCAL_SIZE");
            if (localSize is not null && ParseInt("OMPI_COMM_WORLD_LOCAL_SIZE", localSize) != size)
            {
                throw new InvalidOperationException(
                    "Open MPI's mpirun started this job on several hosts, but it offers only PMIx, which SharpMPI does not speak: use 'sharpmpi run' with the same --host/--hostfile");
            }
            string job = getVariable("PMIX_NAMESPACE") ?? getVariable("OMPI_MCA_ess_base_jobid")
                ?? throw new InvalidOperationException("Open MPI variables are set but neither PMIX_NAMESPACE nor OMPI_MCA_ess_base_jobid names the job");
            return FileStoreWorld(rank, size, $"sharpmpi-kvs.ompi.{Safe(job)}", "Open MPI");
        }

        return null;
    }

    private static BootstrapWorld FileStoreWorld(int rank, int size, string directoryName, string source)
    {
        if (rank >= size)
            throw new InvalidOperationException($"{source}: rank {rank} is not in a job of {size}");
        int seconds = int.TryParse(Environment.GetEnvironmentVariable("SHARPMPI_KVS_TIMEOUT"), NumberStyles.None, CultureInfo.InvariantCulture, out int s) && s > 0 ? s : 300;
        var store = new FileKeyValueStore(Path.Combine(SharedDirectoryRoot, directoryName), rank, size, TimeSpan.FromSeconds(seconds));
        var control = new ExternalJobControl(store, abort: null, goodbye: store.Leave, dispose: () => { });
        return Exchange(rank, size, store, control, source);
    }

    /// <summary>Rank 0 publishes a fresh secret and job id; every rank publishes its host; one fence; node ids from host names.</summary>
    internal static BootstrapWorld Exchange(int rank, int size, IKeyValueStore store, IJobControl control, string source)
    {
        try
        {
            string host = Environment.MachineName;
            store.Put($"sharpmpi/host/{rank.ToString(CultureInfo.InvariantCulture)}", host);
            string secret = "", jobId = "";
            if (rank == 0)
            {
                secret = KvsProtocol.NewRandomHex();
                jobId = KvsProtocol.NewRandomHex(6);
                store.Put("sharpmpi/secret", secret);
                store.Put("sharpmpi/jobid", jobId);
            }
            store.Fence();
            if (rank != 0)
            {
                secret = store.Get("sharpmpi/secret");
                jobId = store.Get("sharpmpi/jobid");
            }

            var nodeOfHost = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            int node = -1, localRank = 0, localSize = 0;
            for (int r = 0; r < size; r++)
            {
                string h = r == rank ? host : store.Get($"sharpmpi/host/{r.ToString(CultureInfo.InvariantCulture)}");
                if (!nodeOfHost.TryGetValue(h, out int n))
                    nodeOfHost[h] = n = nodeOfHost.Count;
                if (h.Equals(host, StringComparison.OrdinalIgnoreCase))
                {
                    if (r < rank)
                        localRank++;
                    localSize++;
                    node = n;
                }
            }
            return new BootstrapWorld(rank, size, localRank, localSize, node, jobId, secret, store, control, source);
        }
        catch
        {
            control.Dispose();
            throw;
        }
    }

    private static string Safe(string text) =>
        string.Concat(text.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));

    private static int ParseInt(string name, string? text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value)
            ? value
            : throw new InvalidOperationException($"{name}='{text}' is not a non-negative number");
}
