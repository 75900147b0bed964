using System.Runtime.CompilerServices;
using SharpMpi.Engine;

namespace SharpMpi;

/// <summary>
/// A nonblocking operation in flight. A small struct over a pooled completion source: <c>await</c> it,
/// <see cref="Wait()"/> for it, or <see cref="Test(out Status)"/> it. Completing it (Wait, a successful
/// Test, or an await) releases it, like MPI sets a request to MPI_REQUEST_NULL: using a released copy
/// again throws <see cref="InvalidOperationException"/>. The default value is the null request, which is
/// always complete with an empty status.
/// </summary>
public readonly struct Request
{
    private readonly RequestCore? _core;
    private readonly short _version;

    internal Request(RequestCore core)
    {
        _core = core;
        _version = core.Version;
    }

    /// <summary>True for the null request (default value, or an operation on ProcNull that never started).</summary>
    public bool IsNull => _core is null;

    /// <summary>True when the operation has completed (does not release the request).</summary>
    public bool IsCompleted => _core is null || (Check() && _core.IsCompleted);

    internal RequestCore? Core => _core;

    private bool Check()
    {
        if (_core!.Version != _version)
            throw new InvalidOperationException("This request has already completed and been released (waited, tested true, or awaited).");
        return true;
    }

    /// <summary>Blocks until the operation completes and returns its status (MPI_Wait).</summary>
    /// <exception cref="MpiException">The operation failed (for example <see cref="ErrorClass.Truncate"/>).</exception>
    public Status Wait()
    {
        if (_core is null)
            return default;
        Check();
        if (_core.Engine.Recorder is { } recorder)
            return Diagnostics.RequestTracing.Wait(recorder, _core, "Wait");
        return _core.Engine.WaitAndRelease(_core);
    }

    /// <summary>Blocks until the operation completes or <paramref name="cancellationToken"/> fires (MPI_Wait).</summary>
    /// <exception cref="OperationCanceledException">The token fired first; the operation is still in flight.</exception>
    public Status Wait(CancellationToken cancellationToken)
    {
        if (_core is null)
            return default;
        Check();
        if (!cancellationToken.CanBeCanceled)
            return _core.Engine.WaitAndRelease(_core);
        _core.Engine.WaitUntil(static s => s.Core.IsCompleted || s.Token.IsCancellationRequested, (Core: _core, Token: cancellationToken));
        cancellationToken.ThrowIfCancellationRequested();
        return _core.Engine.WaitAndRelease(_core);
    }

    /// <summary>Makes progress once; when the operation is complete, releases it and returns true (MPI_Test).</summary>
    public bool Test(out Status status)
    {
        if (_core is null)
        {
            status = default;
            return true;
        }
        Check();
        if (!_core.IsCompleted)
            _core.Engine.TryProgress();
        if (!_core.IsCompleted)
        {
            status = default;
            return false;
        }
        status = _core.Engine.Recorder is { } recorder
            ? Diagnostics.RequestTracing.Wait(recorder, _core, "Test")
            : _core.Engine.WaitAndRelease(_core);
        return true;
    }

    /// <summary>Returns the status without releasing the request (MPI_Request_get_status); false while in flight.</summary>
    public bool GetStatus(out Status status)
    {
        status = default;
        if (_core is null)
            return true;
        Check();
        if (!_core.IsCompleted)
            _core.Engine.TryProgress();
        if (!_core.IsCompleted)
            return false;
        status = _core.Status;
        return true;
    }

    /// <summary>
    /// Cancels a receive that has not matched yet; its status then has <see cref="Status.IsCancelled"/> set.
    /// Returns false when it already matched (or for sends, which complete normally). Still Wait for it.
    /// </summary>
    public bool Cancel()
    {
        if (_core is null)
            return false;
        Check();
        return _core.Engine.CancelReceive(_core);
    }

    /// <summary>The request as a <see cref="ValueTask{Status}"/> (awaiting it releases the request).</summary>
    public ValueTask<Status> AsValueTask()
    {
        if (_core is null)
            return ValueTask.FromResult(default(Status));
        return new ValueTask<Status>(_core, _version);
    }

    /// <summary>The request as a <see cref="Task{Status}"/>.</summary>
    public Task<Status> AsTask() => AsValueTask().AsTask();

    /// <summary>Lets <c>await request</c> work (MPI_Wait without blocking a thread).</summary>
    public ValueTaskAwaiter<Status> GetAwaiter() => AsValueTask().GetAwaiter();

    // ------------------------------------------------------------------ many requests

    /// <summary>Waits for every request (MPI_Waitall) and sets each entry to the null request.</summary>
    /// <exception cref="MpiException">The first failure, after every request has completed.</exception>
    public static void WaitAll(params Span<Request> requests) => WaitAll(requests, default);

    /// <summary>Waits for every request, storing statuses, and sets each entry to the null request.</summary>
    public static void WaitAll(Span<Request> requests, Span<Status> statuses)
    {
        if (!statuses.IsEmpty && statuses.Length < requests.Length)
            throw new ArgumentException($"statuses has {statuses.Length} entries for {requests.Length} requests.", nameof(statuses));
        Exception? first = null;
        for (int i = 0; i < requests.Length; i++)
        {
            try
            {
                var s = requests[i].Wait();
                if (!statuses.IsEmpty)
                    statuses[i] = s;
            }
            catch (MpiException e)
            {
                first ??= e;
            }
            requests[i] = default;
        }
        if (first is not null)
            throw first;
    }

    /// <summary>True when every request is complete; then releases them all (MPI_Testall).</summary>
    public static bool TestAll(Span<Request> requests)
    {
        foreach (var r in requests)
        {
            if (!r.IsCompleted)
            {
                r._core!.Engine.TryProgress();
                if (!r.IsCompleted)
                    return false;
            }
        }
        WaitAll(requests);
        return true;
    }

    [ThreadStatic]
    private static int t_rotation;

    /// <summary>
    /// Waits until one request completes, releases it, sets its entry to the null request and returns its
    /// index (MPI_Waitany); -1 when all are null. Scanning starts at a rotating position so no request starves.
    /// </summary>
    public static int WaitAny(Request[] requests, out Status status)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var engine = FirstEngine(requests);
        if (engine is null)
        {
            status = default;
            return -1;
        }
        engine.WaitUntil(static r => FindCompleted(r, out _), requests);
        FindCompleted(requests, out int index);
        status = requests[index].Wait();
        requests[index] = default;
        return index;
    }

    /// <summary>If a request is complete, releases it and returns true with its index (MPI_Testany).</summary>
    public static bool TestAny(Request[] requests, out int index, out Status status)
    {
        ArgumentNullException.ThrowIfNull(requests);
        FirstEngine(requests)?.TryProgress();
        if (FindCompleted(requests, out index))
        {
            status = requests[index].Wait();
            requests[index] = default;
            return true;
        }
        status = default;
        return false;
    }

    /// <summary>
    /// Waits until at least one request completes, then releases every completed one and returns their
    /// indices (MPI_Waitsome); empty when all are null.
    /// </summary>
    public static int[] WaitSome(Request[] requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var engine = FirstEngine(requests);
        if (engine is null)
            return [];
        engine.WaitUntil(static r => FindCompleted(r, out _), requests);
        return TestSome(requests);
    }

    /// <summary>Releases every completed request and returns their indices (MPI_Testsome).</summary>
    public static int[] TestSome(Request[] requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        FirstEngine(requests)?.TryProgress();
        var done = new List<int>();
        for (int i = 0; i < requests.Length; i++)
        {
            if (!requests[i].IsNull && requests[i].IsCompleted)
            {
                requests[i].Wait();
                requests[i] = default;
                done.Add(i);
            }
        }
        return done.ToArray();
    }

    /// <summary>A task that completes when every request has (their statuses in order).</summary>
    public static Task<Status[]> WhenAll(params Request[] requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var tasks = new Task<Status>[requests.Length];
        for (int i = 0; i < requests.Length; i++)
            tasks[i] = requests[i].AsTask();
        return Task.WhenAll(tasks);
    }

    /// <summary>A task that completes with the index of the first request to complete.</summary>
    public static async Task<int> WhenAny(params Request[] requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var tasks = new Task<Status>[requests.Length];
        for (int i = 0; i < requests.Length; i++)
            tasks[i] = requests[i].AsTask();
        var first = await Task.WhenAny(tasks).ConfigureAwait(false);
        return Array.IndexOf(tasks, first);
    }

    private static ProgressEngine? FirstEngine(Request[] requests)
    {
        foreach (var r in requests)
        {
            if (r._core is not null)
                return r._core.Engine;
        }
        return null;
    }

    private static bool FindCompleted(Request[] requests, out int index)
    {
        int n = requests.Length;
        int start = n == 0 ? 0 : (int)((uint)t_rotation++ % (uint)n);
        for (int k = 0; k < n; k++)
        {
            int i = (start + k) % n;
            if (!requests[i].IsNull && requests[i].IsCompleted)
            {
                index = i;
                return true;
            }
        }
        index = -1;
        return false;
    }
}
