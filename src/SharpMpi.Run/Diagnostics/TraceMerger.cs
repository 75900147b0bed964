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
/// This runs after every traced job, over every call of every rank, and the job's wall time includes it, so
/// it is two passes over the records, read from the files a block at a time. The first finds the job's first
/// timestamp and marks, per message channel (context, sender's communicator rank, receiver's world rank,
/// tag), which message numbers were sent and which received in a bit set; the second formats every call and,
/// right after a send or receive whose other side was recorded too, its flow event. A flow's id is its
/// channel's first id plus the message number, so both ends know it without being looked up in each other:
/// no dictionary of flow ends (it was most of the merge's time), no list of flows, no third pass. The JSON
/// is written by <see cref="JsonOutput"/> from pre-encoded fragments; no object per event, no string per key.
/// </remarks>
internal static class TraceMerger
{
    /// <summary>Where messages go: (context, sender's communicator rank, receiver's world rank, tag).</summary>
    private readonly record struct ChannelKey(int Context, int Source, int DestinationWorld, int Tag) : IEquatable<ChannelKey>
    {
        public bool Equals(ChannelKey other) =>
            Context == other.Context && Source == other.Source && DestinationWorld == other.DestinationWorld && Tag == other.Tag;

        public override int GetHashCode() =>
            (int)(((uint)Context * 0x9E3779B1u) ^ ((uint)Source * 0x85EBCA77u) ^ ((uint)DestinationWorld * 0xC2B2AE3Du) ^ ((uint)Tag * 0x27D4EB2Fu));
    }

    /// <summary>The messages of one channel whose send (and receive) was recorded, by message number.</summary>
    private sealed class Channel
    {
        public ulong[] Sent = [];
        public ulong[] Received = [];

        /// <summary>Flow id of message 0 (ids are 1-based and unique across channels).</summary>
        public long FirstId;

        public static void Mark(ref ulong[] bits, long sequence)
        {
            long word = sequence >> 6;
            if (word >= bits.Length)
                Array.Resize(ref bits, (int)Math.Max(word + 1, bits.Length * 2L));
            bits[word] |= 1UL << (int)(sequence & 63);
        }

        public static bool Has(ulong[] bits, long sequence)
        {
            long word = sequence >> 6;
            return word < bits.Length && (bits[word] & (1UL << (int)(sequence & 63))) != 0;
        }

        /// <summary>Message numbers this channel's ids span.</summary>
        public long Span => 64L * Math.Max(Sent.Length, Received.Length);

        /// <summary>Messages whose both ends were recorded: the arrows.</summary>
        public int Matched()
        {
            int n = 0;
            for (int i = 0; i < Math.Min(Sent.Length, Received.Length); i++)
                n += System.Numerics.BitOperations.PopCount(Sent[i] & Received[i]);
            return n;
        }
    }

    /// <summary>A rank's file with its strings encoded once as JSON values.</summary>
    private sealed record RankTrace(int Rank, TraceFile File, byte[][] Strings);

    /// <summary>
    /// Records read and formatted as one piece of work: about 400 KB of JSON. Small, because the buffers for it
    /// are fresh memory in the launcher, whose page faults cost more than formatting (see <see cref="TraceFile"/>).
    /// </summary>
    private const int BlockItems = 2048;

    /// <summary>A run of one rank's records.</summary>
    private readonly record struct Block(RankTrace Trace, int Start, int Count);

    /// <summary>Merges the files found in <paramref name="directory"/> into <paramref name="output"/>; returns the number of events and flows.</summary>
    /// <param name="timing">Told how long each phase took (SHARPMPI_DIAG_TIMING=1), or null.</param>
    public static (int Events, int Flows, int Ranks) Merge(string directory, int size, string output, Action<string>? timing = null)
    {
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        var ranks = new List<RankTrace>();
        try
        {
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
            return Merge(ranks, output, started, timing);
        }
        finally
        {
            foreach (var trace in ranks)
                trace.File.Dispose();
        }
    }

