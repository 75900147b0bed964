using System.Buffers;
using SharpMpi.Engine;

namespace SharpMpi.Collectives;

/// <summary>
/// One collective call in progress: the communicator, the call's tag block and whether it runs blocking or
/// nonblocking. Every algorithm is written once as an <c>async ValueTask</c> method over these primitives.
/// Blocking calls (<see cref="IsAsync"/> false) wait inside each primitive with the engine's spin-then-sleep
/// wait and return completed ValueTasks, so the algorithm runs synchronously on the caller's thread and its
/// state machine never leaves the stack (no allocation). Nonblocking calls return awaitable requests; the
/// engine's progress thread completes them and the algorithm resumes on the thread pool.
/// </summary>
internal readonly struct CollectiveCall
{
    private readonly ProgressEngine _engine;
    private readonly int _context;
    private readonly int _tag;

    public CollectiveCall(Communicator comm, bool isAsync)
    {
        Comm = comm;
        _engine = comm.Engine;
        _context = comm.CollectiveContext;
        _tag = CollectiveTags.ForCall(comm.NextCollectiveSequence());
        IsAsync = isAsync;
        Tuning = comm.Environment.CollectiveTuning;
        Rank = comm.Rank;
        Size = comm.Size;
    }

    public Communicator Comm { get; }

    public bool IsAsync { get; }

    public CollectiveTuning Tuning { get; }

    public int Rank { get; }

    public int Size { get; }

    private int Tag(int phase) => _tag + phase;

    // ------------------------------------------------------------------ starting requests

    public unsafe RequestCore StartSend(Buf data, int dest, int phase) =>
        _engine.StartSend(_context, Rank, Tag(phase), Comm.WorldRankOf(dest), (byte*)data.Ptr, data.Length, SendMode.Standard);

    public unsafe RequestCore StartReceive(Buf buffer, int source, int phase) =>
        _engine.StartReceive(_context, source, Tag(phase), (byte*)buffer.Ptr, buffer.Length);

    // ------------------------------------------------------------------ blocking-or-awaitable primitives

    public ValueTask Send(Buf data, int dest, int phase)
    {
        var s = StartSend(data, dest, phase);
        if (!IsAsync)
        {
            _engine.WaitAndRelease(s);
            return default;
        }
        return AwaitOne(s);
    }

    public ValueTask Receive(Buf buffer, int source, int phase)
    {
        var r = StartReceive(buffer, source, phase);
        if (!IsAsync)
        {
            _engine.WaitAndRelease(r);
            return default;
        }
        return AwaitOne(r);
    }

    /// <summary>Sends and receives concurrently (MPI_Sendrecv); completes when both have.</summary>
    public ValueTask SendReceive(Buf send, int dest, Buf receive, int source, int phase)
    {
        var r = StartReceive(receive, source, phase);
        var s = StartSend(send, dest, phase);
        if (!IsAsync)
        {
            try
            {
                _engine.WaitAndRelease(r);
            }
            finally
            {
                _engine.WaitAndRelease(s);
            }
            return default;
        }
        return AwaitBoth(r, s);
    }

    /// <summary>
    /// Like <see cref="SendReceive"/> but leaves out an empty side. Both partners compute the same lengths, so
    /// a side is skipped exactly when its partner skips the matching side.
    /// </summary>
    public ValueTask Exchange(Buf send, int dest, Buf receive, int source, int phase)
    {
        if (send.IsEmpty)
            return receive.IsEmpty ? default : Receive(receive, source, phase);
        if (receive.IsEmpty)
            return Send(send, dest, phase);
        return SendReceive(send, dest, receive, source, phase);
    }

    // ------------------------------------------------------------------ blocking primitives (no ValueTask)

    // The blocking small-message paths (BlockingCollectives) call these directly: no state machine, no
    // request for an eager send the transport takes at once, nothing allocated.

    /// <summary>Blocking send; an eager message the transport takes right now needs no request at all.</summary>
    public unsafe void SendNow(Buf data, int dest, int phase)
    {
        int world = Comm.WorldRankOf(dest);
        if (!_engine.TrySendEagerNow(_context, Rank, Tag(phase), world, (byte*)data.Ptr, data.Length))
            _engine.WaitAndRelease(_engine.StartSend(_context, Rank, Tag(phase), world, (byte*)data.Ptr, data.Length, SendMode.Standard));
    }

    /// <summary>Blocking receive.</summary>
    public void ReceiveNow(Buf buffer, int source, int phase) => _engine.WaitAndRelease(StartReceive(buffer, source, phase));

    /// <summary>
    /// Blocking MPI_Sendrecv: the receive is posted first (the partner's message lands in place), then the send
    /// goes out without a request when the transport takes it at once.
    /// </summary>
    public unsafe void SendReceiveNow(Buf send, int dest, Buf receive, int source, int phase)
    {
        var r = StartReceive(receive, source, phase);
        RequestCore? s = null;
        try
        {
            int world = Comm.WorldRankOf(dest);
            if (!_engine.TrySendEagerNow(_context, Rank, Tag(phase), world, (byte*)send.Ptr, send.Length))
                s = _engine.StartSend(_context, Rank, Tag(phase), world, (byte*)send.Ptr, send.Length, SendMode.Standard);
        }
        catch
        {
            // The receive points into the caller's (possibly stack) buffer: never leave it posted.
            if (_engine.CancelReceive(r))
                _engine.Return(r);
            throw;
        }
        try
        {
            _engine.WaitAndRelease(r);
        }
        finally
        {
            if (s is not null)
                _engine.WaitAndRelease(s);
        }
    }

    // ------------------------------------------------------------------ batches

    public static RequestCore[] RentBatch(int capacity) => ArrayPool<RequestCore>.Shared.Rent(Math.Max(1, capacity));

    public static void ReturnBatch(RequestCore[] batch) => ArrayPool<RequestCore>.Shared.Return(batch, clearArray: true);

    /// <summary>Waits for the first <paramref name="count"/> requests of <paramref name="batch"/> (all of them, even after a failure).</summary>
    public ValueTask WaitAll(RequestCore[] batch, int count)
    {
        if (!IsAsync)
        {
            Exception? first = null;
            for (int i = 0; i < count; i++)
            {
                try
                {
                    _engine.WaitAndRelease(batch[i]);
                }
                catch (Exception e)
                {
                    first ??= e;
                }
                batch[i] = null!;
            }
            if (first is not null)
                throw first;
            return default;
        }
        return AwaitAll(batch, count);
    }

    /// <summary>Waits for one started request (blocking, or awaited in a nonblocking call).</summary>
    public ValueTask WaitOne(RequestCore r)
    {
        if (!IsAsync)
        {
            _engine.WaitAndRelease(r);
            return default;
        }
        return AwaitOne(r);
    }

    /// <summary>
    /// After a failure: waits for the requests <paramref name="batch"/>[from..to) still in flight, ignoring their
    /// errors, so that none keeps pointing into a buffer the caller is about to release.
    /// </summary>
    public void Drain(RequestCore[] batch, int from, int to)
    {
        for (int i = from; i < to; i++)
        {
            if (batch[i] is { } r)
            {
                try
                {
                    _engine.WaitAndRelease(r);
                }
                catch (Exception)
                {
                    // The first error is the one the caller reports.
                }
                batch[i] = null!;
            }
        }
    }

    private static async ValueTask AwaitOne(RequestCore r) => await new Request(r).AsValueTask().ConfigureAwait(false);

    private static async ValueTask AwaitBoth(RequestCore r, RequestCore s)
    {
        try
        {
            await new Request(r).AsValueTask().ConfigureAwait(false);
        }
        finally
        {
            await new Request(s).AsValueTask().ConfigureAwait(false);
        }
    }

    private static async ValueTask AwaitAll(RequestCore[] batch, int count)
    {
        Exception? first = null;
        for (int i = 0; i < count; i++)
        {
            try
            {
                await new Request(batch[i]).AsValueTask().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                first ??= e;
            }
            batch[i] = null!;
        }
        if (first is not null)
            throw first;
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>Largest power of two ≤ <paramref name="n"/> (n ≥ 1).</summary>
    public static int FloorPowerOfTwo(int n) => 1 << (31 - int.LeadingZeroCount(n));

    public static bool IsPowerOfTwo(int n) => (n & (n - 1)) == 0;

    /// <summary>Lowest set bit of <paramref name="v"/> (v &gt; 0).</summary>
    public static int LowBit(int v) => v & -v;

    /// <summary>Runs a blocking call's algorithm to completion (it never suspends) and rethrows its error.</summary>
    public static void Complete(ValueTask work)
    {
        try
        {
            Wait(work);
        }
        finally
        {
            Diagnostics.CollectiveTrace.Exit();
        }
    }

    /// <summary>Like <see cref="Complete"/> without leaving the trace frame (the caller leaves it).</summary>
    public static void Wait(ValueTask work)
    {
        if (!work.IsCompletedSuccessfully)
            work.AsTask().GetAwaiter().GetResult();
    }
}
