using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Reflection;

namespace SharpMpi.Diagnostics;

/// <summary>
/// A rank's record of its MPI calls, for <c>--trace</c> (every call with its arguments, through a
/// <see cref="TraceBuffer"/> into <c>trace.&lt;rank&gt;.bin</c>, completed at finalize, see <see cref="TraceFile"/>)
/// and <c>--profile</c> (count, time and bytes per call and per call site, written as
/// <c>profile.&lt;rank&gt;.json</c>). The launcher merges the files.
/// </summary>
/// <remarks>
/// Recording is on the path of every MPI call, so it only stores raw <see cref="Stopwatch"/> ticks, ints,
/// and ids of strings that already exist (call names are literals, communicator names are fields; see
/// <see cref="TraceStrings"/>) into the buffer's current chunk. Nothing is formatted or allocated per call;
/// times become microseconds and JSON only in the launcher. Profile statistics are keyed by the name's
/// reference (a header read, not a string hash) and merged by value when written. Call sites need a stack walk (microseconds), so
/// they are sampled: every call of a name until it has been seen <see cref="ExactSiteCalls"/> times, then
/// one call in <see cref="DiagnosticsSettings.SiteSampleInterval"/> (or more, see <see cref="AdaptInterval"/>) at random, weighted by the interval,
/// which keeps the per-site numbers unbiased estimates while the per-call numbers stay exact.
/// Send and receive events carry flow keys: (context, sender's communicator rank, receiver's world rank,
/// tag, n) where n counts the messages of that key in program order on each side. MPI's non-overtaking
/// rule makes the n-th send and the n-th receive of a key the same message, so the launcher can draw an
/// arrow from each send to its receive without any sequence field in the frames.
/// </remarks>
internal sealed class CallRecorder
{
    private readonly TraceBuffer? _ring;
    private readonly TraceStrings? _strings;
    private readonly object _lock = new();
    private readonly FlowSequences _sendSequence = new();
    private readonly FlowSequences _receiveSequence = new();
    private readonly CallStatsTable? _calls;
    private readonly CallStatsTable? _sites;
    private readonly int _siteInterval;
    // The sampling interval now and the largest used (see AdaptInterval), and what the walks cost.
    private int _siteIntervalNow;
    private int _siteIntervalMax;
    private long _sampledWalkTicks;
    private long _sampledWalks;
    private long _profiledCalls;
    private long _walkTicks;
    private int _walks;
    // Sites by a text key of the frame (see FindCallSite): a Dictionary<string, CallSite> is shared generic code
    // the ReadyToRun images have, where a tuple key had a dozen methods JIT-compiled in every profiled rank.
    private readonly Dictionary<string, CallSite>? _siteNames;
    private readonly long _anchorTicks;
    private readonly double _anchorUnixMicroseconds;
    private long _finishTicks;
    private int _written;

