using System.Diagnostics;
using System.Runtime.CompilerServices;
using SharpMpi.Diagnostics;
using SharpMpi.Transport;

namespace SharpMpi.Engine;

/// <summary>Hooks for tracing, profiling, metrics and the launcher's deadlock detector.</summary>
internal sealed partial class ProgressEngine
{
    private readonly Dictionary<int, WeakReference<Communicator>> _communicators = new();

    /// <summary>Records MPI calls for --trace/--profile; null (the usual case) when neither is on.</summary>
    public CallRecorder? Recorder { get; set; }

    /// <summary>Reports long waits to the launcher's deadlock detector; null when detection is off.</summary>
    public BlockedReporter? BlockedReporter { get; set; }

    /// <summary>Lets diagnostics name a communicator and map its ranks from a context id.</summary>
    public void RegisterCommunicator(Communicator comm)
    {
        lock (_communicators)
            _communicators[comm.P2PContext] = new WeakReference<Communicator>(comm);
    }

    /// <summary>Waits for a receive to complete when recording (its flow number is set at the match); -1 otherwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long FlowSequence(RequestCore request, CallRecorder? recorder)
    {
        if (recorder is null)
            return -1;
        Wait(request);
        return request.FlowSeq;
    }

    /// <summary>The communicator whose point-to-point or collective context is <paramref name="context"/>, if still alive.</summary>
    public Communicator? CommunicatorFor(int context) => CommunicatorOf(context);

    private Communicator? CommunicatorOf(int context)
    {
        lock (_communicators)
            return _communicators.TryGetValue(context & ~1, out var w) && w.TryGetTarget(out var c) ? c : null;
    }

    /// <summary>Unexpected messages on every context (the metrics gauge).</summary>
    public int TotalUnexpected()
    {
        using (_lock.EnterScope())
        {
            int n = 0;
            foreach (var q in _contexts)
                n += q?.UnexpectedCount ?? 0;
            return n;
        }
    }

    /// <summary>Short transport name for metric tags.</summary>
    internal static string TransportName(ITransport transport) => transport.Name;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CountSent(ITransport transport, long bytes)
    {
        if (MpiDiagnostics.MessagesSent.Enabled || MpiDiagnostics.BytesSent.Enabled)
            MpiDiagnostics.Sent(transport.Name, bytes);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CountReceived(int peer, long bytes)
    {
        if (MpiDiagnostics.MessagesReceived.Enabled || MpiDiagnostics.BytesReceived.Enabled)
            MpiDiagnostics.Received(_routes[peer].Name, bytes);
    }

    /// <summary>End of a wait: the histogram (when listened to) and, if it was reported, the all-clear.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WaitEnded(long waitStart, bool reported)
    {
        if (reported)
            BlockedReporter?.Unblocked();
        if (MpiDiagnostics.WaitTime.Enabled)
            MpiDiagnostics.WaitTime.Record(Stopwatch.GetElapsedTime(waitStart).TotalSeconds);
    }

    /// <summary>After a sleep: report the wait if it has lasted long enough. Returns true once reported.</summary>
    private bool MaybeReportBlocked<T>(T state, long waitStart)
    {
        var reporter = BlockedReporter;
        if (reporter is null || Stopwatch.GetTimestamp() - waitStart < reporter.ThresholdTicks)
            return false;
        reporter.Blocked(Describe(state));
        return true;
    }

    /// <summary>What a waiting thread waits for, in world ranks.</summary>
    internal BlockedState Describe<T>(T state)
    {
        string call = "Wait";
        string commName = "?";
        int context = -1, peer = -2, tag = -1;
        long bytes = -1;
        if (state is RequestCore r)
        {
            context = r.Context;
            tag = r.Tag;
            var comm = CommunicatorOf(r.Context);
            commName = comm?.Name ?? $"context {r.Context & ~1}";
            switch (r.Kind)
            {
                case RequestKind.Send:
                    call = r.Mode switch { SendMode.Synchronous => "SendSync", SendMode.Ready => "SendReady", _ => "Send" };
                    peer = r.PeerWorld;
                    bytes = r.Length;
                    break;
                case RequestKind.Receive:
                case RequestKind.MatchedProbe:
                    call = r.Kind == RequestKind.Receive ? "Receive" : "Probe";
                    peer = r.Source == Communicator.AnySource ? -1
                        : comm is not null && (uint)r.Source < (uint)comm.PeerWorldRanks.Length ? comm.WorldRankOf(r.Source) : -2;
                    bytes = r.Kind == RequestKind.Receive ? r.Length : -1;
                    break;
                default:
                    call = "Wait";
                    tag = -1;
                    break;
            }
        }
        if (CollectiveTrace.TryCurrent(out var f))
        {
            return new BlockedState(call, f.Comm.Name, f.Comm.P2PContext, peer, tag, bytes, f.Name, f.Sequence, f.Root,
                call is "Send" or "Receive" ? call : "");
        }
        return new BlockedState(call, commName, context & ~1, peer, tag, bytes, "", 0, -1, "");
    }
}
