using System.Collections.Concurrent;
using System.Security.Cryptography;
using SharpMpi.Engine;
using SharpMpi.Transport;
using SharpMpi.Transport.InProcess;
using SharpMpi.Transport.Tcp;

namespace SharpMpi;

/// <summary>
/// The engines of an <see cref="MpiTestHost"/> job whose ranks talk over TCP on 127.0.0.1
/// (<c>SHARPMPI_TRANSPORT=tcp</c>): each rank gets its own TCP transport, doorbell and in-memory
/// loopback for sends to itself, wired as <c>ProcessBootstrap</c> wires a launched rank.
/// </summary>
internal static class TestHostTcp
{
    /// <summary>Creates the transports of every rank at once (they connect to each other) and an engine per rank.</summary>
    /// <exception cref="TimeoutException">The ranks did not connect within the connect timeout.</exception>
    public static async Task<ProgressEngine[]> CreateEnginesAsync(int ranks, WaitPolicy policy)
    {
        TcpOptions options = TcpOptions.FromEnvironment();
        byte[] secret = RandomNumberGenerator.GetBytes(32);
        string jobId = "testhost-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        var addresses = new ConcurrentDictionary<int, string>();
        // Stands in for the launcher's key-value store fence; a rank that never arrives ends it by timeout.
        using var fence = new Barrier(ranks);
        var doorbells = new Doorbell[ranks];
        var creating = new Task<TcpTransport>[ranks];
        for (int r = 0; r < ranks; r++)
        {
            int rank = r;
            doorbells[r] = new Doorbell();
            int[] peers = new int[ranks - 1];
            for (int p = 0, i = 0; p < ranks; p++)
            {
                if (p != rank)
                    peers[i++] = p;
            }
            // Create blocks in the fence until every rank published its address: one thread each.
            creating[r] = Task.Factory.StartNew(
                () => TcpTransport.Create(options, rank, peers, secret, jobId, doorbells[rank],
                    address => addresses[rank] = address,
                    () =>
                    {
                        if (!fence.SignalAndWait(options.ConnectTimeout))
                            throw new TimeoutException($"MpiTestHost: the TCP transports of {ranks} ranks did not all start within {options.ConnectTimeout.TotalSeconds:0.#} s.");
                    },
                    peer => addresses[peer],
                    jobOnOneHost: true),
                CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        try
        {
            await Task.WhenAll(creating).ConfigureAwait(false);
        }
        catch
        {
            foreach (Task<TcpTransport> t in creating)
            {
                if (t.IsCompletedSuccessfully)
                    t.Result.Dispose();
            }
            throw;
        }

        var engines = new ProgressEngine[ranks];
        for (int r = 0; r < ranks; r++)
        {
            TcpTransport tcp = creating[r].Result;
            var loopback = new InProcessHub(ranks, new InProcessOptions(), doorbells[r]).CreateTransport(r);
            var routes = new ITransport[ranks];
            Array.Fill(routes, tcp);
            routes[r] = loopback;
            engines[r] = new ProgressEngine(r, routes, doorbells[r], policy);
            tcp.PeerFailed += engines[r].ReportPeerFailure;
        }
        return engines;
    }
}
