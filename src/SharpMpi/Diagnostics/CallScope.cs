using System.Runtime.CompilerServices;

namespace SharpMpi.Diagnostics;

/// <summary>
/// One MPI call being recorded: created at the call's entry by <see cref="Begin"/>, closed by
/// <see cref="End()"/> when it returns. When the rank records nothing (the recorder is null) this is a
/// zeroed struct and both ends cost one predictable branch; a call that throws is not recorded.
/// </summary>
internal readonly struct CallScope
{
    internal readonly CallRecorder? Recorder;
    internal readonly string Name;
    internal readonly Communicator? Comm;
    internal readonly long Start;
    internal readonly int Peer;
    internal readonly int Tag;
    internal readonly long Bytes;
    internal readonly int SendDestWorld;

    private CallScope(CallRecorder recorder, string name, Communicator comm, int peer, int tag, long bytes, int sendDestWorld, long start)
    {
        Recorder = recorder;
        Name = name;
        Comm = comm;
        Peer = peer;
        Tag = tag;
        Bytes = bytes;
        SendDestWorld = sendDestWorld;
        Start = start;
    }

    /// <summary>A scope that started at <paramref name="start"/> (Stopwatch ticks), for calls recorded after the fact.</summary>
    internal static CallScope At(CallRecorder recorder, string name, Communicator comm, long start, int peer, int tag, long bytes) =>
        new(recorder, name, comm, peer, tag, bytes, -1, start);

    /// <summary>Starts recording <paramref name="name"/> when <paramref name="recorder"/> is not null.</summary>
    /// <param name="recorder">The rank's recorder (<c>Engine.Recorder</c>), null when off.</param>
    /// <param name="name">Call name as users know it (Send, Receive, Wait, ...).</param>
    /// <param name="comm">Communicator of the call.</param>
    /// <param name="peer">Destination or source as given (communicator rank, AnySource, -2 for none).</param>
    /// <param name="tag">Tag as given.</param>
    /// <param name="bytes">Bytes sent, or the receive buffer's capacity.</param>
    /// <param name="sendDestWorld">World rank a message is sent to (starts a flow arrow), else -1.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static CallScope Begin(CallRecorder? recorder, string name, Communicator comm, int peer = -2, int tag = -1, long bytes = 0,
        int sendDestWorld = -1) =>
        recorder is null ? default : new CallScope(recorder, name, comm, peer, tag, bytes, sendDestWorld, System.Diagnostics.Stopwatch.GetTimestamp());

    /// <summary>The call returned.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void End()
    {
        if (Recorder is not null)
            Recorder.Record(this, default, hasStatus: false, -1, -1);
    }

    /// <summary>A send returned; <paramref name="sendSequence"/> is its request's flow number.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void EndSend(long sendSequence)
    {
        if (Recorder is not null)
            Recorder.Record(this, default, hasStatus: false, sendSequence, -1);
    }

    /// <summary>A send that went out on the request-less eager path returned.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void EndEagerSend()
    {
        if (Recorder is not null)
            Recorder.Record(this, default, hasStatus: false, CallRecorder.LastEagerSequence, -1);
    }

    /// <summary>
    /// The call returned having received the message described by <paramref name="status"/>, the
    /// <paramref name="receiveSequence"/>-th of its key, and possibly sent one (<paramref name="sendSequence"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void End(in Status status, long receiveSequence, long sendSequence = -1)
    {
        if (Recorder is not null)
            Recorder.Record(this, status, hasStatus: true, sendSequence, receiveSequence);
    }
}
