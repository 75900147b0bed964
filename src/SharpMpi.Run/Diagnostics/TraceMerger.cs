using System.Runtime.InteropServices;
using System.Text.Json;
using SharpMpi.Diagnostics;

namespace SharpMpi.Run.Diagnostics;

/// <summary>
/// Merges the ranks' <c>trace.&lt;rank&gt;.bin</c> files (<see cref="TraceFile"/>) into one Chrome trace-event
/// file: a complete (<c>ph: "X"</c>) event per MPI call with pid = rank and tid = thread, <c>process_name</c>
/// metadata "rank N (host)", and a flow (<c>ph: "s"</c> → <c>ph: "f"</c>) from each send to the receive that
/// matched it, paired by the flow keys both sides recorded. Timestamps are microseconds from the job's first event.
/// </summary>
/// <remarks>
/// This runs after every traced job, over every call of every rank, so it streams: records are read in place
/// from the files' bytes, flows are paired by value-type keys, and the JSON is written by
/// <see cref="JsonOutput"/> from pre-encoded fragments; no object per event, no string per key.
/// </remarks>
internal static class TraceMerger
{
    /// <summary>Where a flow arrow starts or ends: the call's rank, thread, start (Unix nanoseconds) and duration.</summary>
    private readonly record struct FlowEnd(int Rank, int Tid, long Ts, long Dur);

    /// <summary>A message: (context, sender's communicator rank, receiver's world rank, tag, n-th of these).</summary>
    private readonly record struct FlowKey(int Context, int Source, int DestinationWorld, int Tag, long Sequence);

    /// <summary>A matched message: its key and the calls that sent and received it.</summary>
    private readonly record struct Flow(FlowKey Key, FlowEnd Send, FlowEnd Receive);

    /// <summary>A rank's file with its strings encoded once as JSON values.</summary>
    private sealed record RankTrace(int Rank, TraceFile File, byte[][] Strings);

    /// <summary>Records (or flows) formatted as one piece of work; about 1.7 MB of JSON.</summary>
    private const int BlockItems = 8192;

    /// <summary>A run of one rank's records (<paramref name="Trace"/> set) or of the matched flows (null).</summary>
    private readonly record struct Block(RankTrace? Trace, int Start, int Count);

