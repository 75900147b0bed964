using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using SharpMpi.Transport;

namespace SharpMpi.Engine;

/// <summary>
/// One rank's message engine: matching, the eager / rendezvous / synchronous protocols, the out queues
/// that hold frames a transport had no room for, and the wait policy. Like MPICH's global critical
/// section, one lock guards all of it; polling takes it with a try-lock, so threads that find it busy
/// simply check their own request again. Transports are reached only from here.
/// </summary>
internal sealed unsafe partial class ProgressEngine : IFrameSink, IDisposable
{
    // Released with a plain store: see EngineLock for why not System.Threading.Lock.
    private readonly EngineLock _lock = new();
    private readonly ITransport[] _routes;
    private readonly ITransport[] _transports;
    private readonly OutQueue?[] _outQueues;
    private readonly Stack<RequestCore> _requestPool = new();
    private readonly Stack<UnexpectedMessage> _unexpectedPool = new();
    private readonly Dictionary<long, RequestCore> _awaitingReply = new();
    private readonly Dictionary<long, RequestCore> _streamingReceives = new();
    private readonly WaitPolicy _waitPolicy;
    private MatchQueues?[] _contexts = new MatchQueues?[16];
    private int _pendingOut;
    private long _nextRequestId;
    private volatile Exception? _abortReason;
    private bool _disposed;

    /// <param name="worldRank">This rank.</param>
    /// <param name="routes">Transport for each world rank (index = world rank).</param>
    /// <param name="doorbell">Where this rank sleeps; every transport that delivers to it rings it.</param>
    /// <param name="waitPolicy">Spin / yield / sleep thresholds.</param>
    public ProgressEngine(int worldRank, ITransport[] routes, Doorbell doorbell, WaitPolicy waitPolicy)
    {
        WorldRank = worldRank;
        WorldSize = routes.Length;
        _routes = routes;
        var distinct = new List<ITransport>();
        foreach (var t in routes)
        {
            if (!distinct.Contains(t))
                distinct.Add(t);
        }
        _transports = distinct.ToArray();
        _outQueues = new OutQueue?[routes.Length];
        Doorbell = doorbell;
        _waitPolicy = waitPolicy;
        MpiDiagnostics.Track(this);
    }

    public int WorldRank { get; }

    public int WorldSize { get; }

    public Doorbell Doorbell { get; }

    /// <summary>The transport serving world rank <paramref name="worldRank"/>.</summary>
    public ITransport RouteTo(int worldRank) => _routes[worldRank];

    /// <summary>Set once the job is aborting; every wait then throws it.</summary>
    public Exception? AbortReason => _abortReason;

    // ---------------------------------------------------------------- pools

    private RequestCore RentLocked()
    {
        var r = _requestPool.Count > 0 ? _requestPool.Pop() : new RequestCore(this);
        r.Reset(++_nextRequestId);
        return r;
    }

    /// <summary>Returns a consumed request to the pool.</summary>
    public void Return(RequestCore request)
    {
        // Bump the version now, so a stale Request copy fails its check instead of reusing a pooled core.
        request.Release();
        using (_lock.EnterScope())
        {
            if (_requestPool.Count < 1024)
                _requestPool.Push(request);
        }
    }

    /// <summary>A detached request (nobody will consume it) completed: recycle it. Called under the lock.</summary>
    public void ReturnDetached(RequestCore request)
    {
        request.Release();
        if (_requestPool.Count < 1024)
            _requestPool.Push(request);
    }

    private UnexpectedMessage RentUnexpected() =>
        _unexpectedPool.Count > 0 ? _unexpectedPool.Pop() : new UnexpectedMessage();

    private void ReturnUnexpected(UnexpectedMessage m)
    {
        if (m.Data is not null)
        {
            ArrayPool<byte>.Shared.Return(m.Data);
            m.Data = null;
        }
        m.Claimed = false;
        if (_unexpectedPool.Count < 1024)
            _unexpectedPool.Push(m);
    }

    private MatchQueues ContextQueues(int context)
    {
        if ((uint)context >= (uint)_contexts.Length)
            Array.Resize(ref _contexts, Math.Max(context + 1, _contexts.Length * 2));
        return _contexts[context] ??= new MatchQueues();
    }

    /// <summary>Number of unexpected messages on a context (diagnostics and tests).</summary>
    public int UnexpectedCount(int context)
    {
        using (_lock.EnterScope())
            return ContextQueues(context).UnexpectedCount;
    }

    // ---------------------------------------------------------------- progress

