using System.Runtime.CompilerServices;

namespace SharpMpi.Engine;

/// <summary>
/// The matching state of one context id: posted receives and unexpected messages, each in arrival order.
/// MPI's rules follow from the order alone: transports deliver frames from one peer in send order, an
/// incoming message takes the oldest fitting posted receive, and a new receive takes the oldest fitting
/// unexpected message. Both are intrusive doubly linked lists (no allocation); touched under the engine lock.
/// </summary>
internal sealed class MatchQueues
{
    private RequestCore? _postedHead;
    private RequestCore? _postedTail;
    private UnexpectedMessage? _unexpectedHead;
    private UnexpectedMessage? _unexpectedTail;

    public int UnexpectedCount { get; private set; }

    public int PostedCount { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Fits(int wantedSource, int wantedTag, int source, int tag) =>
        (wantedSource == source || wantedSource == Communicator.AnySource) &&
        (wantedTag == tag || wantedTag == Communicator.AnyTag);

    public void Post(RequestCore request)
    {
        request.Next = null;
        request.Prev = _postedTail;
        if (_postedTail is null)
            _postedHead = request;
        else
            _postedTail.Next = request;
        _postedTail = request;
        request.IsPosted = true;
        PostedCount++;
    }

    /// <summary>Removes and returns the oldest posted receive that a message (source, tag) fits.</summary>
    public RequestCore? TakePosted(int source, int tag)
    {
        for (var r = _postedHead; r is not null; r = r.Next)
        {
            if (Fits(r.Source, r.Tag, source, tag))
            {
                Unpost(r);
                return r;
            }
        }
        return null;
    }

    public void Unpost(RequestCore r)
    {
        if (r.Prev is null)
            _postedHead = r.Next;
        else
            r.Prev.Next = r.Next;
        if (r.Next is null)
            _postedTail = r.Prev;
        else
            r.Next.Prev = r.Prev;
        r.Next = r.Prev = null;
        r.IsPosted = false;
        PostedCount--;
    }

    public void AddUnexpected(UnexpectedMessage m)
    {
        m.Next = null;
        m.Prev = _unexpectedTail;
        if (_unexpectedTail is null)
            _unexpectedHead = m;
        else
            _unexpectedTail.Next = m;
        _unexpectedTail = m;
        UnexpectedCount++;
    }

    /// <summary>The oldest unexpected message that a receive (source, tag) accepts, left in place.</summary>
    public UnexpectedMessage? FindUnexpected(int wantedSource, int wantedTag)
    {
        for (var m = _unexpectedHead; m is not null; m = m.Next)
        {
            if (Fits(wantedSource, wantedTag, m.Source, m.Tag))
                return m;
        }
        return null;
    }

    public void RemoveUnexpected(UnexpectedMessage m)
    {
        if (m.Prev is null)
            _unexpectedHead = m.Next;
        else
            m.Prev.Next = m.Next;
        if (m.Next is null)
            _unexpectedTail = m.Prev;
        else
            m.Next.Prev = m.Prev;
        m.Next = m.Prev = null;
        UnexpectedCount--;
    }
}
