using System.Globalization;
using System.Text.Json;

namespace SharpMpi.Run.Diagnostics;

/// <summary>
/// Merges the ranks' <c>trace.&lt;rank&gt;.json</c> files into one Chrome trace-event file: a complete
/// (<c>ph: "X"</c>) event per MPI call with pid = rank and tid = thread, <c>process_name</c> metadata
/// "rank N (host)", and a flow (<c>ph: "s"</c> → <c>ph: "f"</c>) from each send to the receive that matched
/// it, paired by the flow keys both sides recorded. Timestamps are microseconds from the job's first event.
/// </summary>
internal static class TraceMerger
{
    private sealed record Event(int Rank, string Name, double Ts, double Dur, long Tid, JsonElement Source);

    /// <summary>Merges the files found in <paramref name="directory"/> into <paramref name="output"/>; returns the number of events and flows.</summary>
    public static (int Events, int Flows, int Ranks) Merge(string directory, int size, string output)
    {
        var documents = new List<(int Rank, string Host, JsonDocument Doc)>();
        try
        {
            for (int rank = 0; rank < size; rank++)
            {
                string file = Path.Combine(directory, $"trace.{rank.ToString(CultureInfo.InvariantCulture)}.json");
                if (!File.Exists(file))
                    continue;
                try
                {
                    var doc = JsonDocument.Parse(File.ReadAllBytes(file));
                    string host = doc.RootElement.TryGetProperty("host", out var h) ? h.GetString() ?? "" : "";
                    documents.Add((rank, host, doc));
                }
                catch (JsonException)
                {
                    // A rank killed while writing: its file is incomplete; the others still make a trace.
                }
            }
            return Write(documents, output);
        }
        finally
        {
            foreach (var d in documents)
                d.Doc.Dispose();
        }
    }

    private static (int, int, int) Write(List<(int Rank, string Host, JsonDocument Doc)> documents, string output)
    {
        var events = new List<Event>();
        foreach (var (rank, _, doc) in documents)
        {
            foreach (var e in doc.RootElement.GetProperty("events").EnumerateArray())
            {
                events.Add(new Event(rank, e.GetProperty("name").GetString() ?? "?", e.GetProperty("ts").GetDouble(),
                    e.GetProperty("dur").GetDouble(), e.GetProperty("tid").GetInt64(), e));
            }
        }
        double origin = events.Count == 0 ? 0 : events.Min(e => e.Ts);
        var sends = new Dictionary<string, Event>(StringComparer.Ordinal);
        var receives = new Dictionary<string, Event>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            if (e.Source.TryGetProperty("flowOut", out var o) && o.GetString() is { } ok)
                sends[ok] = e;
            if (e.Source.TryGetProperty("flowIn", out var i) && i.GetString() is { } ik)
                receives[ik] = e;
        }

        string? folder = Path.GetDirectoryName(Path.GetFullPath(output));
        if (folder is not null)
            Directory.CreateDirectory(folder);
        int flows = 0;
        using var stream = File.Create(output);
        using var w = new Utf8JsonWriter(stream);
        w.WriteStartObject();
        w.WriteString("displayTimeUnit", "ns");
        w.WriteStartArray("traceEvents");
        foreach (var (rank, host, _) in documents)
        {
            w.WriteStartObject();
            w.WriteString("name", "process_name");
            w.WriteString("ph", "M");
            w.WriteNumber("pid", rank);
            w.WriteStartObject("args");
            w.WriteString("name", host.Length > 0 ? $"rank {rank} ({host})" : $"rank {rank}");
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject();
            w.WriteString("name", "process_sort_index");
            w.WriteString("ph", "M");
            w.WriteNumber("pid", rank);
            w.WriteStartObject("args");
            w.WriteNumber("sort_index", rank);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        foreach (var e in events)
        {
            w.WriteStartObject();
            w.WriteString("name", e.Name);
            w.WriteString("cat", "mpi");
            w.WriteString("ph", "X");
            w.WriteNumber("ts", Math.Round(e.Ts - origin, 3));
            w.WriteNumber("dur", e.Dur);
            w.WriteNumber("pid", e.Rank);
            w.WriteNumber("tid", e.Tid);
            w.WriteStartObject("args");
            foreach (var p in e.Source.EnumerateObject())
            {
                if (p.Name is "name" or "ts" or "dur" or "tid" or "flowOut" or "flowIn")
                    continue;
                p.WriteTo(w);
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        foreach (var (key, send) in sends)
        {
            if (!receives.TryGetValue(key, out var receive))
                continue;
            flows++;
            // Bound to the enclosing slices: the send's start and the receive's end.
            WriteFlow(w, "s", flows, send.Rank, send.Tid, send.Ts - origin + Math.Min(send.Dur / 2, 0.001), key);
            WriteFlow(w, "f", flows, receive.Rank, receive.Tid, receive.Ts - origin + receive.Dur - Math.Min(receive.Dur / 2, 0.001), key);
        }
        w.WriteEndArray();
        w.WriteEndObject();
        return (events.Count, flows, documents.Count);
    }

    private static void WriteFlow(Utf8JsonWriter w, string phase, int id, int pid, long tid, double ts, string key)
    {
        w.WriteStartObject();
        w.WriteString("name", "message");
        w.WriteString("cat", "mpi.message");
        w.WriteString("ph", phase);
        w.WriteNumber("id", id);
        if (phase == "f")
            w.WriteString("bp", "e");
        w.WriteNumber("pid", pid);
        w.WriteNumber("tid", tid);
        w.WriteNumber("ts", Math.Round(ts, 3));
        w.WriteStartObject("args");
        w.WriteString("key", key);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
