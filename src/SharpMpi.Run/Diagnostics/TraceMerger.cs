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
    /// <summary>One call; times in nanoseconds (since the Unix epoch for <paramref name="Ts"/>), as the ranks write them.</summary>
    private sealed record Event(int Rank, string Name, long Ts, long Dur, long Tid, string? FlowOut, string? FlowIn, JsonElement Source);

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

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static (int, int, int) Write(List<(int Rank, string Host, JsonDocument Doc)> documents, string output)
    {
        var events = new List<Event>();
        foreach (var (rank, _, doc) in documents)
        {
            foreach (var e in doc.RootElement.GetProperty("events").EnumerateArray())
            {
                // One pass over the properties (GetProperty would scan them once per field).
                string name = "?";
                string? flowOut = null, flowIn = null;
                long ts = 0, dur = 0, tid = 0;
                foreach (var p in e.EnumerateObject())
                {
                    // NameEquals compares the UTF-8 bytes; Name would allocate a string per property.
                    if (p.NameEquals("name"u8))
                        name = p.Value.GetString() ?? "?";
                    else if (p.NameEquals("tsNs"u8))
                        ts = p.Value.GetInt64();
                    else if (p.NameEquals("durNs"u8))
                        dur = p.Value.GetInt64();
                    else if (p.NameEquals("tid"u8))
                        tid = p.Value.GetInt64();
                    else if (p.NameEquals("flowOut"u8))
                        flowOut = p.Value.GetString();
                    else if (p.NameEquals("flowIn"u8))
                        flowIn = p.Value.GetString();
                }
                events.Add(new Event(rank, name, ts, dur, tid, flowOut, flowIn, e));
            }
        }
        long origin = long.MaxValue;
        foreach (var e in events)
            origin = Math.Min(origin, e.Ts);
        var sends = new Dictionary<string, Event>(StringComparer.Ordinal);
        var receives = new Dictionary<string, Event>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            if (e.FlowOut is { } ok)
                sends[ok] = e;
            if (e.FlowIn is { } ik)
                receives[ik] = e;
        }

        string? folder = Path.GetDirectoryName(Path.GetFullPath(output));
        if (folder is not null)
            Directory.CreateDirectory(folder);
        int flows = 0;
        using var stream = File.Create(output);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { SkipValidation = true });
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
            WriteMicroseconds(w, "ts", e.Ts - origin);
            WriteMicroseconds(w, "dur", e.Dur);
            w.WriteNumber("pid", e.Rank);
            w.WriteNumber("tid", e.Tid);
            w.WriteStartObject("args");
            foreach (var p in e.Source.EnumerateObject())
            {
                if (p.NameEquals("name"u8) || p.NameEquals("tsNs"u8) || p.NameEquals("durNs"u8) || p.NameEquals("tid"u8)
                    || p.NameEquals("flowOut"u8) || p.NameEquals("flowIn"u8))
                {
                    continue;
                }
                p.WriteTo(w);
            }
            w.WriteEndObject();
            w.WriteEndObject();
            if (w.BytesPending > 1 << 20)
                w.Flush();
        }
        foreach (var (key, send) in sends)
        {
            if (!receives.TryGetValue(key, out var receive))
                continue;
            flows++;
            // Bound to the enclosing slices: the send's start and the receive's end.
            WriteFlow(w, "s", flows, send.Rank, send.Tid, send.Ts - origin + Math.Min(send.Dur / 2, 1), key);
            WriteFlow(w, "f", flows, receive.Rank, receive.Tid, receive.Ts - origin + receive.Dur - Math.Min(receive.Dur / 2, 1), key);
        }
        w.WriteEndArray();
        w.WriteEndObject();
        return (events.Count, flows, documents.Count);
    }

    /// <summary>
    /// Writes <paramref name="nanoseconds"/> as Chrome's microseconds with three decimals, from integers: the
    /// same text a double would give, at a fraction of the cost of formatting one per event.
    /// </summary>
    private static void WriteMicroseconds(Utf8JsonWriter w, string name, long nanoseconds)
    {
        Span<byte> text = stackalloc byte[24];
        long whole = Math.DivRem(Math.Abs(nanoseconds), 1000, out long fraction);
        int n = 0;
        if (nanoseconds < 0)
            text[n++] = (byte)'-';
        whole.TryFormat(text[n..], out int written, default, CultureInfo.InvariantCulture);
        n += written;
        text[n++] = (byte)'.';
        text[n++] = (byte)('0' + fraction / 100);
        text[n++] = (byte)('0' + fraction / 10 % 10);
        text[n++] = (byte)('0' + fraction % 10);
        w.WritePropertyName(name);
        w.WriteRawValue(text[..n], skipInputValidation: true);
    }

    private static void WriteFlow(Utf8JsonWriter w, string phase, int id, int pid, long tid, long ts, string key)
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
        WriteMicroseconds(w, "ts", ts);
        w.WriteStartObject("args");
        w.WriteString("key", key);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