    /// <summary>Polls every transport and drains out queues. Caller holds the lock.</summary>
    private int ProgressLocked()
    {
        if (_pendingOut > 0)
            DrainOutQueues();
        int n = 0;
        foreach (var t in _transports)
            n += t.Poll(this);
        if (_pendingOut > 0)
            DrainOutQueues();
        if (_pendingFailureRank >= 0 && _abortReason is null)
            PeerFailed(_pendingFailureRank, _pendingFailureReason ?? "connection lost");
        return n;
    }

    /// <summary>One progress step if nobody else is making progress right now.</summary>
    public void TryProgress()
    {
        if (_lock.TryEnter())
        {
            try
            {
                if (!_disposed)
                    ProgressLocked();
            }
            finally
            {
                _lock.Exit();
            }
        }
    }

    /// <summary>True when a poll could do something: input waiting, frames queued, or an abort.</summary>
    public bool HasWork()
    {
        if (_pendingOut > 0 || _abortReason is not null || _pendingFailureRank >= 0)
            return true;
        foreach (var t in _transports)
        {
            if (t.HasPendingInput)
                return true;
        }
        return false;
    }

    /// <summary>Cheap, side-effect-free: false only when a poll would certainly do nothing.</summary>
    private bool MayHaveWork()
    {
        if (_pendingOut > 0 || _abortReason is not null || _pendingFailureRank >= 0)
            return true;
        foreach (var t in _transports)
        {
            if (t.MayHaveInput)
                return true;
        }
        return false;
    }

    /// <summary>Wakes threads of this rank that sleep on the doorbell (after a local completion).</summary>
    public void WakeLocalSleepers() => Doorbell.Ring();

    /// <summary>
    /// Makes what <see cref="WaitUntil{T}"/> needs to sleep with a <typeparamref name="T"/> state now, so a wait
    /// that first goes to sleep late in a run allocates nothing then.
    /// </summary>
    public static void PrepareWait<T>() => GC.KeepAlive(SleepCheck<T>.Func);

    private sealed class SleepCheck<T>
    {
        public static readonly Func<(ProgressEngine Engine, Func<T, bool> Done, T State), bool> Func =
            static s => s.Done(s.State) || s.Engine.HasWork();
    }

    /// <summary>
    /// Makes progress until <paramref name="done"/> holds: spin (polling) briefly, then poll and yield, then
    /// sleep on the doorbell with a timeout, so a rank that waits long costs next to no CPU while a rank
    /// whose partner answers within microseconds never pays for a kernel wake-up.
    /// <paramref name="done"/> may be called again after it returned true (the sleep check calls it as
    /// well), so a predicate that takes something must keep it and keep answering true.
    /// </summary>
    public void WaitUntil<T>(Func<T, bool> done, T state)
    {
        if (done(state))
            return;
        long phaseStart = Stopwatch.GetTimestamp();
        long waitStart = phaseStart;
        bool slept = false, reported = false;
        int spins = 0;
        while (true)
        {
            ThrowIfAborted();
            // While spinning, skip the lock and the poll when no transport has anything: the check is a few
            // memory reads, so a message is noticed within tens of nanoseconds of its arrival. That holds on
            // the first pass too: right after a send, taking the lock (an interlocked instruction) would first
            // wait for the frame's cache line to reach the peer (see EngineLock).
            if (slept || MayHaveWork())
                TryProgress();
            if (done(state))
            {
                WaitEnded(waitStart, reported);
                return;
            }
            if (slept)
            {
                // Still waiting after a long sleep and a poll: is the partner alive at all?
                slept = false;
                CheckPeers();
                reported = reported || MaybeReportBlocked(state, waitStart);
                continue;
            }
            // Reading the clock costs about as much as a poll: look at it every few spins only.
            if ((++spins & 15) != 0 && _waitPolicy.SpinTicks > 0)
            {
                SpinPause();
                continue;
            }
            long elapsed = Stopwatch.GetTimestamp() - phaseStart;
            if (elapsed < _waitPolicy.SpinTicks)
            {
                SpinPause();
                continue;
            }
            if (elapsed < _waitPolicy.YieldTicks)
            {
                Thread.Yield();
                continue;
            }
            Doorbell.Sleep(SleepCheck<T>.Func, (this, done, state), _waitPolicy.SleepMicroseconds);
            phaseStart = Stopwatch.GetTimestamp();
            slept = true;
        }
    }

