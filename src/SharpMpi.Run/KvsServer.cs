using System.Globalization;
using System.Net;
using System.Net.Sockets;
using SharpMpi.Bootstrap;

namespace SharpMpi.Run;

/// <summary>
/// The job's key-value store: ranks exchange addresses through it (put/get/fence), report aborts and
/// say goodbye. Wire protocol and client: src/SharpMpi/Bootstrap/KvsProtocol.cs and KvsClient.cs.
/// </summary>
/// <remarks>
/// Each connection is served by one task that handles one request at a time (the protocol allows one
/// outstanding request per connection), so replies never need a write lock. The store itself, pending
/// gets and the fence are guarded by <see cref="_lock"/>. A connection that fails authentication is
/// closed and reported through <see cref="Rejected"/>; it never affects the job.
/// </remarks>
internal sealed class KvsServer : IAsyncDisposable
{
    private static readonly TimeSpan s_authTimeout = TimeSpan.FromSeconds(10);

    private readonly TcpListener _listener;
    private readonly string _secretHex;
    private readonly int _size;
    private readonly CancellationTokenSource _stop = new();
    private readonly object _lock = new();
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<TaskCompletionSource<string>>> _waitingGets = new(StringComparer.Ordinal);
    private readonly List<TaskCompletionSource> _fenceWaiters = [];
    private readonly bool[] _connected;
    private readonly List<Task> _connections = [];
    private Task? _acceptLoop;

    /// <summary>Creates a store for a job of <paramref name="size"/> ranks, listening on <paramref name="bindAddress"/> at a free port.</summary>
    public KvsServer(IPAddress bindAddress, int size, string secretHex)
    {
        _size = size;
        _secretHex = secretHex;
        _connected = new bool[size];
        _listener = new TcpListener(bindAddress, 0);
    }

    /// <summary>A rank asked to abort the job: (rank, exit code, message). Raised on a pool thread.</summary>
    public event Action<int, int, string>? Aborted;

    /// <summary>A rank reported what it is blocked in, or "" when it no longer is: (rank, state). Raised on a pool thread.</summary>
    public event Action<int, string>? BlockedChanged;

    /// <summary>A rank finalized (its diagnostics files are written; its process is about to exit): the rank. Raised on a pool thread.</summary>
    public event Action<int>? Finalized;

    /// <summary>A connection was refused (wrong secret, bad rank, garbage): a line for --verbose. Raised on a pool thread.</summary>
    public event Action<string>? Rejected;