    private static (int Events, int Flows, int Ranks) Merge(List<RankTrace> ranks, string output, long started, Action<string>? timing)
    {
        long read = System.Diagnostics.Stopwatch.GetTimestamp();
        var (origin, events, channels) = Scan(ranks);
        int flows = 0;
        long nextId = 1;
        foreach (var channel in channels.Values)
        {
            channel.FirstId = nextId;
            nextId += channel.Span;
            flows += channel.Matched();
        }
        long paired = System.Diagnostics.Stopwatch.GetTimestamp();
        var blocks = new List<Block>();
        foreach (var trace in ranks)
        {
            for (int start = 0; start < trace.File.RecordCount; start += BlockItems)
                blocks.Add(new Block(trace, start, Math.Min(BlockItems, trace.File.RecordCount - start)));
        }

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
            WriteBlocks(stream, blocks, channels, origin);
            w.Raw("]}"u8);
            w.Flush();
        }
        if (timing is not null)
        {
            static double Ms(long from, long to) => (to - from) * 1000.0 / System.Diagnostics.Stopwatch.Frequency;
            long done = System.Diagnostics.Stopwatch.GetTimestamp();
            timing(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"sharpmpi: trace merge: read {Ms(started, read):F1} ms, scan {Ms(read, paired):F1} ms, write {Ms(paired, done):F1} ms, {new FileInfo(output).Length} bytes"));
        }
        return (events, flows, ranks.Count);
    }

    /// <summary>
    /// The job's first timestamp, the number of events, and the channels with the message numbers each side
    /// recorded; channels are numbered in the order they are first seen (rank by rank, call by call).
    /// </summary>
    private static (long Origin, int Events, Dictionary<ChannelKey, Channel> Channels) Scan(List<RankTrace> ranks)
    {
        long origin = long.MaxValue;
        int events = 0;
        var channels = new Dictionary<ChannelKey, Channel>();
        var records = new TraceRecord[BlockItems];
        foreach (var (rank, file, _) in ranks)
        {
            long first = long.MaxValue;
            for (int start = 0; start < file.RecordCount; start += BlockItems)
            {
                var block = records.AsSpan(0, Math.Min(BlockItems, file.RecordCount - start));
                file.ReadRecords(start, block);
                foreach (ref readonly var r in block)
                {
                    if (r.Name == 0)
                        continue;
                    events++;
                    first = Math.Min(first, r.Start);
                    if (r.SendSeq >= 0)
                        Channel.Mark(ref Find(channels, new ChannelKey(r.Context, r.SelfRank, r.SendDestWorld, r.Tag)).Sent, r.SendSeq);
                    if (r.ReceiveSeq >= 0)
                        Channel.Mark(ref Find(channels, new ChannelKey(r.Context, r.ReceiveSource, file.Rank, r.ReceiveTag)).Received, r.ReceiveSeq);
                }
            }
            if (first != long.MaxValue)
                origin = Math.Min(origin, file.UnixNanoseconds(first));
        }
        return (origin, events, channels);

        static Channel Find(Dictionary<ChannelKey, Channel> channels, ChannelKey key)
        {
            ref var channel = ref CollectionsMarshal.GetValueRefOrAddDefault(channels, key, out _);
            return channel ??= new Channel();
        }
    }

    /// <summary>
    /// Formats the blocks on up to as many threads as there are cores, each into its own buffer, and writes
    /// the buffers in block order: the output is the same as formatting them one after the other, and the
    /// merge (which the launcher runs after every rank has exited, when the cores are idle) takes a fraction
    /// of the wall time.
    /// </summary>
    private static void WriteBlocks(Stream stream, List<Block> blocks, Dictionary<ChannelKey, Channel> channels, long origin)
    {
        int workers = Math.Clamp(Environment.ProcessorCount, 1, 8);
        var buffers = new JsonOutput[Math.Min(workers, blocks.Count)];
        var records = new TraceRecord[buffers.Length][];
        for (int i = 0; i < buffers.Length; i++)
        {
            buffers[i] = new JsonOutput(null, BlockItems * 256);
            records[i] = new TraceRecord[BlockItems];
        }
        for (int next = 0; next < blocks.Count; next += buffers.Length)
        {
            int batch = Math.Min(buffers.Length, blocks.Count - next);
            if (batch == 1)
            {
                WriteEvents(buffers[0], records[0], blocks[next], channels, origin);
            }
            else
            {
                // The channels are only read here, which a Dictionary allows from any number of threads.
                Parallel.For(0, batch, new ParallelOptions { MaxDegreeOfParallelism = batch },
                    i => WriteEvents(buffers[i], records[i], blocks[next + i], channels, origin));
            }
            for (int i = 0; i < batch; i++)
            {
                stream.Write(buffers[i].Written);
                buffers[i].Clear();
            }
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

    /// <summary>
    /// Every record of the block as a complete event, each preceded by a comma, and after a send or receive
    /// whose other end was recorded, the flow event that starts or ends its arrow.
    /// </summary>
    private static void WriteEvents(JsonOutput w, TraceRecord[] records, Block block, Dictionary<ChannelKey, Channel> channels, long origin)
    {
        var (rank, file, strings) = block.Trace;
        var read = records.AsSpan(0, block.Count);
        file.ReadRecords(block.Start, read);
        foreach (ref readonly var r in read)
        {
            if (r.Name == 0)
                continue;
            long ts = file.UnixNanoseconds(r.Start) - origin;
            long dur = file.Nanoseconds(r.End - r.Start);
            // No "cat": optional, and the same for every call (12 bytes of each of hundreds of thousands).
            w.Raw(""",{"name":"""u8);
            w.Raw(Text(strings, r.Name));
            w.Raw(""","ph":"X","ts":"""u8);
            w.Microseconds(ts);
            w.Raw(""","dur":"""u8);
            w.Microseconds(dur);
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
            // Flows bind to the enclosing slices: an arrow leaves the send just after it starts and reaches the
            // receive just before it ends (the event's own time, so the arrow shows who waited on whom).
            if (r.SendSeq >= 0 && channels.TryGetValue(new ChannelKey(r.Context, r.SelfRank, r.SendDestWorld, r.Tag), out var sent)
                && Channel.Has(sent.Received, r.SendSeq))
            {
                WriteFlow(w, """,{"name":"message","cat":"mpi.message","ph":"s","id":"""u8, sent.FirstId + r.SendSeq, rank, r.Thread,
                    ts + Math.Min(dur / 2, 1));
            }
            if (r.ReceiveSeq >= 0 && channels.TryGetValue(new ChannelKey(r.Context, r.ReceiveSource, file.Rank, r.ReceiveTag), out var received)
                && Channel.Has(received.Sent, r.ReceiveSeq))
            {
                WriteFlow(w, """,{"name":"message","cat":"mpi.message","ph":"f","bp":"e","id":"""u8, received.FirstId + r.ReceiveSeq, rank, r.Thread,
                    ts + dur - Math.Min(dur / 2, 1));
            }
        }
    }

    private static ReadOnlySpan<byte> Text(byte[][] strings, ushort id) => id == 0 ? "null"u8 : id < strings.Length ? strings[id] : "\"?\""u8;

    private static void WriteFlow(JsonOutput w, ReadOnlySpan<byte> start, long id, int pid, int tid, long ts)
    {
        w.Raw(start);
        w.Number(id);
        w.Raw(""","pid":"""u8);
        w.Number(pid);
        w.Raw(""","tid":"""u8);
        w.Number(tid);
        w.Raw(""","ts":"""u8);
        w.Microseconds(ts);
        w.Raw("}"u8);
    }
}