    public CallRecorder(int worldRank, DiagnosticsSettings settings)
    {
        WorldRank = worldRank;
        Settings = settings;
        if (settings.TraceDirectory is not null)
        {
            try
            {
                _ring = new TraceBuffer(Path.Combine(settings.TraceDirectory, TraceFile.FileName(worldRank)), settings.TraceCapacity);
                _strings = new TraceStrings();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"sharpmpi: rank {worldRank}: cannot write diagnostics: {e.Message}");
            }
        }
        if (settings.ProfileDirectory is not null)
        {
            _calls = new CallStatsTable();
            if (settings.CallSites)
            {
                _sites = new CallStatsTable();
                _siteNames = new Dictionary<string, CallSite>(StringComparer.Ordinal);
                _siteInterval = _siteIntervalNow = _siteIntervalMax = Math.Max(1, settings.SiteSampleInterval);
            }
        }
        _anchorTicks = ReadAnchor(out _anchorUnixMicroseconds);
    }

    /// <summary>
    /// A Stopwatch timestamp and the wall clock at the same instant, which aligns the ranks' timelines. A
    /// thread preempted between the two reads would shift its whole rank by the pause (and arrows would
    /// point backwards on a loaded machine), so of a few tries the pair read closest together is kept.
    /// </summary>
    private static long ReadAnchor(out double unixMicroseconds)
    {
        long bestGap = long.MaxValue, ticks = 0;
        double unix = 0;
        for (int i = 0; i < 8; i++)
        {
            long before = Stopwatch.GetTimestamp();
            long wall = DateTime.UtcNow.Ticks;
            long after = Stopwatch.GetTimestamp();
            if (after - before < bestGap)
            {
                bestGap = after - before;
                ticks = before + (after - before) / 2;
                unix = (wall - DateTime.UnixEpoch.Ticks) / 10.0;
            }
        }
        unixMicroseconds = unix;
        return ticks;
    }

    public int WorldRank { get; }

    public DiagnosticsSettings Settings { get; }

    [ThreadStatic]
    private static long t_lastEagerSequence;

    /// <summary>Flow number of a user message posted to <paramref name="destinationWorld"/>.</summary>
    /// <remarks>
    /// Called only by the rank's engine under its progress lock, like <see cref="NextReceive"/>; that lock
    /// guards both counters (a lock of their own cost two monitor calls per message, 7 % of a traced
    /// SendReceive to self).
    /// </remarks>
    public long NextSend(int context, int destinationWorld, int tag)
    {
        if ((context & 1) != 0 || _ring is null)
            return -1;
        return t_lastEagerSequence = _sendSequence.Next(context, destinationWorld, tag);
    }

    /// <summary>As <see cref="NextSend"/> for the request-less eager path; read back by <see cref="CallScope.EndEagerSend"/>.</summary>
    public void NoteEagerSend(int context, int destinationWorld, int tag) => NextSend(context, destinationWorld, tag);

    /// <summary>The flow number noted by the last request-less eager send of this thread.</summary>
    public static long LastEagerSequence => t_lastEagerSequence;

    /// <summary>Flow number of a user message matched from <paramref name="source"/> (engine, under its progress lock).</summary>
    public long NextReceive(int context, int source, int tag)
    {
        if ((context & 1) != 0 || _ring is null)
            return -1;
        return _receiveSequence.Next(context, source, tag);
    }

    /// <summary>Records a finished call (see <see cref="CallScope"/>).</summary>
    public void Record(in CallScope scope, in Status status, bool hasStatus, long sendSeq, long receiveSeq)
    {
        long end = Stopwatch.GetTimestamp();
        var comm = scope.Comm!;
        int context = comm.P2PContext;
        int receiveSource = -1, receiveTag = -1;
        long receivedBytes = 0;
        bool received = hasStatus && status.Source >= 0 && !status.IsCancelled;
        if (received)
        {
            receiveSource = status.Source;
            receiveTag = status.Tag;
            receivedBytes = status.ByteCount;
        }
        else
        {
            receiveSeq = -1;
        }
        if (_ring is not null)
        {
            // Every field assigned: the slot may hold an older record.
            _ring.Add(new TraceRecord
            {
                Root = -1,
                Name = _strings!.IdOf(scope.Name),
                CommName = _strings.IdOf(comm.Name),
                Context = context,
                SelfRank = comm.Rank,
                Start = scope.Start,
                End = end,
                Thread = Environment.CurrentManagedThreadId,
                Peer = scope.Peer,
                Tag = scope.Tag,
                Bytes = scope.Bytes,
                SendDestWorld = scope.SendDestWorld,
                SendSeq = sendSeq,
                ReceiveSource = receiveSource,
                ReceiveTag = receiveTag,
                ReceiveSeq = receiveSeq,
                ReceivedBytes = receivedBytes,
            });
        }
        if (_calls is not null)
            Profile(scope.Name, end - scope.Start, scope.SendDestWorld >= 0 ? scope.Bytes : receivedBytes);
    }

    /// <summary>Calls of a name whose sites are all recorded before sampling starts.</summary>
    public const int ExactSiteCalls = 16;

    [ThreadStatic]
    private static uint t_random;

    /// <summary>
    /// The call-site sampler's seed for a thread of a rank (never 0). By rank too: ranks run the same program
    /// on the same thread ids, and a seed from the thread alone made every rank sample the same calls.
    /// </summary>
    internal static uint SampleSeed(int thread, int rank)
    {
        uint x = ((uint)thread * 2654435761u) ^ ((uint)(rank + 1) * 0x85EBCA77u);
        x ^= x >> 15;
        return x | 1;
    }

    private void Profile(string name, long ticks, long bytes)
    {
        long count;
        lock (_lock)
        {
            count = _calls!.Get(name).Add(ticks, bytes, 1);
            _profiledCalls++;
        }
        if (_sites is null)
            return;
        int weight = 1;
        if (count > ExactSiteCalls && _siteInterval > 1)
        {
            int interval = Volatile.Read(ref _siteIntervalNow);
            // xorshift32 per thread: cheap, and unlike "every n-th call" not in step with loops that make
            // the same call from n sites in turn.
            uint x = t_random;
            if (x == 0)
                x = SampleSeed(Environment.CurrentManagedThreadId, WorldRank);
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            t_random = x;
            if (x % (uint)interval != 0)
                return;
            weight = interval;
        }
        long walkStart = Stopwatch.GetTimestamp();
        var site = FindCallSite();
        long walkEnd = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            _walks++;
            _walkTicks += walkEnd - walkStart;
            if (weight > 1)
                AdaptInterval(walkEnd - walkStart, walkEnd);
            if (site is not null)
                _sites.Get(name, site).Add(ticks, bytes, weight);
        }
    }

    /// <summary>Share of the rank's time that sampled stack walks may take: 1/200, 0.5 %.</summary>
    private const int WalkBudgetDivisor = 200;

    /// <summary>
    /// Keeps the sampled stack walks within <see cref="WalkBudgetDivisor"/> of the rank's time: the interval
    /// becomes the power of two (at least the configured one) at which a walk of the mean cost so far, once
    /// per interval calls at the mean time between calls so far, stays within it. A walk costs 10-15 us on an
    /// idle machine and several times that on a loaded one, and each also holds up the ranks waiting on this
    /// one. Each sampled call is weighted by the interval it was sampled at, so the site estimates stay
    /// unbiased. Under the lock.
    /// </summary>
    private void AdaptInterval(long walkTicks, long now)
    {
        _sampledWalkTicks += walkTicks;
        _sampledWalks++;
        long gap = (now - _anchorTicks) / Math.Max(1, _profiledCalls);
        long walk = _sampledWalkTicks / _sampledWalks;
        long needed = walk * WalkBudgetDivisor / Math.Max(1, gap);
        int interval = (int)Math.Min(MaxSiteInterval, Math.Max(_siteInterval, (long)System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)Math.Max(1, needed))));
        Volatile.Write(ref _siteIntervalNow, interval);
        _siteIntervalMax = Math.Max(_siteIntervalMax, interval);
    }

    private const int MaxSiteInterval = 1 << 20;

    /// <summary>
    /// Records a collective (its internal messages are not traced one by one) with the bytes this rank
    /// contributes (its send buffer, as mpiP counts) and the reduction operator, if any.
    /// </summary>
    public void RecordCollective(string name, Communicator comm, long start, long end, int root, int sequence, long bytes = 0, string? op = null)
    {
        if (_ring is not null)
        {
            _ring.Add(new TraceRecord
            {
                Name = _strings!.IdOf(name),
                CommName = _strings.IdOf(comm.Name),
                Context = comm.P2PContext,
                SelfRank = comm.Rank,
                Start = start,
                End = end,
                Thread = Environment.CurrentManagedThreadId,
                Peer = -2,
                Tag = sequence,
                Root = root,
                IsCollective = true,
                Bytes = bytes,
                Op = _strings.IdOf(op),
                SendDestWorld = -1,
                SendSeq = -1,
                ReceiveSource = -1,
                ReceiveSeq = -1,
            });
        }
        if (_calls is not null)
            Profile(name, end - start, bytes);
    }

    /// <summary>
    /// Records a call that is not a message operation (RMA, persistent-request starts, probes that found
    /// nothing, ...): name, communicator, peer, tag and bytes as given, no flow arrow.
    /// </summary>
    public void RecordCall(string name, Communicator comm, long start, int peer = -2, int tag = -1, long bytes = 0) =>
        Record(CallScope.At(this, name, comm, start, peer, tag, bytes), default, hasStatus: false, -1, -1);

    private static readonly Assembly s_libraryAssembly = typeof(CallRecorder).Assembly;
    private static readonly string s_library = s_libraryAssembly.GetName().Name!;

    // The first frame outside SharpMpi: the user's call; described once per (method, offset).
    // With reflection metadata (JIT) the frame's method handle keys the site: cheap, and the token and module
    // are what the launcher's file:line lookup needs. Without it (trimmed or NativeAOT apps) DiagnosticMethodInfo
    // still names the frame, keyed by names and native offset, and the site is shown as Type.Method+offset.
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "GetMethod may return null when trimmed; DiagnosticMethodInfo names the frame then")]
    private CallSite? FindCallSite()
    {
        var trace = new StackTrace(2, false);
        for (int i = 0; i < trace.FrameCount; i++)
        {
            var frame = trace.GetFrame(i);
            if (frame is null)
                continue;
            // The key costs a string per located call; only sampled calls are located (see Profile).
            string key;
            var reflected = frame.GetMethod();
            int ilOffset = frame.GetILOffset();
            string? typeName = null, methodName = null;
            if (reflected is not null)
            {
                if (reflected.DeclaringType?.Assembly == s_libraryAssembly)
                    continue;
                key = string.Create(CultureInfo.InvariantCulture, $"{(long)reflected.MethodHandle.Value}:{ilOffset}");
            }
            else
            {
                var named = DiagnosticMethodInfo.Create(frame);
                if (named is null || IsLibrary(named.DeclaringAssemblyName))
                    continue;
                (typeName, methodName) = (named.DeclaringTypeName, named.Name);
                key = string.Create(CultureInfo.InvariantCulture, $"{typeName}|{methodName}|{ilOffset}|{frame.GetNativeOffset()}");
            }
            lock (_siteNames!)
            {
                if (!_siteNames.TryGetValue(key, out var site))
                {
                    _siteNames[key] = site = reflected is not null && ilOffset != StackFrame.OFFSET_UNKNOWN
                        ? CallSite.Of(reflected, ilOffset)
                        : CallSite.Unresolved($"{ShortTypeName(typeName ?? reflected?.DeclaringType?.FullName)}.{methodName ?? reflected?.Name}", frame.GetNativeOffset());
                }
                return site;
            }
        }
        return null;
    }

    private static bool IsLibrary(string? assembly) =>
        assembly is not null && assembly.StartsWith(s_library, StringComparison.Ordinal)
        && (assembly.Length == s_library.Length || assembly[s_library.Length] == ',');

    // "Ns.Outer+Inner`1[[System.Int32, ...]]" -> "Inner`1", as Type.Name shows it.
    private static string ShortTypeName(string? fullName)
    {
        if (fullName is null)
            return "";
        int generic = fullName.IndexOf('[', StringComparison.Ordinal);
        var name = generic < 0 ? fullName.AsSpan() : fullName.AsSpan(0, generic);
        return name[(name.LastIndexOfAny('.', '+') + 1)..].ToString();
    }

    /// <summary>Writes the trace and profile files (once; later calls do nothing). Never throws.</summary>
    public void Write(string reason)
    {
        if (Interlocked.Exchange(ref _written, 1) != 0)
            return;
        _finishTicks = Stopwatch.GetTimestamp();
        try
        {
            if (_ring is not null)
            {
                TraceFile.Write(WorldRank, reason, _anchorTicks, (long)(_anchorUnixMicroseconds * 1e3), _strings!, _ring);
            }
            if (_calls is not null)
            {
                lock (_lock)
                {
                    ProfileFile.Write(Path.Combine(Settings.ProfileDirectory!, $"profile.{WorldRank.ToString(CultureInfo.InvariantCulture)}.json"),
                        WorldRank, reason, Stopwatch.GetElapsedTime(_anchorTicks, _finishTicks).TotalSeconds, _sites is null ? 0 : _siteInterval,
                        _sites is null ? 0 : _siteIntervalMax, _calls, _sites);
                }
            }
            if (Settings.Timing)
            {
                // SHARPMPI_DIAG_TIMING=1: what tracing cost this rank, to tell recording, writing and JIT apart.
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"sharpmpi: rank {WorldRank}: diagnostics: {(_ring?.Count ?? 0)} records, write {Stopwatch.GetElapsedTime(_finishTicks).TotalMilliseconds:F1} ms, "
                    + $"JIT {System.Runtime.JitInfo.GetCompiledMethodCount()} methods {System.Runtime.JitInfo.GetCompilationTime().TotalMilliseconds:F1} ms, "
                    + $"up {Stopwatch.GetElapsedTime(_anchorTicks).TotalMilliseconds:F0} ms, {_walks} call-site stack walks {_walkTicks * 1000.0 / Stopwatch.Frequency:F1} ms"
                    + $" (sampling one in {_siteInterval} to {_siteIntervalMax})"));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _ring?.Dispose();
            Console.Error.WriteLine($"sharpmpi: rank {WorldRank}: cannot write diagnostics: {e.Message}");
        }
    }
}