    /// <summary><c>host:port</c> for SHARPMPI_KVS.</summary>
    public string Endpoint
    {
        get
        {
            var ep = (IPEndPoint)_listener.LocalEndpoint;
            string host = ep.Address.Equals(IPAddress.Any) ? "127.0.0.1" : ep.Address.Equals(IPAddress.IPv6Any) ? "::1" : ep.Address.ToString();
            return ep.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{host}]:{ep.Port}" : $"{host}:{ep.Port}";
        }
    }

    /// <summary>Starts listening and accepting connections.</summary>
    public void Start()
    {
        _listener.Start();
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>Stops listening and closes every connection (ranks' liveness watches then see EOF).</summary>
    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        Task[] pending;
        lock (_lock)
        {
            pending = [.. _connections];
            foreach (List<TaskCompletionSource<string>> waiters in _waitingGets.Values)
            {
                foreach (TaskCompletionSource<string> w in waiters)
                    w.TrySetCanceled();
            }
            foreach (TaskCompletionSource w in _fenceWaiters)
                w.TrySetCanceled();
        }
        if (_acceptLoop is not null)
            pending = [.. pending, _acceptLoop];
        await Task.WhenAll(pending).ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            socket.NoDelay = true;
            lock (_lock)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(ServeAsync(socket));
            }
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        string peer = socket.RemoteEndPoint?.ToString() ?? "?";
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        int rank = -1;
        try
        {
            rank = await AuthenticateAsync(stream, peer).ConfigureAwait(false);
            if (rank < 0)
                return;
            while (await KvsProtocol.ReadFrameAsync(stream, _stop.Token).ConfigureAwait(false) is KvsFrame request)
            {
                (KvsOp op, string[] fields) = await HandleAsync(rank, request).ConfigureAwait(false);
                await KvsProtocol.WriteFrameAsync(stream, op, fields, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or InvalidDataException or SocketException)
        {
            // The rank died or the job is over: its process exit is what the launcher acts on.
        }
        catch (Exception e) when (e is FormatException or IndexOutOfRangeException)
        {
            Rejected?.Invoke($"KVS connection from {peer} (rank {rank}) sent a malformed request: {e.Message}");
        }
    }

    // Returns the authenticated rank, or -1 after rejecting the connection.
    private async Task<int> AuthenticateAsync(NetworkStream stream, string peer)
    {
        string nonce = KvsProtocol.NewRandomHex();
        await KvsProtocol.WriteFrameAsync(stream, KvsOp.Hello, [KvsProtocol.Magic, nonce], _stop.Token).ConfigureAwait(false);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(s_authTimeout);
        KvsFrame? auth;
        try
        {
            auth = await KvsProtocol.ReadFrameAsync(stream, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or InvalidDataException || (e is OperationCanceledException && !_stop.IsCancellationRequested))
        {
            Rejected?.Invoke($"rejected KVS connection from {peer}: no valid authentication ({e.GetType().Name})");
            return -1;
        }

        if (auth is not { Op: KvsOp.Auth, Fields.Length: 2 } a)
        {
            Rejected?.Invoke($"rejected KVS connection from {peer}: no authentication frame");
            return -1;
        }
        if (!KvsProtocol.VerifyMac(_secretHex, nonce, a.Fields[1]))
        {
            Rejected?.Invoke($"rejected KVS connection from {peer}: wrong secret");
            return -1;
        }
        if (!int.TryParse(a.Fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out int rank) || rank >= _size)
        {
            Rejected?.Invoke($"rejected KVS connection from {peer}: rank '{a.Fields[0]}' is not in 0..{_size - 1}");
            return -1;
        }
        lock (_lock)
        {
            if (_connected[rank])
            {
                Rejected?.Invoke($"rejected KVS connection from {peer}: rank {rank} is already connected");
                return -1;
            }
            _connected[rank] = true;
        }
        await KvsProtocol.WriteFrameAsync(stream, KvsOp.Ok, [], _stop.Token).ConfigureAwait(false);
        return rank;
    }

    private async Task<(KvsOp, string[])> HandleAsync(int rank, KvsFrame request)
    {
        switch (request.Op)
        {
            case KvsOp.Put:
                Put(request.Field(0), request.Field(1));
                return (KvsOp.Ok, []);
            case KvsOp.Get:
                return (KvsOp.Ok, [await GetAsync(request.Field(0)).ConfigureAwait(false)]);
            case KvsOp.Fence:
                await FenceAsync().ConfigureAwait(false);
                return (KvsOp.Ok, []);
            case KvsOp.Abort:
                int code = int.TryParse(request.Field(0), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int c) ? c : 1;
                Aborted?.Invoke(rank, code, request.Fields.Length > 1 ? request.Fields[1] : "");
                return (KvsOp.Ok, []);
            case KvsOp.Finalize:
                Finalized?.Invoke(rank);
                return (KvsOp.Ok, []);
            case KvsOp.Blocked:
                BlockedChanged?.Invoke(rank, request.Field(0));
                return (KvsOp.Ok, []);
            default:
                return (KvsOp.Error, [$"unknown request {(int)request.Op}"]);
        }
    }

    private void Put(string key, string value)
    {
        List<TaskCompletionSource<string>>? waiters;
        lock (_lock)
        {
            _values[key] = value;
            _waitingGets.Remove(key, out waiters);
        }
        // Completed outside the lock: continuations may run inline.
        foreach (TaskCompletionSource<string> w in waiters ?? [])
            w.TrySetResult(value);
    }

    private Task<string> GetAsync(string key)
    {
        lock (_lock)
        {
            if (_values.TryGetValue(key, out string? value))
                return Task.FromResult(value);
            var waiter = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_waitingGets.TryGetValue(key, out List<TaskCompletionSource<string>>? list))
                _waitingGets[key] = list = [];
            list.Add(waiter);
            return waiter.Task;
        }
    }

    // Every rank has exactly one fence outstanding at most (one request per connection), so the
    // fence is complete when the number of waiters reaches the job size; the next fence starts empty.
    private Task FenceAsync()
    {
        TaskCompletionSource[] release;
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            _fenceWaiters.Add(waiter);
            if (_fenceWaiters.Count < _size)
                return waiter.Task;
            release = [.. _fenceWaiters];
            _fenceWaiters.Clear();
        }
        foreach (TaskCompletionSource w in release)
            w.TrySetResult();
        return waiter.Task;
    }
}
