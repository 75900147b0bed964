using System.Globalization;
using SharpMpi.Engine;
using SharpMpi.Transport;
using SharpMpi.Transport.InProcess;
using SharpMpi.Transport.SharedMemory;
using SharpMpi.Transport.Tcp;

namespace SharpMpi.Bootstrap;

/// <summary>
/// Finds this process's world (<see cref="BootstrapSource"/>: SharpMPI launcher, PMI, Slurm, Open MPI, else
/// a singleton) and builds its transports: ranks publish their node id in the job's key-value store, ranks
/// on the same node connect through shared memory, ranks on other nodes (or all, with
/// <c>SHARPMPI_TRANSPORT=tcp</c>) through TCP, and a rank reaches itself through an in-memory loopback.
/// </summary>
internal static class ProcessBootstrap
{
    public static MpiEnvironment CreateEnvironment()
    {
        var info = BootstrapSource.Detect();
        return info is null ? MpiEnvironment.CreateSingleton() : CreateLaunched(info);
    }

    private static MpiEnvironment CreateLaunched(BootstrapWorld info)
    {
        IKeyValueStore kvs = info.Store;
        var disposables = new List<IDisposable>();
        try
        {
            kvs.Put($"node/{info.Rank}", info.Node.ToString(CultureInfo.InvariantCulture));
            kvs.Fence();
            var nodes = new int[info.Size];
            for (int r = 0; r < info.Size; r++)
                nodes[r] = r == info.Rank ? info.Node : int.Parse(kvs.Get($"node/{r}"), CultureInfo.InvariantCulture);

            // Transport per peer: self → loopback; same node → shared memory; another node → TCP.
            // SHARPMPI_TRANSPORT=tcp sends every peer but self over TCP (tests simulate several hosts this way).
            bool forceTcp = TransportChoice.ForceTcp(Environment.GetEnvironmentVariable(TransportChoice.Variable));
            var local = new List<int>();
            var tcpPeers = new List<int>();
            for (int r = 0; r < info.Size; r++)
            {
                if (nodes[r] == info.Node && !forceTcp)
                    local.Add(r);
                else if (r != info.Rank && (forceTcp || nodes[r] != info.Node))
                    tcpPeers.Add(r);
            }
            if (forceTcp)
                local.Add(info.Rank);
            bool jobOnOneHost = nodes.All(n => n == info.Node);

            // Every rank calls the same number of fences, whether or not its host has peers: two for shared
            // memory, one for TCP when the job uses TCP at all (forced, or several hosts).
            SharedMemoryTransport? shm = null;
            if (local.Count > 1)
            {
                shm = SharedMemoryTransport.Create(SharedMemoryOptions.FromEnvironment(ranksOnThisHost: local.Count), info.JobId, info.Rank, local.ToArray(), kvs.Fence);
                disposables.Add(shm);
            }
            else
            {
                kvs.Fence();
                kvs.Fence();
            }

            var doorbell = shm?.Doorbell ?? new Doorbell();
            TcpTransport? tcp = null;
            if (forceTcp ? info.Size > 1 : !jobOnOneHost)
            {
                tcp = TcpTransport.Create(TcpOptions.FromEnvironment(), info.Rank, tcpPeers.ToArray(), Convert.FromHexString(info.SecretHex),
                    info.JobId, doorbell, address => kvs.Put($"tcp/{info.Rank}", address), kvs.Fence, r => kvs.Get($"tcp/{r}"), jobOnOneHost);
                disposables.Add(tcp);
            }

            var loopback = new InProcessHub(info.Size, new InProcessOptions(), doorbell).CreateTransport(info.Rank);
            // The TCP poller thread rings the shared-memory doorbell, so TCP must stop before the segment is unmapped.
            ITransport? shmRoute = shm is not null && tcp is not null ? new DisposeAfter(shm, tcp) : shm;
            var routes = new ITransport[info.Size];
            for (int r = 0; r < info.Size; r++)
                routes[r] = r == info.Rank ? loopback : tcpPeers.Contains(r) ? tcp! : shmRoute!;
            var engine = new ProgressEngine(info.Rank, routes, doorbell, WaitPolicy.ForLocalRanks(info.LocalSize));
            if (tcp is not null)
                tcp.PeerFailed += engine.ReportPeerFailure;
            if (Environment.GetEnvironmentVariable("SHARPMPI_ASYNC_PROGRESS") == "1")
                engine.EnableAsyncProgress();
            Diagnostics.RankDiagnostics.Attach(engine, kvs as KvsClient, info.Rank);
            var environment = new MpiEnvironment(engine, info.Rank, info.Size, Environment.MachineName, info.JobControl)
            {
                NodeOfWorldRank = nodes,
            };
            return environment;
        }
        catch
        {
            // Newest first: the TCP poller may ring the shared-memory doorbell until it is disposed.
            for (int i = disposables.Count - 1; i >= 0; i--)
                disposables[i].Dispose();
            info.JobControl.Dispose();
            throw;
        }
    }
}

/// <summary>Reads <c>SHARPMPI_TRANSPORT</c>.</summary>
internal static class TransportChoice
{
    public const string Variable = "SHARPMPI_TRANSPORT";

    /// <summary>True for "tcp"; false when unset, empty or "auto".</summary>
    /// <exception cref="ArgumentException">Any other value.</exception>
    public static bool ForceTcp(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => false,
        "tcp" => true,
        _ => throw new ArgumentException($"{Variable} is '{value}'; expected 'tcp' (every peer over TCP) or 'auto' (shared memory on a host, TCP between hosts).", Variable),
    };
}

/// <summary>
/// Forwards to the shared-memory transport and, at dispose, first disposes <c>first</c> (the TCP transport,
/// whose poller thread rings the doorbell in the shared segment) so nothing rings an unmapped segment.
/// </summary>
internal sealed class DisposeAfter(ITransport inner, IDisposable first) : ITransport
{
    public string Name => inner.Name;

    public int MaxFramePayload => inner.MaxFramePayload;

    public int EagerLimit => inner.EagerLimit;

    public bool HasPendingInput => inner.HasPendingInput;

    // Every member with a default in ITransport is forwarded too: the defaults (always poll, pull every
    // rendezvous message, never find a failed peer) would silently replace the wrapped transport's answers.
    public bool MayHaveInput => inner.MayHaveInput;

    public long PullThreshold => inner.PullThreshold;

    public bool TryFindFailedPeer(out int peer, out string reason) => inner.TryFindFailedPeer(out peer, out reason);

    public bool TrySend(int peer, in FrameHeader header, ReadOnlySpan<byte> payload) => inner.TrySend(peer, header, payload);

    public int Poll(IFrameSink sink) => inner.Poll(sink);

    public bool CanPull(int peer) => inner.CanPull(peer);

    public void Pull(int peer, ulong address, Span<byte> destination) => inner.Pull(peer, address, destination);

    public unsafe void Pull(int peer, ulong address, byte* destination, long length) => inner.Pull(peer, address, destination, length);

    public bool CanWake => inner.CanWake;

    public void Wake(int peer) => inner.Wake(peer);

    public void Dispose()
    {
        first.Dispose();
        inner.Dispose();
    }
}
