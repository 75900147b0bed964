using System.Runtime.CompilerServices;

namespace SharpMpi.Diagnostics;

/// <summary>
/// Small ids for the strings a trace record names (call, communicator, operator), so records stay unmanaged.
/// </summary>
/// <remarks>
/// The lookup is on every recorded call, from any thread, so it reads an open-addressed table keyed by the
/// string's reference (call names are literals, communicator names fields: one object each) without a lock;
/// only a miss locks, finds or assigns the id by value, and publishes a new table. Equal texts share one
/// id, so the id space is bounded by the distinct texts, not by how many string objects a program makes
/// (a communicator per iteration); the reference cache is rebuilt from scratch if it ever grows large.
/// Id 0 is "no string".
/// </remarks>
internal sealed class TraceStrings
{
    /// <summary>Id given to every text beyond the 65535th (the table never holds more).</summary>
    public const ushort Overflow = 1;

    private const int MaxCachedReferences = 4096;

    private readonly object _lock = new();
    // By value, under the lock: an open-addressed table of plain arrays, as a Dictionary<string, ushort> is an
    // instantiation no ReadyToRun image has (a dozen methods JIT-compiled in every traced rank).
    private string?[] _textKeys = new string?[64];
    private ushort[] _textIds = new ushort[64];
    private readonly List<string> _texts = ["", "..."];
    private volatile Table _table = new(16);

    /// <summary>The id of <paramref name="text"/> (0 for null).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ushort IdOf(string? text)
    {
        if (text is null)
            return 0;
        var table = _table;
        int mask = table.Keys.Length - 1;
        int i = RuntimeHelpers.GetHashCode(text) & mask;
        while (Volatile.Read(ref table.Keys[i]) is { } key)
        {
            if (ReferenceEquals(key, text))
                return table.Ids[i];
            i = (i + 1) & mask;
        }
        return Add(text);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ushort Add(string text)
    {
        lock (_lock)
        {
            if (!TryFindText(text, out ushort id))
            {
                id = _texts.Count <= ushort.MaxValue ? (ushort)_texts.Count : Overflow;
                if (id != Overflow)
                {
                    _texts.Add(text);
                    AddText(text, id);
                }
            }
            // Copy on write: readers keep probing the table they hold, which stays valid (only more complete).
            var old = _table;
            int count = old.Count + 1;
            var table = count * 2 > old.Keys.Length
                ? new Table(count > MaxCachedReferences ? 16 : old.Keys.Length * 2)
                : new Table(old.Keys.Length);
            if (count <= MaxCachedReferences)
            {
                for (int j = 0; j < old.Keys.Length; j++)
                {
                    if (old.Keys[j] is { } key)
                        table.Insert(key, old.Ids[j]);
                }
            }
            table.Insert(text, id);
            _table = table;
            return id;
        }
    }

    private bool TryFindText(string text, out ushort id)
    {
        int mask = _textKeys.Length - 1;
        for (int i = text.GetHashCode() & mask; _textKeys[i] is { } key; i = (i + 1) & mask)
        {
            if (string.Equals(key, text, StringComparison.Ordinal))
            {
                id = _textIds[i];
                return true;
            }
        }
        id = 0;
        return false;
    }

    private void AddText(string text, ushort id)
    {
        if (_texts.Count * 2 > _textKeys.Length)
        {
            // _texts holds every text added, at its id: rebuild from it.
            _textKeys = new string?[_textKeys.Length * 2];
            _textIds = new ushort[_textKeys.Length];
            for (int j = 2; j < _texts.Count - 1; j++)
                InsertText(_texts[j], (ushort)j);
        }
        InsertText(text, id);
    }

    private void InsertText(string text, ushort id)
    {
        int mask = _textKeys.Length - 1;
        int i = text.GetHashCode() & mask;
        while (_textKeys[i] is not null)
            i = (i + 1) & mask;
        _textKeys[i] = text;
        _textIds[i] = id;
    }

    /// <summary>The texts by id (index 0 is the empty "no string"); a copy, safe while others record.</summary>
    public string[] Snapshot()
    {
        lock (_lock)
            return [.. _texts];
    }

    private sealed class Table(int capacity)
    {
        public readonly string?[] Keys = new string?[capacity];
        public readonly ushort[] Ids = new ushort[capacity];
        public int Count;

        public void Insert(string key, ushort id)
        {
            int mask = Keys.Length - 1;
            int i = RuntimeHelpers.GetHashCode(key) & mask;
            while (Keys[i] is not null)
                i = (i + 1) & mask;
            Ids[i] = id;
            Keys[i] = key;
            Count++;
        }
    }
}
