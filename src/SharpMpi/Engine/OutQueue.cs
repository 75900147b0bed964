namespace SharpMpi.Engine;

/// <summary>What an entry of an <see cref="OutQueue"/> sends.</summary>
internal enum OutKind : byte
{
    /// <summary>A header-only frame (RTS, CTS, ACK, NACK).</summary>
    Control,
    /// <summary>An eager frame whose payload is the request's buffer.</summary>
    Eager,
    /// <summary>The request's buffer as a series of Data frames (rendezvous without single copy).</summary>
    Stream,
}

/// <summary>A frame (or a stream of frames) waiting for room in a transport.</summary>
internal struct OutItem
{
    public OutKind Kind;
    public FrameHeader Header;
    public RequestCore? Request;
    /// <summary>Stream: bytes already sent. Its receiver's request id is in <see cref="FrameHeader.Cookie"/>.</summary>
    public long Offset;
}

/// <summary>
/// Frames to one peer that did not fit into its transport yet, in send order (a growable ring of structs,
/// so the head can be updated in place while a stream is half sent). Touched under the engine lock.
/// </summary>
internal sealed class OutQueue
{
    private OutItem[] _items = new OutItem[8];
    private int _head;

    public int Count { get; private set; }

    public void Enqueue(in OutItem item)
    {
        if (Count == _items.Length)
        {
            var bigger = new OutItem[_items.Length * 2];
            for (int i = 0; i < Count; i++)
                bigger[i] = _items[(_head + i) % _items.Length];
            _items = bigger;
            _head = 0;
        }
        _items[(_head + Count) % _items.Length] = item;
        Count++;
    }

    public ref OutItem Peek() => ref _items[_head];

    public void Dequeue()
    {
        _items[_head] = default;
        _head = (_head + 1) % _items.Length;
        Count--;
    }
}
