namespace SharpMpi.Collectives;

/// <summary>
/// Hands out context id pairs that are free on every member of a new communicator, even while other threads
/// of the same rank create communicators from other parents at the same time.
/// </summary>
/// <remarks>
/// Each rank allocates ids in increasing order, so every id at or above its <c>next</c> is free there. An
/// allocation proposes <c>next</c> and the members agree on the largest proposal. Two allocations running at
/// once on one rank must not both take that rank's ids, so, as in MPICH's context-id protocol, only one of
/// them at a time owns the rank's <c>next</c>; the others propose <see cref="Unavailable"/>, which makes
/// the whole round fail on every member, and everyone retries. Ownership goes to the waiting allocation with
/// the lowest priority key (the parent's context id, the same on every member), so when several
/// allocations compete across ranks they all pick the same winner and none starves.
/// Ids are never reused: freeing a communicator does not return its pair.
/// </remarks>
internal sealed class InternalContextAllocator(int first)
{
    /// <summary>The proposal of a rank that does not own its ids this round.</summary>
    public const int Unavailable = int.MaxValue;

    private readonly object _lock = new();
    private readonly List<long> _waiting = [];
    private int _next = first;
    private bool _owned;

    /// <summary>
    /// Agrees on a fresh context id pair; collective over whoever <paramref name="agreeMax"/> reaches (it must
    /// return the maximum of every member's argument, the same on every member).
    /// </summary>
    public int Allocate(long priority, Func<int, int> agreeMax)
    {
        lock (_lock)
            _waiting.Add(priority);
        try
        {
            for (int attempt = 0; ; attempt++)
            {
                bool owner = false;
                int proposal = Unavailable;
                lock (_lock)
                {
                    if (!_owned && IsFirst(priority))
                    {
                        _owned = owner = true;
                        proposal = _next;
                    }
                }
                int agreed = Unavailable;
                try
                {
                    agreed = agreeMax(proposal);
                }
                finally
                {
                    if (owner)
                    {
                        lock (_lock)
                        {
                            if (agreed != Unavailable)
                                _next = checked(agreed + 2);
                            _owned = false;
                        }
                    }
                }
                if (agreed != Unavailable)
                    return agreed;
                // Another allocation owns this rank's ids (or a member's): let it finish its round.
                if (attempt < 16)
                    Thread.Yield();
                else
                    Thread.Sleep(1);
            }
        }
        finally
        {
            lock (_lock)
                _waiting.Remove(priority);
        }
    }

    private bool IsFirst(long priority)
    {
        foreach (long p in _waiting)
        {
            if (p < priority)
                return false;
        }
        return true;
    }
}
