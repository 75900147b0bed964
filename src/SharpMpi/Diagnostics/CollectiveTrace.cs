using System.Collections.Concurrent;
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
        public long Bytes;
        public string? Op;
        /// <summary>Stopwatch timestamp of the entry; 0 in a frame kept for the deadlock detector alone (see <see cref="Enter"/>).</summary>
        public long Start;
        public Activity? Activity;
    }

    [ThreadStatic]
    private static Frame[]? t_stack;

    [ThreadStatic]
    private static int t_depth;

    /// <summary>Caller member name → API name, computed once per name: the deadlock detector is on in every
    /// launched job, so <see cref="Enter"/> runs on every blocking collective and must not allocate.</summary>

    /// <summary>Root + 1 given to the collective being started (set by CheckRoot while diagnostics are on), 0 for none.</summary>
    [ThreadStatic]
    internal static int PendingRoot;

    [ThreadStatic]
    private static object? t_opReducer;

    [ThreadStatic]
    private static string? t_opName;

    /// <summary>
    /// Remembers the name of the operator <paramref name="reducer"/> was made from, for the collective that is
    /// about to start on this thread (two reference stores; the reducer carries no name of its own).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T NoteOp<T>(T reducer, string name) where T : class
    {
        t_opReducer = reducer;
        t_opName = name;
        return reducer;
    }

    /// <summary>The name noted for <paramref name="reducer"/>; "user" for an operator type (IReduceOp); null for no reduction.</summary>
    public static string? OpName(object? reducer) =>
        reducer is null ? null : ReferenceEquals(reducer, t_opReducer) ? t_opName : "user";

    /// <summary>True when anything wants to know about collectives.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsOn(ProgressEngine engine) => engine.BlockedReporter is not null || RecordsOrMeasures(engine);

    /// <summary>True when a trace or profile, the collective-duration meter or an activity listener wants each collective timed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool RecordsOrMeasures(ProgressEngine engine) =>
        engine.Recorder is not null || MpiDiagnostics.CollectiveDuration.Enabled || MpiDiagnostics.ActivitySource.HasListeners();

    /// <summary>The innermost collective of this thread, if any.</summary>
    public static bool TryCurrent(out Frame frame)
    {
        if (t_depth > 0 && t_stack is { } s)
        {
            frame = s[t_depth - 1];
            if (frame.Start == 0)
                frame.Name = Clean(frame.Name);
            return true;
        }
        frame = default;
        return false;
    }

    /// <summary>
    /// Enters collective <paramref name="member"/> (the API method's name) on <paramref name="comm"/>.
    /// <paramref name="bytes"/> is what this rank contributes (its send buffer), <paramref name="op"/> the
    /// reduction's name or null. A nonblocking collective is recorded at once as an event of its start call
    /// (I-prefixed); its completion is the Wait on its request.
    /// </summary>
    public static void Enter(Communicator comm, string member, int sequence, bool isAsync, long bytes = 0, string? op = null)
    {
        if (!isAsync && !RecordsOrMeasures(comm.Engine))
        {
            // Only the deadlock detector listens (the case of every launched job), and it reads the frame only
            // after a wait of seconds: keep what it names, no clock and no name lookup. That was about a fifth of
            // a small collective's time.
            PushLight(comm, member, sequence);
            return;
        }
        string name = Clean(member);
        if (isAsync)
        {
            int root = PendingRoot - 1;
            PendingRoot = 0;
            comm.Engine.Recorder?.RecordCollective(name, comm, Stopwatch.GetTimestamp(), Stopwatch.GetTimestamp(), root, sequence, bytes, op);
            return;
        }
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
        Push() = new Frame
        {
            Name = name,
            Comm = comm,
            Sequence = sequence,
            Root = PendingRoot - 1,
            Bytes = bytes,
            Op = op,
            Start = Stopwatch.GetTimestamp(),
            Activity = activity,
        };
        PendingRoot = 0;
    }

    private static void PushLight(Communicator comm, string member, int sequence)
    {
        // Only these fields: a left frame is cleared by ExitSlow or holds a light frame's, so the rest are unset.
        ref var f = ref Push();
        f.Name = member; // cleaned by TryCurrent
        f.Comm = comm;
        f.Sequence = sequence;
        f.Root = PendingRoot - 1;
        f.Start = 0;
        PendingRoot = 0;
    }

    /// <summary>A new innermost frame of this thread's stack (grown as needed).</summary>
    private static ref Frame Push()
    {
        var stack = t_stack ??= new Frame[4];
        if (t_depth == stack.Length)
        {
            Array.Resize(ref t_stack, stack.Length * 2);
            stack = t_stack;
        }
        return ref stack[t_depth++];
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
        if (f.Start == 0)
            return; // a frame for the deadlock detector alone: nothing to record
        long end = Stopwatch.GetTimestamp();
        f.Comm.Engine.Recorder?.RecordCollective(f.Name, f.Comm, f.Start, end, f.Root, f.Sequence, f.Bytes, f.Op);
        if (MpiDiagnostics.CollectiveDuration.Enabled)
        {
            MpiDiagnostics.CollectiveDuration.Record((end - f.Start) / (double)Stopwatch.Frequency,
                new KeyValuePair<string, object?>("collective", f.Name));
        }
        f.Activity?.Dispose();
        f = default;
    }

    /// <summary>Cleaned names by the caller-member string (a literal, so one reference per call site).</summary>
    private static readonly ConcurrentDictionary<string, string> s_names = new(ReferenceEqualityComparer.Instance);

    // Caller member names of the API: AllreduceCore → Allreduce, GatherInPlace → Gather, AllreduceAsync →
    // IAllreduce (one spelling for the nonblocking forms). Cut once per name: no string is built per call.
    private static string Clean(string member) => s_names.GetOrAdd(member, static m =>
    {
        if (m.EndsWith("Core", StringComparison.Ordinal))
            m = m[..^4];
        if (m.EndsWith("InPlace", StringComparison.Ordinal))
            m = m[..^7];
        if (m.EndsWith("Async", StringComparison.Ordinal))
            m = "I" + m[..^5];
        else if (m.EndsWith("Start", StringComparison.Ordinal))
            m = "I" + m[..^5];
        return string.Intern(m);
    });
}
