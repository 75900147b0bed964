using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace SharpMpi.Diagnostics;

/// <summary>Count, time and bytes of the calls of one name (and call site) in a rank's profile.</summary>
internal struct CallStats
{
    public long Count;
    public long Ticks;
    public long MinTicks;
    public long MaxTicks;
    public long Bytes;

    /// <summary>Adds one call standing for <paramref name="weight"/> calls (a sample); returns the new count.</summary>
    public long Add(long ticks, long bytes, int weight)
    {
        Count += weight;
        Ticks += ticks * weight;
        Bytes += bytes * weight;
        MinTicks = Math.Min(MinTicks, ticks);
        MaxTicks = Math.Max(MaxTicks, ticks);
        return Count;
    }

    /// <summary>Adds the calls of <paramref name="other"/>.</summary>
    public void Merge(in CallStats other)
    {
        if (Count == 0)
            MinTicks = long.MaxValue;
        Count += other.Count;
        Ticks += other.Ticks;
        Bytes += other.Bytes;
        MinTicks = Math.Min(MinTicks, other.MinTicks);
        MaxTicks = Math.Max(MaxTicks, other.MaxTicks);
    }
}

/// <summary>
/// <see cref="CallStats"/> per call name, or per (call name, call site), keyed by the objects' identity: call
/// names are literals (one object per name) and sites are made once per place, so a lookup is an identity hash
/// and reference compares in a small open-addressed table, where a string-keyed dictionary would hash every
/// character on every call. Plain arrays, not a <c>Dictionary</c> over a tuple key: that instantiation is in
/// no ReadyToRun image, and JIT-compiling it was a good part of what <c>--profile</c> cost a short job.
/// Not thread-safe: the recorder guards it.
/// </summary>
internal sealed class CallStatsTable
{
    private string?[] _calls = new string?[64];
    private CallSite?[] _sites = new CallSite?[64];
    private CallStats[] _stats = new CallStats[64];
    private int _count;

    /// <summary>Slots to enumerate with <see cref="TryGetAt"/>.</summary>
    public int Capacity => _calls.Length;

    /// <summary>The statistics of <paramref name="call"/> at <paramref name="site"/> (null: all sites), added if new.</summary>
    public ref CallStats Get(string call, CallSite? site = null)
    {
        while (true)
        {
            int mask = _calls.Length - 1;
            int i = Hash(call, site) & mask;
            while (_calls[i] is { } key)
            {
                if (ReferenceEquals(key, call) && ReferenceEquals(_sites[i], site))
                    return ref _stats[i];
                i = (i + 1) & mask;
            }
            if ((_count + 1) * 2 > _calls.Length)
            {
                Grow();
                continue;
            }
            _count++;
            _calls[i] = call;
            _sites[i] = site;
            _stats[i].MinTicks = long.MaxValue;
            return ref _stats[i];
        }
    }

    /// <summary>The entry in slot <paramref name="index"/>, if there is one.</summary>
    public bool TryGetAt(int index, [NotNullWhen(true)] out string? call, out CallSite? site, out CallStats stats)
    {
        call = _calls[index];
        site = _sites[index];
        stats = _stats[index];
        return call is not null;
    }

    private static int Hash(string call, CallSite? site) =>
        (RuntimeHelpers.GetHashCode(call) * -1640531535) ^ (site is null ? 0 : RuntimeHelpers.GetHashCode(site));

    private void Grow()
    {
        var (calls, sites, stats) = (_calls, _sites, _stats);
        _calls = new string?[calls.Length * 2];
        _sites = new CallSite?[calls.Length * 2];
        _stats = new CallStats[calls.Length * 2];
        int mask = _calls.Length - 1;
        for (int j = 0; j < calls.Length; j++)
        {
            if (calls[j] is not { } call)
                continue;
            int i = Hash(call, sites[j]) & mask;
            while (_calls[i] is not null)
                i = (i + 1) & mask;
            _calls[i] = call;
            _sites[i] = sites[j];
            _stats[i] = stats[j];
        }
    }
}
