using System.Globalization;
using SharpMpi.Engine;
using SharpMpi.Transport;
using SharpMpi.Transport.InProcess;
using SharpMpi.Transport.SharedMemory;

namespace SharpMpi.Bootstrap;

/// <summary>
/// Finds this process's world and builds its transports: SharpMPI launcher variables, else a singleton.
/// Under the launcher, ranks publish their node id in the key-value store, ranks on the same node connect
/// through shared memory, and a rank reaches itself through an in-memory loopback.
/// </summary>
internal static class ProcessBootstrap
{
    public static MpiEnvironment CreateEnvironment()
    {
        var info = LaunchInfo.FromEnvironment();
        return info is null ? MpiEnvironment.CreateSingleton() : CreateLaunched(info);
    }

    private static MpiEnvironment CreateLaunched(LaunchInfo info)
    {
        var kvs = KvsClient.Connect(info.KvsEndpoint, info.SecretHex, info.Rank);
        var disposables = new List<IDisposable>();
        try
        {
            kvs.Put($"node/{info.Rank}", info.Node.ToString(CultureInfo.InvariantCulture));
            kvs.Fence();
            var nodes = new int[info.Size];
            for (int r = 0; r < info.Size; r++)
                nodes[r] = r == info.Rank ? info.Node : int.Parse(kvs.Get($"node/{r}"), CultureInfo.InvariantCulture);

            var local = new List<int>();
            for (int r = 0; r < info.Size; r++)
            {
                if (nodes[r] == info.Node)
                    local.Add(r);
            }
            if (local.Count != info.Size)
            {
                throw new NotSupportedException(
                    $"rank {info.Rank}: this job spans several hosts, which needs the TCP transport; only single-host jobs are supported by this build.");
            }

            // Every rank calls the same number of fences, whether or not its host has peers.
            SharedMemoryTransport? shm = null;
            if (local.Count > 1)
            {
                shm = SharedMemoryTransport.Create(SharedMemoryOptions.FromEnvironment(), info.JobId, info.Rank, local.ToArray(), kvs.Fence);
                disposables.Add(shm);
            }
            else
            {
                kvs.Fence();
                kvs.Fence();
            }

            var doorbell = shm?.Doorbell ?? new Doorbell();
            var loopback = new InProcessHub(info.Size, new InProcessOptions(), doorbell).CreateTransport(info.Rank);
            var routes = new ITransport[info.Size];
            for (int r = 0; r < info.Size; r++)
                routes[r] = r == info.Rank ? loopback : shm!;
            var engine = new ProgressEngine(info.Rank, routes, doorbell, WaitPolicy.ForLocalRanks(info.LocalSize));
            if (Environment.GetEnvironmentVariable("SHARPMPI_ASYNC_PROGRESS") == "1")
                engine.EnableAsyncProgress();
            Diagnostics.RankDiagnostics.Attach(engine, kvs, info.Rank);
            var environment = new MpiEnvironment(engine, info.Rank, info.Size, Environment.MachineName, new LauncherJobControl(kvs))
            {
                NodeOfWorldRank = nodes,
            };
            return environment;
        }
        catch
        {
            foreach (var d in disposables)
                d.Dispose();
            kvs.Dispose();
            throw;
        }
    }
}
