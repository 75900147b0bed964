using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SharpMpi.Run.Diagnostics;

/// <summary>
/// The job's profile from the ranks' <c>profile.&lt;rank&gt;.json</c> files: an mpiP-style text report
/// (MPI time per rank, aggregate time per call, top call sites, bytes) and the same as JSON for scripts.
/// </summary>
internal sealed class ProfileReport
{
    private sealed record Stats(string Call, string Site, long Count, double Seconds, double Min, double Max, long Bytes);

    private sealed record RankProfile(int Rank, string Host, double AppSeconds, double MpiSeconds, List<Stats> Calls, List<Stats> Sites);

    private readonly List<RankProfile> _ranks = [];

    /// <summary>Reads whatever profile files exist in <paramref name="directory"/>.</summary>
    public static ProfileReport Load(string directory, int size)
    {
        var report = new ProfileReport();
        using var lines = new SourceLines();
        for (int rank = 0; rank < size; rank++)
        {
            string file = Path.Combine(directory, $"profile.{rank.ToString(CultureInfo.InvariantCulture)}.json");
            if (!File.Exists(file))
                continue;
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
                var root = doc.RootElement;
                if (root.TryGetProperty("siteSampleInterval", out var interval))
                    report._siteSampleInterval = Math.Max(report._siteSampleInterval, interval.GetInt32());
                if (root.TryGetProperty("siteSampleMaxInterval", out var largest))
                    report._siteSampleMaxInterval = Math.Max(report._siteSampleMaxInterval, largest.GetInt32());
                report._ranks.Add(new RankProfile(rank, root.GetProperty("host").GetString() ?? "",
                    root.GetProperty("appSeconds").GetDouble(), root.GetProperty("mpiSeconds").GetDouble(),
                    Read(root.GetProperty("calls"), lines), Read(root.GetProperty("sites"), lines)));
            }
            catch (JsonException)
            {
                // Incomplete file of a killed rank.
            }
        }
        return report;
    }

    private static List<Stats> Read(JsonElement array, SourceLines lines) =>
        [.. array.EnumerateArray().Select(e => new Stats(
            e.GetProperty("call").GetString() ?? "?",
            Site(e, lines),
            e.GetProperty("count").GetInt64(),
            e.GetProperty("seconds").GetDouble(),
            e.GetProperty("minSeconds").GetDouble(),
            e.GetProperty("maxSeconds").GetDouble(),
            e.GetProperty("bytes").GetInt64()))];

    // "File.cs:line (Type.Method)" when the rank said where the call is and the PDB has its line, else as the rank wrote it.
    private static string Site(JsonElement e, SourceLines lines)
    {
        string site = e.TryGetProperty("site", out var s) ? s.GetString() ?? "" : "";
        if (e.TryGetProperty("module", out var module) && module.GetString() is { } path
            && e.TryGetProperty("method", out var method) && e.TryGetProperty("il", out var il)
            && lines.Find(path, method.GetInt32(), il.GetInt32()) is { } line)
        {
            return $"{line} ({(e.TryGetProperty("where", out var where) ? where.GetString() : "?")})";
        }
        return site;
    }

    public int RankCount => _ranks.Count;

    /// <summary>Ranks look up the call site of one call in this many (after the first ones of each call); 1 = every call.</summary>
    private int _siteSampleInterval = 1;

    /// <summary>The largest interval a rank sampled at: ranks sample less often while stack walks cost them too much.</summary>
    private int _siteSampleMaxInterval = 1;

    private static List<Stats> Aggregate(IEnumerable<Stats> all) =>
        [.. all.GroupBy(s => (s.Call, s.Site))
            .Select(g => new Stats(g.Key.Call, g.Key.Site, g.Sum(s => s.Count), g.Sum(s => s.Seconds),
                g.Min(s => s.Min), g.Max(s => s.Max), g.Sum(s => s.Bytes)))
            .OrderByDescending(s => s.Seconds)];

    /// <summary>The mpiP-style text report.</summary>
    public string ToText(string command)
    {
        var t = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        double app = _ranks.Sum(r => r.AppSeconds), mpi = _ranks.Sum(r => r.MpiSeconds);
        t.AppendLine("@ sharpmpi profile (mpiP-style)");
        t.AppendLine(c, $"@ Command : {command}");
        t.AppendLine(c, $"@ Ranks   : {_ranks.Count}");
        t.AppendLine("@--- MPI Time (seconds) ---------------------------------------------------");
        t.AppendLine(c, $"{"Task",4} {"AppTime",12} {"MPITime",12} {"MPI%",7}");
        foreach (var r in _ranks)
            t.AppendLine(c, $"{r.Rank,4} {r.AppSeconds,12:F4} {r.MpiSeconds,12:F4} {Percent(r.MpiSeconds, r.AppSeconds),7:F2}");
        t.AppendLine(c, $"{"*",4} {app,12:F4} {mpi,12:F4} {Percent(mpi, app),7:F2}");
        t.AppendLine("@--- Aggregate Time (all ranks, descending) -------------------------------");
        t.AppendLine(c, $"{"Call",-22} {"Count",9} {"Time(ms)",12} {"Mean(us)",11} {"Max(us)",11} {"App%",7} {"MPI%",7} {"Bytes",14}");
        foreach (var s in Aggregate(_ranks.SelectMany(r => r.Calls)))
        {
            t.AppendLine(c, $"{s.Call,-22} {s.Count,9} {s.Seconds * 1e3,12:F3} {s.Seconds * 1e6 / Math.Max(1, s.Count),11:F2} {s.Max * 1e6,11:F2} {Percent(s.Seconds, app),7:F2} {Percent(s.Seconds, mpi),7:F2} {s.Bytes,14}");
        }
        var sites = Aggregate(_ranks.SelectMany(r => r.Sites)).Take(20).ToList();
        if (sites.Count > 0)
        {
            t.AppendLine("@--- Top call sites (all ranks, top twenty by time) -------------------------");
            if (_siteSampleInterval > 1)
            {
                if (_siteSampleMaxInterval > _siteSampleInterval)
                    t.AppendLine(c, $"@ (estimated: after its first calls, one call of each kind in {_siteSampleInterval} to {_siteSampleMaxInterval} is located, weighted by that interval)");
                else
                    t.AppendLine(c, $"@ (estimated: after its first calls, one call of each kind in {_siteSampleInterval} is located, weighted {_siteSampleInterval}x)");
            }
            t.AppendLine(c, $"{"Call",-22} {"Count",9} {"Time(ms)",12} {"MPI%",7} {"Bytes",14}  Site");
            foreach (var s in sites)
                t.AppendLine(c, $"{s.Call,-22} {s.Count,9} {s.Seconds * 1e3,12:F3} {Percent(s.Seconds, mpi),7:F2} {s.Bytes,14}  {s.Site}");
        }
        return t.ToString();
    }

    /// <summary>The profile as JSON: per rank, and aggregated per call and call site.</summary>
    public void WriteJson(string path, string command)
    {
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null)
            Directory.CreateDirectory(folder);
        using var stream = File.Create(path);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("command", command);
        w.WriteStartArray("ranks");
        foreach (var r in _ranks)
        {
            w.WriteStartObject();
            w.WriteNumber("rank", r.Rank);
            w.WriteString("host", r.Host);
            w.WriteNumber("appSeconds", r.AppSeconds);
            w.WriteNumber("mpiSeconds", r.MpiSeconds);
            w.WriteNumber("mpiPercent", Percent(r.MpiSeconds, r.AppSeconds));
            WriteStats(w, "calls", r.Calls);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        WriteStats(w, "calls", Aggregate(_ranks.SelectMany(r => r.Calls)));
        w.WriteNumber("siteSampleInterval", _siteSampleInterval);
        w.WriteNumber("siteSampleMaxInterval", Math.Max(_siteSampleInterval, _siteSampleMaxInterval));
        WriteStats(w, "sites", Aggregate(_ranks.SelectMany(r => r.Sites)));
        w.WriteEndObject();
    }

    private static void WriteStats(Utf8JsonWriter w, string name, IEnumerable<Stats> stats)
    {
        w.WriteStartArray(name);
        foreach (var s in stats)
        {
            w.WriteStartObject();
            w.WriteString("call", s.Call);
            if (s.Site.Length > 0)
                w.WriteString("site", s.Site);
            w.WriteNumber("count", s.Count);
            w.WriteNumber("seconds", s.Seconds);
            w.WriteNumber("meanMicroseconds", s.Seconds * 1e6 / Math.Max(1, s.Count));
            w.WriteNumber("minSeconds", s.Min);
            w.WriteNumber("maxSeconds", s.Max);
            w.WriteNumber("bytes", s.Bytes);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static double Percent(double part, double whole) => whole > 0 ? 100 * part / whole : 0;
}
