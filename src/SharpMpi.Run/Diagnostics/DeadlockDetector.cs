using System.Diagnostics;
using System.Text;
using SharpMpi.Diagnostics;

namespace SharpMpi.Run.Diagnostics;

/// <summary>
/// Decides that a job is deadlocked: every rank still running has reported that it is blocked in MPI
/// (ranks report a wait only once it has lasted about a second) and no report has changed for the
/// timeout. A rank that computes is not blocked, so a slow but progressing job never qualifies.
/// Then it describes each rank's wait, the wait-for cycle if there is one, and collectives that do
/// not match across the ranks of a communicator.
/// </summary>
internal sealed class DeadlockDetector(int size, TimeSpan timeout)
{
    private readonly object _lock = new();
    private readonly BlockedState?[] _states = new BlockedState?[size];
    private readonly bool[] _gone = new bool[size];
    private long _lastChange = Stopwatch.GetTimestamp();

    public TimeSpan Timeout => timeout;

    /// <summary>A rank's report: its blocked operation, or "" when it is running again.</summary>
    public void Update(int rank, string state)
    {
        if ((uint)rank >= (uint)size)
            return;
        lock (_lock)
        {
            _states[rank] = state.Length == 0 ? null : BlockedState.Decode(state);
            _lastChange = Stopwatch.GetTimestamp();
        }
    }

    /// <summary>A rank's process ended: it no longer counts.</summary>
    public void RankGone(int rank)
    {
        if ((uint)rank >= (uint)size)
            return;
        lock (_lock)
        {
            _gone[rank] = true;
            _states[rank] = null;
            _lastChange = Stopwatch.GetTimestamp();
        }
    }

    /// <summary>The report lines when the job is deadlocked now, else null.</summary>
    public IReadOnlyList<string>? Check()
    {
        lock (_lock)
        {
            bool anyLive = false;
            for (int r = 0; r < size; r++)
            {
                if (_gone[r])
                    continue;
                anyLive = true;
                if (_states[r] is null)
                    return null;
            }
            if (!anyLive || Stopwatch.GetElapsedTime(_lastChange) < timeout || AnyTransferUnderWay())
                return null;
            return Describe();
        }
    }

    // A blocked send whose receiver is blocked in a receive that matches it is a message being moved (a
    // multi-gigabyte rendezvous can take longer than the timeout), not a deadlock: the pair will complete.
    private bool AnyTransferUnderWay()
    {
        for (int sender = 0; sender < size; sender++)
        {
            if (_states[sender] is not { } s || !IsSend(s) || (uint)s.PeerWorld >= (uint)size)
                continue;
            if (_states[s.PeerWorld] is { } r && IsReceive(r) && r.Context == s.Context
                && (r.PeerWorld == sender || r.PeerWorld == -1) && (r.Tag == s.Tag || r.Tag == -1))
            {
                return true;
            }
        }
        return false;

        static bool IsSend(BlockedState b) => b.Call.StartsWith("Send", StringComparison.Ordinal);
        static bool IsReceive(BlockedState b) => b.Call is "Receive" or "Probe";
    }

    private List<string> Describe()
    {
        var lines = new List<string>
        {
            $"sharpmpi: deadlock: every rank is blocked in MPI and none has changed state for {timeout.TotalSeconds:0.#} s",
        };
        for (int r = 0; r < size; r++)
        {
            if (_states[r] is { } s)
                lines.Add($"sharpmpi: deadlock: rank {r} waits in {s}");
        }
        if (FindCycle() is { } cycle)
            lines.Add("sharpmpi: deadlock: wait-for cycle: " + string.Join(" -> ", cycle.Select(r => $"rank {r}")));
        lines.AddRange(CollectiveMismatches());
        return lines;
    }

    // Each blocked rank waits for at most one peer: follow the edges from every rank until one repeats.
    private List<int>? FindCycle()
    {
        for (int start = 0; start < size; start++)
        {
            var path = new List<int>();
            var seen = new Dictionary<int, int>();
            int at = start;
            while (at >= 0 && at < size && _states[at] is { } s && !seen.ContainsKey(at))
            {
                seen[at] = path.Count;
                path.Add(at);
                at = s.PeerWorld;
            }
            if (at >= 0 && seen.TryGetValue(at, out int from))
            {
                var cycle = path.GetRange(from, path.Count - from);
                cycle.Add(at);
                return cycle;
            }
        }
        return null;
    }

    private IEnumerable<string> CollectiveMismatches()
    {
        var byComm = new Dictionary<int, List<(int Rank, BlockedState State)>>();
        for (int r = 0; r < size; r++)
        {
            if (_states[r] is { IsCollective: true } s)
            {
                if (!byComm.TryGetValue(s.Context, out var list))
                    byComm[s.Context] = list = [];
                list.Add((r, s));
            }
        }
        foreach (var members in byComm.Values)
        {
            if (members.Select(m => (m.State.Collective, m.State.Sequence, m.State.Root)).Distinct().Count() < 2)
                continue;
            var text = new StringBuilder($"sharpmpi: deadlock: collective mismatch on {members[0].State.Comm}: ");
            text.AppendJoin(", ", members.Select(m =>
                $"rank {m.Rank} is in {m.State.Collective} (call #{m.State.Sequence}{(m.State.Root >= 0 ? $", root {m.State.Root}" : "")})"));
            yield return text.ToString();
        }
    }
}
