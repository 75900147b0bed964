using System.Runtime.InteropServices;
using SharpMpi.Engine;

namespace SharpMpi.Collectives;

/// <summary>
/// A few ranks running the tiny collectives that communicator management needs (agree on a maximum, gather a
/// few ints from every rank, broadcast a short int array), with blocking point-to-point on one context and one
/// tag. Member <c>i</c> is reached at world rank <c>worldRanks[i]</c> and its messages carry
/// <c>labels[i]</c> as their source (its rank in the communicator whose context is used), so a channel over a
/// subset of a communicator (MPI_Comm_create_group) never mistakes another member's message for its own.
/// </summary>
/// <remarks>
/// One tag serves every operation: members run the same operations in the same order, each operation
/// consumes exactly the messages it was sent, and messages between two ranks do not overtake.
/// Not for user data or large payloads: the real collectives live on the collectives layer.
/// </remarks>
internal readonly unsafe struct InternalChannel
{
    private readonly ProgressEngine _engine;
    private readonly int _context;
    private readonly int _tag;
    private readonly int[] _worldRanks;
    private readonly int[]? _labels;

    public InternalChannel(ProgressEngine engine, int context, int tag, int[] worldRanks, int[]? labels, int index)
    {
        _engine = engine;
        _context = context;
        _tag = tag;
        _worldRanks = worldRanks;
        _labels = labels;
        Index = index;
    }

    /// <summary>This rank's position in the channel.</summary>
    public int Index { get; }

    /// <summary>Number of members.</summary>
    public int Count => _worldRanks.Length;

    private int Label(int member) => _labels is null ? member : _labels[member];

    public void Send(ReadOnlySpan<byte> data, int to)
    {
        fixed (byte* p = data)
            _engine.WaitAndRelease(_engine.StartSend(_context, Label(Index), _tag, _worldRanks[to], p, data.Length, SendMode.Standard));
    }

    public Status Receive(Span<byte> buffer, int from)
    {
        fixed (byte* p = buffer)
            return _engine.WaitAndRelease(_engine.StartReceive(_context, Label(from), _tag, p, buffer.Length));
    }

    /// <summary>Sends to <paramref name="to"/> and receives from <paramref name="from"/> at once (no deadlock in a ring).</summary>
    public void SendReceive(ReadOnlySpan<byte> send, int to, Span<byte> receive, int from)
    {
        fixed (byte* sp = send)
        fixed (byte* rp = receive)
        {
            var r = _engine.StartReceive(_context, Label(from), _tag, rp, receive.Length);
            RequestCore s;
            try
            {
                s = _engine.StartSend(_context, Label(Index), _tag, _worldRanks[to], sp, send.Length, SendMode.Standard);
            }
            catch
            {
                _engine.CancelReceive(r);
                throw;
            }
            try
            {
                _engine.WaitAndRelease(r);
            }
            finally
            {
                _engine.WaitAndRelease(s);
            }
        }
    }

    /// <summary>
    /// The largest <paramref name="value"/> of all members. Dissemination: max is idempotent, so after
    /// ⌈log2 n⌉ rounds every member has it, for any n.
    /// </summary>
    public int Max(int value)
    {
        int n = Count;
        int current = value;
        for (int k = 1; k < n; k <<= 1)
        {
            int mine = current;
            int theirs = 0;
            SendReceive(MemoryMarshal.AsBytes(new ReadOnlySpan<int>(in mine)), (Index + k) % n,
                MemoryMarshal.AsBytes(new Span<int>(ref theirs)), (Index - k + n) % n);
            current = Math.Max(current, theirs);
        }
        return current;
    }

    /// <summary>
    /// Every member's <paramref name="mine"/> (the same length everywhere), concatenated in member order into
    /// <paramref name="all"/>. A ring: n − 1 steps, each passing one block to the right.
    /// </summary>
    public void Allgather(ReadOnlySpan<int> mine, Span<int> all)
    {
        int n = Count;
        int b = mine.Length;
        mine.CopyTo(all.Slice(Index * b, b));
        int right = (Index + 1) % n;
        int left = (Index - 1 + n) % n;
        for (int step = 0; step < n - 1; step++)
        {
            int sendBlock = (Index - step + n) % n;
            int receiveBlock = (Index - step - 1 + n) % n;
            SendReceive(MemoryMarshal.AsBytes((ReadOnlySpan<int>)all.Slice(sendBlock * b, b)), right,
                MemoryMarshal.AsBytes(all.Slice(receiveBlock * b, b)), left);
        }
    }

    /// <summary>Broadcasts an int array whose length only <paramref name="root"/> needs to know (binomial tree).</summary>
    public int[] Broadcast(int[]? data, int root)
    {
        int length = Index == root ? data!.Length : 0;
        BroadcastInto(MemoryMarshal.AsBytes(new Span<int>(ref length)), root);
        var result = Index == root ? data! : new int[length];
        BroadcastInto(MemoryMarshal.AsBytes(result.AsSpan()), root);
        return result;
    }

    private void BroadcastInto(Span<byte> data, int root)
    {
        int n = Count;
        int relative = (Index - root + n) % n;
        int mask = 1;
        while (mask < n)
        {
            if ((relative & mask) != 0)
            {
                Receive(data, (relative - mask + root) % n);
                break;
            }
            mask <<= 1;
        }
        for (mask >>= 1; mask > 0; mask >>= 1)
        {
            if (relative + mask < n)
                Send(data, (relative + mask + root) % n);
        }
    }
}
