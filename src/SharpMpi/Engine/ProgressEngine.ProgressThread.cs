namespace SharpMpi.Engine;

/// <summary>
/// The background progress thread. It runs only while someone awaits a request (or when asked for always,
/// SHARPMPI_ASYNC_PROGRESS=1), so awaited operations and large transfers complete while the application
/// computes or makes no MPI call. It never spins: it polls, then sleeps on the doorbell. Continuations of
/// completed requests run on the thread pool (RunContinuationsAsynchronously), never on this thread.
/// </summary>
internal sealed partial class ProgressEngine
{
    private readonly SemaphoreSlim _progressSignal = new(0);
    private Thread? _progressThread;
    private int _asyncWaiters;
    private volatile bool _stopProgress;
    private bool _alwaysProgress;

    private static readonly Func<ProgressEngine, bool> s_hasWork = static e => e.HasWork() || e._stopProgress;

    /// <summary>Keeps the progress thread running for the whole life of the engine.</summary>
    public void EnableAsyncProgress()
    {
        _alwaysProgress = true;
        EnsureProgressThread();
        _progressSignal.Release();
    }

    public void AsyncWaiterAdded()
    {
        if (Interlocked.Increment(ref _asyncWaiters) == 1)
        {
            EnsureProgressThread();
            _progressSignal.Release();
        }
    }

    public void AsyncWaiterDone() => Interlocked.Decrement(ref _asyncWaiters);

    private void EnsureProgressThread()
    {
        if (_progressThread is not null)
            return;
        lock (_progressSignal)
        {
            if (_progressThread is not null)
                return;
            var t = new Thread(ProgressLoop) { IsBackground = true, Name = $"sharpmpi-progress-{WorldRank}" };
            t.Start();
            _progressThread = t;
        }
    }

    private void ProgressLoop()
    {
        while (!_stopProgress)
        {
            if (Volatile.Read(ref _asyncWaiters) <= 0 && !_alwaysProgress)
            {
                _progressSignal.Wait(200);
                continue;
            }
            if (_abortReason is not null)
            {
                // Everything pending has been failed; nothing left to drive.
                _progressSignal.Wait(200);
                continue;
            }
            TryProgress();
            if (_pendingOut > 0)
                Thread.Yield();
            else
                Doorbell.Sleep(s_hasWork, this, 20_000);
        }
    }

    private void StopProgressThread()
    {
        _stopProgress = true;
        _progressSignal.Release();
        Doorbell.Ring();
        var t = _progressThread;
        if (t is not null && t != Thread.CurrentThread)
            t.Join(TimeSpan.FromSeconds(5));
        _progressSignal.Dispose();
    }
}
