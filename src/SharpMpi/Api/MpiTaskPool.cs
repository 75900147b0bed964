using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace SharpMpi;

/// <summary>A task run by <see cref="MpiTaskPool"/> threw on its worker rank.</summary>
public sealed class MpiTaskException(string message) : Exception(message);

/// <summary>
/// An executor over MPI ranks, in the style of mpi4py's <c>MPIPoolExecutor</c>: rank <see cref="MasterRank"/>
/// submits calls of named functions, the other ranks run them. Every rank registers the same functions
/// (the program is the same everywhere), then workers call <see cref="RunWorker"/> and the master awaits
/// <see cref="SubmitAsync{TArgument, TResult}"/> or <see cref="MapAsync{TArgument, TResult}"/>. Work is
/// handed to the least busy worker; at most <c>maxInFlightPerWorker</c> calls wait at each worker, and
/// further submissions wait for room (backpressure) instead of piling up.
/// </summary>
public sealed class MpiTaskPool : IAsyncDisposable
{
    /// <summary>Rank that submits work.</summary>
    public const int MasterRank = 0;

    private const int TaskTag = 32_001;
    private const int ResultTag = 32_002;

    private readonly Communicator _comm;
    private readonly Dictionary<string, Func<byte[], byte[]>> _functions = new(StringComparer.Ordinal);
    private readonly int _maxInFlight;
    private readonly ConcurrentDictionary<long, TaskCompletionSource<byte[]>> _pending = new();
    private readonly int[] _inFlight;
    private readonly SemaphoreSlim _capacity;
    private readonly object _dispatchLock = new();
    private Task? _resultLoop;
    private long _nextId;
    private bool _shutDown;

    /// <summary>Creates the pool on <paramref name="comm"/> (needs at least 2 ranks).</summary>
    public MpiTaskPool(Communicator comm, int maxInFlightPerWorker = 2)
    {
        ArgumentNullException.ThrowIfNull(comm);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxInFlightPerWorker, 1);
        if (comm.Size < 2)
            throw new ArgumentException("An MpiTaskPool needs at least two ranks: one master and one worker.", nameof(comm));
        _comm = comm;
        _maxInFlight = maxInFlightPerWorker;
        _inFlight = new int[comm.Size];
        _capacity = new SemaphoreSlim((comm.Size - 1) * maxInFlightPerWorker);
    }

    /// <summary>True on the rank that submits work.</summary>
    public bool IsMaster => _comm.Rank == MasterRank;

    /// <summary>Registers <paramref name="function"/> under <paramref name="name"/>. Call it on every rank.</summary>
    public void Register<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] TArgument, TResult>(string name, Func<TArgument, TResult> function)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(function);
        var serializer = _comm.Environment.Serializer;
        _functions[name] = bytes =>
        {
            var argument = serializer.Deserialize<TArgument>(bytes);
            var result = function(argument!);
            var writer = new System.Buffers.ArrayBufferWriter<byte>();
            serializer.Serialize(writer, result);
            return writer.WrittenSpan.ToArray();
        };
    }

    /// <summary>Runs <paramref name="name"/>(<paramref name="argument"/>) on a worker and returns its result.</summary>
    /// <exception cref="MpiTaskException">The function threw on the worker.</exception>
    public async Task<TResult> SubmitAsync<TArgument, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] TResult>(string name, TArgument argument, CancellationToken cancellationToken = default)
    {
        if (!IsMaster)
            throw new InvalidOperationException($"Only rank {MasterRank} submits work; rank {_comm.Rank} should call RunWorker().");
        if (!_functions.ContainsKey(name))
            throw new ArgumentException($"No function named '{name}' is registered.", nameof(name));
        ObjectDisposedException.ThrowIf(_shutDown, this);
        var serializer = _comm.Environment.Serializer;
        var writer = new System.Buffers.ArrayBufferWriter<byte>();
        serializer.Serialize(writer, argument);
        byte[] payload = writer.WrittenSpan.ToArray();

        await _capacity.WaitAsync(cancellationToken).ConfigureAwait(false);
        long id = Interlocked.Increment(ref _nextId);
        var completion = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = completion;
        int worker;
        lock (_dispatchLock)
        {
            _resultLoop ??= Task.Run(ReceiveResultsAsync);
            worker = 1;
            for (int r = 2; r < _comm.Size; r++)
            {
                if (_inFlight[r] < _inFlight[worker])
                    worker = r;
            }
            _inFlight[worker]++;
        }
        _comm.SendObject((id, name, payload), worker, TaskTag);
        byte[] result = await completion.Task.ConfigureAwait(false);
        return serializer.Deserialize<TResult>(result)!;
    }

    /// <summary>Runs <paramref name="name"/> on every argument, spread over the workers; results in input order.</summary>
    public async Task<TResult[]> MapAsync<TArgument, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] TResult>(string name, IEnumerable<TArgument> arguments, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var tasks = new List<Task<TResult>>();
        foreach (var a in arguments)
            tasks.Add(SubmitAsync<TArgument, TResult>(name, a, cancellationToken));
        return await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    private async Task ReceiveResultsAsync()
    {
        while (true)
        {
            var (id, worker, ok, payload, error) = (await _comm.ReceiveObjectAsync<(long, int, bool, byte[], string)>(Communicator.AnySource, ResultTag).ConfigureAwait(false));
            if (id == 0)
                return; // shutdown marker sent by the master to itself
            lock (_dispatchLock)
                _inFlight[worker]--;
            _capacity.Release();
            if (_pending.TryRemove(id, out var completion))
            {
                if (ok)
                    completion.SetResult(payload);
                else
                    completion.SetException(new MpiTaskException($"rank {worker}: {error}"));
            }
        }
    }

    /// <summary>Serves the master's calls until it shuts the pool down. Call it on every worker rank.</summary>
    public void RunWorker()
    {
        if (IsMaster)
            throw new InvalidOperationException("The master rank submits work; only the other ranks call RunWorker().");
        while (true)
        {
            var (id, name, payload) = _comm.ReceiveObject<(long, string, byte[])>(MasterRank, TaskTag);
            if (id == 0)
                return;
            try
            {
                byte[] result = _functions[name](payload);
                _comm.SendObject((id, _comm.Rank, true, result, ""), MasterRank, ResultTag);
            }
            catch (Exception e)
            {
                _comm.SendObject((id, _comm.Rank, false, Array.Empty<byte>(), $"{e.GetType().Name}: {e.Message}"), MasterRank, ResultTag);
            }
        }
    }

    /// <summary>On the master: waits for outstanding work and stops every worker. On a worker: nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!IsMaster || _shutDown)
            return;
        _shutDown = true;
        foreach (var pending in _pending.Values)
        {
            try
            {
                await pending.Task.ConfigureAwait(false);
            }
            catch (MpiTaskException)
            {
                // Reported to whoever submitted it.
            }
        }
        for (int r = 1; r < _comm.Size; r++)
            _comm.SendObject((0L, "", Array.Empty<byte>()), r, TaskTag);
        if (_resultLoop is not null)
        {
            _comm.SendObject((0L, 0, true, Array.Empty<byte>(), ""), MasterRank, ResultTag);
            await _resultLoop.ConfigureAwait(false);
        }
        _capacity.Dispose();
    }
}
