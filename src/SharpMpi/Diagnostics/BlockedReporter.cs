using System.Diagnostics;
using SharpMpi.Engine;

namespace SharpMpi.Diagnostics;

/// <summary>
/// Tells the launcher when a thread of this rank has been blocked in MPI for longer than a threshold, and
/// when it is no longer blocked. Called only from the sleep phase of <see cref="ProgressEngine.WaitUntil"/>,
/// so fast operations never reach it. A rank counts as blocked while any of its threads is.
/// </summary>
internal sealed class BlockedReporter(Action<string> send, int thresholdMilliseconds)
{
    private readonly object _lock = new();
    private readonly Dictionary<int, string> _blocked = new();
    private string _last = "";

    /// <summary>How long a wait lasts before it is reported.</summary>
    public long ThresholdTicks { get; } = thresholdMilliseconds * Stopwatch.Frequency / 1000;

    /// <summary>The calling thread is blocked in <paramref name="state"/> (already described).</summary>
    public void Blocked(BlockedState state)
    {
        lock (_lock)
        {
            _blocked[Environment.CurrentManagedThreadId] = state.Encode();
            Publish();
        }
    }

    /// <summary>The calling thread's wait is over.</summary>
    public void Unblocked()
    {
        lock (_lock)
        {
            if (_blocked.Remove(Environment.CurrentManagedThreadId))
                Publish();
        }
    }

    // One state per rank: the most recent thread's wait (a rank is blocked while any thread is).
    private void Publish()
    {
        string now = _blocked.Count == 0 ? "" : _blocked.Values.Last();
        if (now == _last)
            return;
        _last = now;
        try
        {
            send(now);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or InvalidDataException or ObjectDisposedException)
        {
            // The launcher is going away; nothing to report to.
        }
    }
}
