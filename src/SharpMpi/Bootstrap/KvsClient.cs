using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using SharpMpi.Interop;

namespace SharpMpi.Bootstrap;

/// <summary>
/// A rank's connection to the launcher's key-value store (protocol in KvsProtocol.cs): put/get/fence
/// to exchange addresses, abort, and a goodbye at finalize.
/// </summary>
/// <remarks>
/// One socket serves both requests and the launcher-liveness watch. A dedicated watcher thread is the
/// only reader: it hands each reply to the caller waiting under <see cref="_requestLock"/>, and when
/// the stream ends or breaks while the rank has not said goodbye, the launcher is gone and the rank
/// must not live on as an orphan, so it calls the "launcher lost" action (by default: a line on
/// stderr, then SIGKILL to itself — Environment.Exit could hang in ProcessExit handlers that wait for
/// MPI traffic that will never come). A second connection only for liveness would double the
/// launcher's sockets and its authentication work for no gain: with one reader there is no race
/// between the watcher and a caller over who consumes a frame. Thread-safe: requests are serialized
/// by one lock, since the protocol allows one outstanding request per connection.
/// </remarks>
internal sealed class KvsClient : IKeyValueStore, IDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly int _rank;
    private readonly Action<KvsClient> _onLauncherLost;
    private readonly object _requestLock = new();
    private readonly BlockingCollection<KvsFrame> _replies = new();
    private readonly Thread _watcher;
    // Set once the rank leaves on purpose (goodbye, abort, dispose): EOF is then expected, not a loss.
    private volatile bool _leaving;

    private KvsClient(Socket socket, int rank, Action<KvsClient> onLauncherLost)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _rank = rank;
        _onLauncherLost = onLauncherLost;
        _watcher = new Thread(Watch) { IsBackground = true, Name = $"sharpmpi kvs watcher (rank {rank})" };
    }

    /// <summary>This client's world rank.</summary>
    public int Rank => _rank;

    /// <summary>Connects to <paramref name="endpoint"/> (<c>host:port</c>) and authenticates as <paramref name="rank"/>.</summary>
    /// <remarks>If the launcher later goes away, this process writes one line to stderr and kills itself.</remarks>
    /// <exception cref="IOException">The launcher cannot be reached or rejected the credentials.</exception>
    public static KvsClient Connect(string endpoint, string secretHex, int rank) =>
        Connect(endpoint, secretHex, rank, static client => client.ExitBecauseLauncherLost());

    /// <summary>As <see cref="Connect(string, string, int)"/>, with a custom reaction to losing the launcher (tests).</summary>
    internal static KvsClient Connect(string endpoint, string secretHex, int rank, Action<KvsClient> onLauncherLost)
    {
        Socket socket = ConnectSocket(endpoint);
        var client = new KvsClient(socket, rank, onLauncherLost);
        try
        {
            client.Authenticate(secretHex);
        }
        catch
        {
            client._leaving = true;
            client._stream.Dispose();
            throw;
        }
        client._watcher.Start();
        return client;
    }

    /// <summary>Stores <paramref name="value"/> under <paramref name="key"/>, visible to all ranks after the next fence.</summary>
    public void Put(string key, string value) => Request(KvsOp.Put, key, value);

    /// <summary>Returns the value stored under <paramref name="key"/>, waiting until some rank has put it.</summary>
    public string Get(string key) => Request(KvsOp.Get, key).Field(0);

    /// <summary>Returns when every rank of the job has called <see cref="Fence"/>; earlier puts are then visible.</summary>
    public void Fence() => Request(KvsOp.Fence);

    /// <summary>Asks the launcher to terminate the whole job with exit code <paramref name="code"/>.</summary>
    /// <remarks>Returns once the launcher has taken note; the launcher then kills every rank, this one included.</remarks>
    public void Abort(int code, string message)
    {
        _leaving = true;
        Request(KvsOp.Abort, code.ToString(CultureInfo.InvariantCulture), message);
    }

    /// <summary>Tells the launcher's deadlock detector what this rank is blocked in ("" = no longer blocked).</summary>
    public void ReportBlocked(string state) => Request(KvsOp.Blocked, state);

    /// <summary>Tells the launcher this rank is leaving cleanly (MPI_Finalize); the connection may close after it.</summary>
    /// <remarks>Not named <c>Finalize</c>: in C# that name declares a finalizer (warning CS0465).</remarks>
    public void Goodbye()
    {
        _leaving = true;
        Request(KvsOp.Finalize);
    }

    /// <summary>Closes the connection without reacting to its end.</summary>
    public void Dispose()
    {
        _leaving = true;
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        _stream.Dispose();
        if (_watcher.IsAlive && Thread.CurrentThread != _watcher)
            _watcher.Join(TimeSpan.FromSeconds(5));
    }

    private static Socket ConnectSocket(string endpoint)
    {
        if (!KvsProtocol.TryParseEndpoint(endpoint, out string host, out int port))
            throw new ArgumentException($"KVS endpoint '{endpoint}' is not host:port", nameof(endpoint));

        Socket socket;
        if (IPAddress.TryParse(host, out IPAddress? address))
        {
            socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            Connect(socket, () => socket.Connect(address, port), endpoint);
        }
        else
        {
            socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            Connect(socket, () => socket.Connect(host, port), endpoint);
        }
        socket.NoDelay = true;
        return socket;

        static void Connect(Socket socket, Action connect, string endpoint)
        {
            try
            {
                connect();
            }
            catch (SocketException e)
            {
                socket.Dispose();
                throw new IOException($"cannot reach the launcher's key-value store at {endpoint}: {e.Message}", e);
            }
        }
    }

    private void Authenticate(string secretHex)
    {
        KvsFrame hello = ReadDirect() ?? throw Rejected();
        if (hello.Op != KvsOp.Hello || hello.Field(0) != KvsProtocol.Magic)
            throw new IOException("the endpoint in SHARPMPI_KVS is not a SharpMPI launcher");
        string mac = KvsProtocol.ComputeMac(secretHex, hello.Field(1));
        KvsProtocol.WriteFrame(_stream, KvsOp.Auth, _rank.ToString(CultureInfo.InvariantCulture), mac);
        KvsFrame? answer = ReadDirect();
        if (answer is not { Op: KvsOp.Ok })
            throw Rejected();
    }

    // Only before the watcher starts: afterwards it is the sole reader.
    private KvsFrame? ReadDirect()
    {
        try
        {
            return KvsProtocol.ReadFrame(_stream);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private IOException Rejected() =>
        new($"the launcher's key-value store rejected rank {_rank} (wrong SHARPMPI_SECRET or rank already connected)");

    private KvsFrame Request(KvsOp op, params string[] fields)
    {
        lock (_requestLock)
        {
            try
            {
                KvsProtocol.WriteFrame(_stream, op, fields);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                throw LostDuring(op, e);
            }

            KvsFrame reply;
            try
            {
                reply = _replies.Take();
            }
            catch (InvalidOperationException e)
            {
                // CompleteAdding: the watcher saw the connection end.
                throw LostDuring(op, e);
            }
            return reply.Op switch
            {
                KvsOp.Ok => reply,
                KvsOp.Error => throw new InvalidOperationException($"KVS {op} failed: {reply.Field(0)}"),
                _ => throw new InvalidDataException($"unexpected KVS reply {reply.Op} to {op}"),
            };
        }
    }

    private static IOException LostDuring(KvsOp op, Exception inner) =>
        new($"connection to the launcher lost during KVS {op}", inner);

    private void Watch()
    {
        try
        {
            while (KvsProtocol.ReadFrame(_stream) is KvsFrame frame)
                _replies.Add(frame);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidDataException)
        {
            // Reset, closed by Dispose, or garbage: all mean the launcher connection is over.
        }
        _replies.CompleteAdding();
        if (!_leaving)
            _onLauncherLost(this);
    }

    private void ExitBecauseLauncherLost()
    {
        try
        {
            Console.Error.WriteLine($"sharpmpi: launcher lost, rank {_rank} exiting");
            Console.Error.Flush();
        }
        catch (IOException)
        {
            // stderr went with the launcher; leave anyway.
        }
        if (OperatingSystem.IsLinux())
            LinuxNative.Kill(LinuxNative.GetPid(), 9);
        Environment.Exit(137);
    }
}