    /// <summary>
    /// One pause between polls. Thread.SpinWait(1) is a call into the runtime that switches GC modes, about
    /// a tenth of a small exchange's time; the pause instruction itself is what a spinning core needs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SpinPause()
    {
        if (X86Base.IsSupported)
            X86Base.Pause();
        else if (ArmBase.IsSupported)
            ArmBase.Yield();
        else
            Thread.SpinWait(1);
    }

    /// <summary>After a long sleep: has a peer died? (Without a launcher nobody else would tell us.)</summary>
    private void CheckPeers()
    {
        foreach (var t in _transports)
        {
            if (t.TryFindFailedPeer(out int peer, out string reason))
            {
                PeerFailed(peer, reason);
                return;
            }
        }
    }

    private static readonly Func<RequestCore, bool> s_isCompleted = static r => r.IsCompleted;

    /// <summary>Waits for <paramref name="request"/> to complete (does not consume it).</summary>
    public void Wait(RequestCore request)
    {
        if (!request.IsCompleted)
            WaitUntil(s_isCompleted, request);
    }

    /// <summary>Waits, returns the status (or throws the request's error) and returns the request to the pool.</summary>
    public Status WaitAndRelease(RequestCore request)
    {
        try
        {
            if (!request.IsCompleted)
                WaitUntil(s_isCompleted, request);
            return request.ResultOrThrow();
        }
        finally
        {
            if (request.IsCompleted)
                Return(request);
        }
    }

    private void ThrowIfAborted()
    {
        var reason = _abortReason;
        if (reason is null)
            return;
        if (reason is MpiProcessFailedException failed)
            throw new MpiProcessFailedException(failed.FailedRank, failed.Message);
        throw new MpiAbortedException(reason.Message, reason);
    }

    /// <summary>
    /// A transport lost world rank <paramref name="worldRank"/> (connection closed without goodbye, process
    /// gone). Errors are fatal by default, as MPI_ERRORS_ARE_FATAL on World: every pending and later
    /// operation of this rank fails with <see cref="MpiProcessFailedException"/> naming the dead rank, so
    /// nothing hangs, and <see cref="MpiEnvironment.Run(string[], Func{Communicator, Task})"/> aborts the job.
    /// </summary>
    /// <summary>
    /// A transport noticed that <paramref name="worldRank"/> died, possibly in the middle of a send or a poll
    /// (under the engine lock): remember it and act at the end of the current progress step, when no queue
    /// is being walked.
    /// </summary>
    public void ReportPeerFailure(int worldRank, string reason)
    {
        if (_pendingFailureRank < 0)
        {
            _pendingFailureReason = reason;
            _pendingFailureRank = worldRank;
        }
        Doorbell.Ring();
    }

    private int _pendingFailureRank = -1;
    private string? _pendingFailureReason;

    /// <summary>Fails everything because of a peer's death. See <see cref="ReportPeerFailure"/>.</summary>
    public void PeerFailed(int worldRank, string reason) =>
        Abort(new MpiProcessFailedException(worldRank, $"rank {worldRank} failed: {reason}"));

    /// <summary>
    /// Aborts this rank's communication: every pending request fails and every wait throws. Used when the job
    /// is being torn down (a rank of an in-process job failed, or the launcher asked).
    /// </summary>
    public void Abort(Exception reason)
    {
        using (_lock.EnterScope())
        {
            if (_abortReason is not null)
                return;
            _abortReason = reason;
            Exception error = reason is MpiProcessFailedException failed
                ? new MpiProcessFailedException(failed.FailedRank, failed.Message)
                : new MpiAbortedException(reason.Message, reason);
            foreach (var r in _awaitingReply.Values)
                r.Fail(error);
            _awaitingReply.Clear();
            foreach (var r in _streamingReceives.Values)
                r.Fail(error);
            _streamingReceives.Clear();
            foreach (var q in _contexts)
            {
                while (q?.TakePosted(Communicator.AnySource, Communicator.AnyTag) is { } posted)
                    posted.Fail(error);
            }
            for (int peer = 0; peer < _outQueues.Length; peer++)
            {
                var oq = _outQueues[peer];
                while (oq is not null && oq.Count > 0)
                {
                    oq.Peek().Request?.Fail(error);
                    oq.Dequeue();
                }
            }
            _pendingOut = 0;
        }
        Doorbell.Ring();
        Interlocked.Increment(ref _asyncWaiters);
        _progressSignal.Release();
    }

    public void Dispose()
    {
        using (_lock.EnterScope())
        {
            if (_disposed)
                return;
            _disposed = true;
        }
        StopProgressThread();
        foreach (var t in _transports)
            t.Dispose();
    }
}
