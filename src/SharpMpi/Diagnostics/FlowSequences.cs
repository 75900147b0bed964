namespace SharpMpi.Diagnostics;

/// <summary>
/// Message counters per (context, peer, tag) for the trace's flow keys: the n-th send and the n-th receive
/// of a key are the same message (see <see cref="CallRecorder"/>). Guarded by the engine's progress lock (the recorder's callers hold it).
/// </summary>
/// <remarks>
/// An open-addressed table of plain arrays rather than a <c>Dictionary</c> over a tuple key: that generic
/// instantiation is not in any ReadyToRun image, so every traced rank JIT-compiled a dozen methods for it,
/// and a traced job has a few milliseconds per rank to spend in all. A job has few keys (neighbours times
/// tags), so probing stays short.
/// </remarks>
internal sealed class FlowSequences
{
    private int[] _keys = new int[3 * 16];
    private long[] _next = new long[16];
    private bool[] _used = new bool[16];
    private int _count;

    /// <summary>The number of the next message of the key, counting it.</summary>
    public long Next(int context, int peer, int tag)
    {
        while (true)
        {
            int mask = _next.Length - 1;
            int i = Hash(context, peer, tag) & mask;
            while (_used[i])
            {
                if (_keys[3 * i] == context && _keys[3 * i + 1] == peer && _keys[3 * i + 2] == tag)
                    return _next[i]++;
                i = (i + 1) & mask;
            }
            if ((_count + 1) * 2 > _next.Length)
            {
                Grow();
                continue;
            }
            _count++;
            _used[i] = true;
            _keys[3 * i] = context;
            _keys[3 * i + 1] = peer;
            _keys[3 * i + 2] = tag;
            _next[i] = 1;
            return 0;
        }
    }

    private static int Hash(int context, int peer, int tag) =>
        (int)(((uint)context * 0x9E3779B1u) ^ ((uint)peer * 0x85EBCA77u) ^ ((uint)tag * 0xC2B2AE3Du) ^ ((uint)tag >> 15));

    private void Grow()
    {
        var (keys, next, used) = (_keys, _next, _used);
        _keys = new int[keys.Length * 2];
        _next = new long[next.Length * 2];
        _used = new bool[used.Length * 2];
        int mask = _next.Length - 1;
        for (int j = 0; j < used.Length; j++)
        {
            if (!used[j])
                continue;
            int i = Hash(keys[3 * j], keys[3 * j + 1], keys[3 * j + 2]) & mask;
            while (_used[i])
                i = (i + 1) & mask;
            _used[i] = true;
            _keys[3 * i] = keys[3 * j];
            _keys[3 * i + 1] = keys[3 * j + 1];
            _keys[3 * i + 2] = keys[3 * j + 2];
            _next[i] = next[j];
        }
    }
}