    /// <summary>Merges the files found in <paramref name="directory"/> into <paramref name="output"/>; returns the number of events and flows.</summary>
    /// <param name="timing">Told how long each phase took (SHARPMPI_DIAG_TIMING=1), or null.</param>
    public static (int Events, int Flows, int Ranks) Merge(string directory, int size, string output, Action<string>? timing = null)
    {
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        var ranks = new List<RankTrace>();
        for (int rank = 0; rank < size; rank++)
        {
            string path = Path.Combine(directory, TraceFile.FileName(rank));
            // A rank killed before finalize has no file; the others still make a trace.
            if (File.Exists(path) && TraceFile.Read(path) is { } file)
            {
                var strings = new byte[file.Strings.Length][];
                for (int i = 0; i < strings.Length; i++)
                    strings[i] = Quoted(file.Strings[i]);
                ranks.Add(new RankTrace(rank, file, strings));
            }
        }

        long read = System.Diagnostics.Stopwatch.GetTimestamp();
        var (origin, events, flows) = Pair(ranks);
        long paired = System.Diagnostics.Stopwatch.GetTimestamp();
        var blocks = new List<Block>();
        foreach (var trace in ranks)
        {
            for (int start = 0; start < trace.File.RecordCount; start += BlockItems)
                blocks.Add(new Block(trace, start, Math.Min(BlockItems, trace.File.RecordCount - start)));
        }
        for (int start = 0; start < flows.Length; start += BlockItems)
            blocks.Add(new Block(null, start, Math.Min(BlockItems, flows.Length - start)));

        string? folder = Path.GetDirectoryName(Path.GetFullPath(output));
        if (folder is not null)
            Directory.CreateDirectory(folder);
        using (var stream = new FileStream(output, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0))
        {
            var w = new JsonOutput(stream, 1 << 16);
            w.Raw("""{"displayTimeUnit":"ns","traceEvents":["""u8);
            for (int i = 0; i < ranks.Count; i++)
            {
                int rank = ranks[i].Rank;
                w.Raw(i == 0 ? """{"name":"process_name","ph":"M","pid":"""u8 : """,{"name":"process_name","ph":"M","pid":"""u8);
                w.Number(rank);
                w.Raw(""","args":{"name":"""u8);
                string host = ranks[i].File.Host;
                w.Raw(Quoted(host.Length > 0 ? $"rank {rank} ({host})" : $"rank {rank}"));
                w.Raw("""}},{"name":"process_sort_index","ph":"M","pid":"""u8);
                w.Number(rank);
                w.Raw(""","args":{"sort_index":"""u8);
                w.Number(rank);
                w.Raw("}}"u8);
            }
            w.Flush();
            WriteBlocks(stream, blocks, flows, origin);
            w.Raw("]}"u8);
            w.Flush();
        }
        if (timing is not null)
        {
            static double Ms(long from, long to) => (to - from) * 1000.0 / System.Diagnostics.Stopwatch.Frequency;
            long done = System.Diagnostics.Stopwatch.GetTimestamp();
            timing(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"sharpmpi: trace merge: read {Ms(started, read):F1} ms, pair {Ms(read, paired):F1} ms, write {Ms(paired, done):F1} ms, {new FileInfo(output).Length} bytes"));
        }
        return (events, flows.Length, ranks.Count);
    }

    /// <summary>
    /// The job's first timestamp, the number of events, and the messages whose send and receive were both
    /// recorded, in the order of their sends (rank by rank, call by call); a flow's id is its index + 1.
    /// </summary>
    private static (long Origin, int Events, Flow[] Flows) Pair(List<RankTrace> ranks)
    {
        long origin = long.MaxValue;
        int events = 0;
        var sends = new Dictionary<FlowKey, FlowEnd>();
        var receives = new Dictionary<FlowKey, FlowEnd>();
        foreach (var (rank, file, _) in ranks)
        {
            foreach (ref readonly var r in file.Records)
            {
                if (r.Name == 0)
                    continue;
                events++;
                long ts = file.UnixNanoseconds(r.Start);
                origin = Math.Min(origin, ts);
                if (r.SendSeq >= 0)
                {
                    // A repeated key keeps its first place and its last call, as a dictionary assignment does.
                    CollectionsMarshal.GetValueRefOrAddDefault(sends, new FlowKey(r.Context, r.SelfRank, r.SendDestWorld, r.Tag, r.SendSeq), out _) =
                        new FlowEnd(rank, r.Thread, ts, file.Nanoseconds(r.End - r.Start));
                }
                if (r.ReceiveSeq >= 0)
                {
                    receives[new FlowKey(r.Context, r.ReceiveSource, file.Rank, r.ReceiveTag, r.ReceiveSeq)] =
                        new FlowEnd(rank, r.Thread, ts, file.Nanoseconds(r.End - r.Start));
                }
            }
        }
        var flows = new List<Flow>(Math.Min(sends.Count, receives.Count));
        foreach (var (key, send) in sends)
        {
            if (receives.TryGetValue(key, out var receive))
                flows.Add(new Flow(key, send, receive));
        }
        return (origin, events, [.. flows]);
    }

    /// <summary>
    /// Formats the blocks on up to as many threads as there are cores, each into its own buffer, and writes
    /// the buffers in block order: the output is the same as formatting them one after the other, and the
    /// merge (which the launcher runs after every rank has exited, when the cores are idle) takes a fraction
    /// of the wall time.
    /// </summary>
    private static void WriteBlocks(Stream stream, List<Block> blocks, Flow[] flows, long origin)
    {
        int workers = Math.Clamp(Environment.ProcessorCount, 1, 8);
        var buffers = new JsonOutput[Math.Min(workers, blocks.Count)];
        for (int i = 0; i < buffers.Length; i++)
            buffers[i] = new JsonOutput(null, 1 << 21);
        for (int next = 0; next < blocks.Count; next += buffers.Length)
        {
            int batch = Math.Min(buffers.Length, blocks.Count - next);
            if (batch == 1)
            {
                WriteBlock(buffers[0], blocks[next], flows, origin);
            }
            else
            {
                Parallel.For(0, batch, new ParallelOptions { MaxDegreeOfParallelism = batch },
                    i => WriteBlock(buffers[i], blocks[next + i], flows, origin));
            }
            for (int i = 0; i < batch; i++)
            {
                stream.Write(buffers[i].Written);
                buffers[i].Clear();
            }
        }
    }

    private static void WriteBlock(JsonOutput w, Block block, Flow[] flows, long origin)
    {
        if (block.Trace is { } trace)
            WriteEvents(w, trace, block.Start, block.Count, origin);
        else
            WriteFlows(w, flows, block.Start, block.Count, origin);
    }

    private static void WriteFlows(JsonOutput w, Flow[] flows, int start, int count, long origin)
    {
        for (int i = start; i < start + count; i++)
        {
            var (key, send, receive) = flows[i];
            // Bound to the enclosing slices: the send's start and the receive's end.
            WriteFlow(w, """,{"name":"message","cat":"mpi.message","ph":"s","id":"""u8, i + 1, send.Rank, send.Tid,
                send.Ts - origin + Math.Min(send.Dur / 2, 1), key);
            WriteFlow(w, """,{"name":"message","cat":"mpi.message","ph":"f","id":"""u8, i + 1, receive.Rank, receive.Tid,
                receive.Ts - origin + receive.Dur - Math.Min(receive.Dur / 2, 1), key, ""","bp":"e","pid":"""u8);
        }
    }

    /// <summary>A string as a JSON value with its quotes, escaped as <see cref="Utf8JsonWriter"/> escapes by default.</summary>
    private static byte[] Quoted(string text)
    {
        var encoded = JsonEncodedText.Encode(text).EncodedUtf8Bytes;
        var quoted = new byte[encoded.Length + 2];
        quoted[0] = quoted[^1] = (byte)'"';
        encoded.CopyTo(quoted.AsSpan(1));
        return quoted;
    }

    /// <summary>Every record of <paramref name="count"/> from <paramref name="start"/> as a complete event, each preceded by a comma.</summary>
    private static void WriteEvents(JsonOutput w, RankTrace trace, int start, int count, long origin)
    {
        var (rank, file, strings) = trace;
        foreach (ref readonly var r in file.Records.Slice(start, count))
        {
            if (r.Name == 0)
                continue;
            w.Raw(""",{"name":"""u8);
            w.Raw(Text(strings, r.Name));
            w.Raw(""","cat":"mpi","ph":"X","ts":"""u8);
            w.Microseconds(file.UnixNanoseconds(r.Start) - origin);
            w.Raw(""","dur":"""u8);
            w.Microseconds(file.Nanoseconds(r.End - r.Start));
            w.Raw(""","pid":"""u8);
            w.Number(rank);
            w.Raw(""","tid":"""u8);
            w.Number(r.Thread);
            w.Raw(""","args":{"comm":"""u8);
            w.Raw(Text(strings, r.CommName));
            w.Raw(""","context":"""u8);
            w.Number(r.Context);
            if (r.IsCollective)
            {
                w.Raw(""","sequence":"""u8);
                w.Number(r.Tag);
                if (r.Root >= 0)
                {
                    w.Raw(""","root":"""u8);
                    w.Number(r.Root);
                }
                w.Raw(""","bytes":"""u8);
                w.Number(r.Bytes);
                if (r.Op != 0)
                {
                    w.Raw(""","op":"""u8);
                    w.Raw(Text(strings, r.Op));
                }
            }
            else
            {
                if (r.Peer != -2)
                {
                    w.Raw(""","peer":"""u8);
                    w.Number(r.Peer);
                }
                if (r.Tag != -1 || r.Peer != -2)
                {
                    w.Raw(""","tag":"""u8);
                    w.Number(r.Tag);
                }
                w.Raw(""","bytes":"""u8);
                w.Number(r.Bytes);
            }
            if (r.ReceiveSource >= 0)
            {
                // A receive, or a probe that found a message (which has no arrow: the receive takes it).
                w.Raw(""","source":"""u8);
                w.Number(r.ReceiveSource);
                w.Raw(""","receivedTag":"""u8);
                w.Number(r.ReceiveTag);
                w.Raw(""","receivedBytes":"""u8);
                w.Number(r.ReceivedBytes);
            }
            w.Raw("}}"u8);
        }
    }

    private static ReadOnlySpan<byte> Text(byte[][] strings, ushort id) => id == 0 ? "null"u8 : id < strings.Length ? strings[id] : "\"?\""u8;

    private static void WriteFlow(JsonOutput w, ReadOnlySpan<byte> start, int id, int pid, long tid, long ts, in FlowKey key,
        ReadOnlySpan<byte> beforePid = default)
    {
        w.Raw(start);
        w.Number(id);
        w.Raw(beforePid.IsEmpty ? ""","pid":"""u8 : beforePid);
        w.Number(pid);
        w.Raw(""","tid":"""u8);
        w.Number(tid);
        w.Raw(""","ts":"""u8);
        w.Microseconds(ts);
        // The key as text, "context:source:destination:tag:n", as both ranks numbered the message.
        w.Raw(",\"args\":{\"key\":\""u8);
        w.Number(key.Context);
        w.Raw(":"u8);
        w.Number(key.Source);
        w.Raw(":"u8);
        w.Number(key.DestinationWorld);
        w.Raw(":"u8);
        w.Number(key.Tag);
        w.Raw(":"u8);
        w.Number(key.Sequence);
        w.Raw("\"}}"u8);
    }
}
