using System.Buffers;
using System.Threading.Tasks.Sources;

namespace SharpMpi.Engine;

/// <summary>What a request does; decides how the engine progresses it.</summary>
internal enum RequestKind : byte
{
    Send,
    Receive,
    /// <summary>Completed by user code (generalized request, collectives' schedules).</summary>
    Generalized,
    /// <summary>A posted matched probe: takes the message out of the queue without receiving it.</summary>
    MatchedProbe,
}

/// <summary>How a send completes (MPI's four modes).</summary>
internal enum SendMode : byte
{
    Standard,
    Synchronous,
    Buffered,
    Ready,
}

/// <summary>
/// The pooled state behind a <see cref="Request"/>: the operation's parameters and its completion, an
/// <see cref="IValueTaskSource{TResult}"/> so it can be awaited without allocating. A core is rented when an
/// operation starts and returned to its engine's pool when the user consumes the result (Wait, a successful
/// Test, or an await); the version token makes a stale <see cref="Request"/> copy throw instead of observing
/// a later operation. All mutable fields except completion are touched under the engine lock.
/// </summary>
internal sealed unsafe class RequestCore : IValueTaskSource<Status>, IValueTaskSource
{
    private ManualResetValueTaskSourceCore<Status> _source;
    private int _completed;
    private int _asyncWaiter;

    public RequestCore(ProgressEngine engine)
    {
        Engine = engine;
        // Completion happens under the engine lock: never run user continuations inline there.
        _source.RunContinuationsAsynchronously = true;
    }

    public ProgressEngine Engine { get; }

    /// <summary>Unique per engine and per use, so a reply that names an old use of this core cannot match.</summary>
    public long Id;
    public RequestKind Kind;
    public SendMode Mode;

    /// <summary>Context id of the communicator.</summary>
    public int Context;
    /// <summary>Send: own rank in the communicator. Receive: wanted source (comm rank or AnySource).</summary>
    public int Source;
    /// <summary>Send: tag. Receive: wanted tag or AnyTag.</summary>
    public int Tag;
    /// <summary>Send: destination world rank.</summary>
    public int PeerWorld;
    /// <summary>Trace flow number of a user message (set only while tracing; see CallRecorder).</summary>
    public long FlowSeq;

    public byte* Buffer;
    public long Length;
    /// <summary>Receive: bytes of a streamed message received so far / the message's total length.</summary>
    public long Received;
    public long MessageLength;
    public int MatchedSource;
    public int MatchedTag;

    /// <summary>Keeps a user buffer pinned until completion (nonblocking operations).</summary>
    public MemoryHandle Pin;
    public bool HasPin;
    /// <summary>A pooled copy owned by the request (buffered sends); returned at completion.</summary>
    public byte[]? OwnedBuffer;
    /// <summary>Set when the request is owned by the engine only (nobody will consume it: buffered sends).</summary>
    public bool Detached;
    /// <summary>Callback for generalized requests run at completion under the engine lock (collective schedules).</summary>
    public Action<RequestCore>? OnComplete;
    public object? State;
    /// <summary>Matched probe: the message it took.</summary>
    public UnexpectedMessage? Matched;

    /// <summary>Intrusive links for the posted-receive queue.</summary>
    public RequestCore? Next;
    public RequestCore? Prev;
    public bool IsPosted;

    public Status Status;
    public Exception? Error;

    public short Version => _source.Version;

    public bool IsCompleted => Volatile.Read(ref _completed) != 0;

    /// <summary>Prepares a fresh use (called by the pool under the engine lock).</summary>
    public void Reset(long id)
    {
        _source.Reset();
        Id = id;
        Buffer = null;
        Length = Received = MessageLength = 0;
        Context = Source = Tag = PeerWorld = MatchedSource = MatchedTag = 0;
        Mode = SendMode.Standard;
        HasPin = false;
        Pin = default;
        OwnedBuffer = null;
        Detached = false;
        OnComplete = null;
        State = null;
        Matched = null;
        Next = Prev = null;
        IsPosted = false;
        Status = default;
        Error = null;
        _asyncWaiter = 0;
        Volatile.Write(ref _completed, 0);
    }

    /// <summary>Invalidates outstanding <see cref="Request"/> copies (the core goes back to the pool).</summary>
    public void Release() => _source.Reset();

    /// <summary>Completes successfully. Called once, under the engine lock.</summary>
    public void Complete(in Status status) => Finish(status, null);

    /// <summary>Completes with an error. Called once, under the engine lock.</summary>
    public void Fail(Exception error) => Finish(default, error);

    private void Finish(in Status status, Exception? error)
    {
        if (Volatile.Read(ref _completed) != 0)
            return;
        Status = status;
        Error = error;
        ReleaseBuffers();
        Volatile.Write(ref _completed, 1);
        OnComplete?.Invoke(this);
        if (Interlocked.Exchange(ref _asyncWaiter, 0) != 0)
            Engine.AsyncWaiterDone();
        if (error is null)
            _source.SetResult(status);
        else
            _source.SetException(error);
        // Threads of this rank sleeping on the doorbell may be waiting for exactly this request.
        Engine.WakeLocalSleepers();
        if (Detached)
            Engine.ReturnDetached(this);
    }

    private void ReleaseBuffers()
    {
        if (HasPin)
        {
            Pin.Dispose();
            HasPin = false;
        }
        if (OwnedBuffer is not null)
        {
            ArrayPool<byte>.Shared.Return(OwnedBuffer);
            OwnedBuffer = null;
        }
    }

    /// <summary>Status or exception; does not consume.</summary>
    public Status ResultOrThrow()
    {
        if (Error is not null)
            throw Rethrowable(Error);
        return Status;
    }

    private static Exception Rethrowable(Exception e) => e switch
    {
        MpiProcessFailedException f => new MpiProcessFailedException(f.FailedRank, f.Message),
        MpiAbortedException a => new MpiAbortedException(a.Message, a.InnerException),
        MpiException m => new MpiException(m.ErrorClass, m.Message, m.InnerException),
        _ => e,
    };

    // IValueTaskSource: GetResult consumes the request (returns the core to the pool).
    public Status GetResult(short token)
    {
        try
        {
            return _source.GetResult(token);
        }
        finally
        {
            Engine.Return(this);
        }
    }

    void IValueTaskSource.GetResult(short token) => GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _source.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        // Someone awaits: make sure the progress thread runs until this completes, so it completes even
        // when the application makes no further MPI call.
        if (Interlocked.Exchange(ref _asyncWaiter, 1) == 0)
        {
            Engine.AsyncWaiterAdded();
            // Finish may have run before our flag was set and so will not count us out: do it here.
            if (IsCompleted && Interlocked.Exchange(ref _asyncWaiter, 0) == 1)
                Engine.AsyncWaiterDone();
        }
        _source.OnCompleted(continuation, state, token, flags);
    }
}
