using System.Diagnostics;
using System.Runtime.CompilerServices;
using SharpMpi.Engine;

namespace SharpMpi.Diagnostics;

/// <summary>
/// The blocking collective a thread is in, for the trace, the profile, the deadlock detector (which names
/// the collective, not its internal messages), the collective-duration histogram and the per-collective
/// <see cref="Activity"/>. A small per-thread stack, entered at <c>BeginCollective</c> and left in
/// <c>CollectiveCall.Complete</c>; touched only while some diagnostic is on.
/// </summary>
internal static class CollectiveTrace
{
    internal struct Frame
    {
        public string Name;
        public Communicator Comm;
        public int Sequence;
        public int Root;
        public long Start;
        public Activity? Activity;
    }

    [ThreadStatic]
    private static Frame[]? t_stack;

    [ThreadStatic]
    private static int t_depth;

    /// <summary>Caller member name → API name, computed once per name: the deadlock detector is on in every
    /// launched job, so <see cref="Enter"/> runs on every blocking collective and must not allocate.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> s_names = new(StringComparer.Ordinal);

    /// <summary>Root + 1 given to the collective being started (set by CheckRoot while diagnostics are on), 0 for none.</summary>
    [ThreadStatic]
    internal static int PendingRoot;

    /// <summary>True when anything wants to know about collectives.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsOn(ProgressEngine engine) =>
        engine.Recorder is not null || engine.BlockedReporter is not null
        || MpiDiagnostics.CollectiveDuration.Enabled || MpiDiagnostics.ActivitySource.HasListeners();

    /// <summary>The innermost collective of this thread, if any.</summary>
    public static bool TryCurrent(out Frame frame)
    {
        if (t_depth > 0 && t_stack is { } s)
        {
            frame = s[t_depth - 1];
            return true;
        }
        frame = default;
        return false;
    }

    public static void Enter(Communicator comm, string member, int sequence, bool isAsync)
    {
        if (isAsync)
        {
            // Nonblocking: nothing waits on this thread; just do not leave the root to the next call.
            PendingRoot = 0;
            return;
        }
        string name = s_names.GetOrAdd(member, static m => Clean(m));
        var stack = t_stack ??= new Frame[4];
        if (t_depth == stack.Length)
            Array.Resize(ref t_stack, stack.Length * 2);
        Activity? activity = null;
        if (MpiDiagnostics.ActivitySource.HasListeners())
        {
            activity = MpiDiagnostics.ActivitySource.StartActivity("MPI " + name, ActivityKind.Internal);
            if (activity is not null)
            {
                activity.SetTag("mpi.collective", name);
                activity.SetTag("mpi.comm", comm.Name);
                activity.SetTag("mpi.rank", comm.Rank);
                activity.SetTag("mpi.size", comm.Size);
            }
        }
        t_stack![t_depth++] = new Frame
        {
            Name = name,
            Comm = comm,
            Sequence = sequence,
            Root = PendingRoot - 1,
            Start = Stopwatch.GetTimestamp(),
            Activity = activity,
        };
        PendingRoot = 0;
    }

    /// <summary>Leaves the innermost collective, if this thread entered one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Exit()
    {
        if (t_depth > 0)
            ExitSlow();
    }

    private static void ExitSlow()
    {
        ref var f = ref t_stack![--t_depth];
        long end = Stopwatch.GetTimestamp();
        f.Comm.Engine.Recorder?.RecordCollective(f.Name, f.Comm, f.Start, end, f.Root, f.Sequence);
        if (MpiDiagnostics.CollectiveDuration.Enabled)
        {
            MpiDiagnostics.CollectiveDuration.Record((end - f.Start) / (double)Stopwatch.Frequency,
                new KeyValuePair<string, object?>("collective", f.Name));
        }
        f.Activity?.Dispose();
        f = default;
    }

    // Caller member names of the API: AllreduceCore → Allreduce, GatherInPlace → Gather.
    private static string Clean(string member)
    {
        if (member.EndsWith("Core", StringComparison.Ordinal))
            member = member[..^4];
        if (member.EndsWith("InPlace", StringComparison.Ordinal))
            member = member[..^7];
        return member;
    }
}
