using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using SharpMpi.Diagnostics;
using SharpMpi.Run.Diagnostics;

namespace SharpMpi.Run.Tests;

/// <summary>The trace buffer, the rank trace file and the merger, without processes.</summary>
public sealed class TraceFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpmpi-trace-test-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static TraceRecord Call(ushort name, long start, long end) => new()
    {
        Name = name,
        CommName = 0,
        Start = start,
        End = end,
        Thread = 1,
        Peer = -2,
        Tag = -1,
        Root = -1,
        SendDestWorld = -1,
        SendSeq = -1,
        ReceiveSource = -1,
        ReceiveSeq = -1,
    };

    private static TraceRecord[] AllRecords(TraceFile file)
    {
        var records = new TraceRecord[file.RecordCount];
        file.ReadRecords(0, records);
        return records;
    }

    private string Complete(TraceBuffer buffer, int rank = 0)
    {
        var strings = new TraceStrings();
        strings.IdOf("Send");
        TraceFile.Write(rank, "finalize", anchorTicks: 0, anchorUnixNanoseconds: 0, strings, buffer);
        return Path.Combine(_directory, TraceFile.FileName(rank));
    }

    [Fact]
    public void TraceBuffer_MoreRecordsThanCapacity_KeepsTheNewestInOrder()
    {
        var buffer = new TraceBuffer(Path.Combine(_directory, TraceFile.FileName(0)), 2 * TraceBuffer.ChunkRecords);
        long total = 5L * TraceBuffer.ChunkRecords + 123;
        for (long i = 0; i < total; i++)
            buffer.Add(Call(1, i, i));

        using var file = TraceFile.Read(Complete(buffer));
        Assert.NotNull(file);
        Assert.Equal(total - buffer.Capacity, file.Dropped);
        Assert.Equal(buffer.Capacity, file.RecordCount);
        long expected = file.Dropped;
        foreach (var r in AllRecords(file))
            Assert.Equal(expected++, r.Start);
        Assert.Equal(total, expected);
        // Read in pieces that wrap around the end of the ring, as the merger reads blocks.
        var piece = new TraceRecord[1000];
        file.ReadRecords(file.RecordCount - 500, piece.AsSpan(0, 500));
        Assert.Equal(total - 500, piece[0].Start);
        Assert.Equal(total - 1, piece[499].Start);
    }

    [Fact]
    public void TraceBuffer_FewRecords_FileHoldsJustThem()
    {
        var buffer = new TraceBuffer(Path.Combine(_directory, TraceFile.FileName(0)), 1 << 18);
        for (int i = 0; i < 10; i++)
            buffer.Add(Call(1, i, i));
        string path = Complete(buffer);
        using var file = TraceFile.Read(path);
        Assert.NotNull(file);
        Assert.Equal(0, file.Dropped);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), AllRecords(file).Select(r => r.Start));
        Assert.True(new FileInfo(path).Length < 10 * TraceRecord.Size + 1024);
    }

    [Fact]
    public void TraceBuffer_ThreadsAddingAtOnce_KeepEveryRecord()
    {
        var buffer = new TraceBuffer(Path.Combine(_directory, TraceFile.FileName(0)), 1 << 16);
        const int Threads = 4, PerThread = 5 * TraceBuffer.ChunkRecords + 7;
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, t =>
        {
            for (int i = 0; i < PerThread; i++)
                buffer.Add(Call(1, t * 1_000_000L + i, 0));
        });
        using var file = TraceFile.Read(Complete(buffer));
        Assert.NotNull(file);
        var starts = AllRecords(file).Select(r => r.Start).Order().ToList();
        var expected = Enumerable.Range(0, Threads).SelectMany(t => Enumerable.Range(0, PerThread).Select(i => t * 1_000_000L + i)).Order().ToList();
        Assert.Equal(expected, starts);
    }

    [Fact]
    public void TraceStrings_EqualTextsFromDifferentStrings_ShareOneId()
    {
        var strings = new TraceStrings();
        string a = new('x', 3), b = new('x', 3);
        Assert.Equal(0, strings.IdOf(null));
        ushort id = strings.IdOf(a);
        Assert.NotEqual(0, id);
        Assert.Equal(id, strings.IdOf(b));
        Assert.Equal(id, strings.IdOf(a));
        Assert.NotEqual(id, strings.IdOf("Send"));
        Assert.Equal("xxx", strings.Snapshot()[id]);
    }

    [Fact]
    public void TraceStrings_ManyStringObjects_KeepIdsStable()
    {
        var strings = new TraceStrings();
        var ids = new Dictionary<string, ushort>();
        // More distinct string objects than the reference cache keeps, over a few texts.
        for (int i = 0; i < 10_000; i++)
        {
            string text = $"comm{i % 7}";
            ushort id = strings.IdOf(text);
            Assert.Equal(ids.TryGetValue(text, out ushort known) ? known : ids[text] = id, id);
        }
        Assert.Equal(7 + 2, strings.Snapshot().Length);
    }

    [Fact]
    public void FlowSequences_ManyKeys_CountEachKeyFromZero()
    {
        var sequences = new FlowSequences();
        // More keys than the table starts with, interleaved, so it grows while counts are in it.
        for (int round = 0; round < 3; round++)
        {
            for (int key = 0; key < 100; key++)
                Assert.Equal(round, sequences.Next(4, key % 10, key / 10));
        }
        Assert.Equal(0, sequences.Next(6, 0, 0));
    }

    [Fact]
    public void CallRecorder_SampleSeed_DiffersBetweenRanksOnTheSameThread()
    {
        var seeds = Enumerable.Range(0, 64).Select(rank => CallRecorder.SampleSeed(thread: 1, rank)).ToList();
        Assert.Equal(seeds.Count, seeds.Distinct().Count());
        Assert.All(seeds, seed => Assert.NotEqual(0u, seed));
    }

    [Fact]
    public void TraceStrings_ManyDistinctTexts_EachKeepsItsId()
    {
        var strings = new TraceStrings();
        var ids = new ushort[5000];
        for (int i = 0; i < ids.Length; i++)
            ids[i] = strings.IdOf($"text{i}");
        // New string objects: found by value, after the by-value table has grown many times.
        for (int i = 0; i < ids.Length; i++)
            Assert.Equal(ids[i], strings.IdOf($"text{i}"));
        Assert.Equal(ids.Length + 2, strings.Snapshot().Length);
        Assert.Equal("text4321", strings.Snapshot()[ids[4321]]);
    }

    private string WriteRank(int rank, params (string Name, TraceRecord Record)[] calls)
    {
        var strings = new TraceStrings();
        string path = Path.Combine(_directory, TraceFile.FileName(rank));
        var buffer = new TraceBuffer(path, Math.Max(1, calls.Length));
        foreach (var (name, record) in calls)
        {
            var r = record;
            r.Name = strings.IdOf(name);
            r.CommName = strings.IdOf("World");
            buffer.Add(r);
        }
        TraceFile.Write(rank, "finalize", anchorTicks: 0, anchorUnixNanoseconds: 1_000_000_000_000, strings, buffer);
        return path;
    }

    private static long Ticks(long nanoseconds) => nanoseconds * Stopwatch.Frequency / 1_000_000_000;

    [Fact]
    public void TraceFile_WrittenAndRead_RoundTripsRecordsAndStrings()
    {
        var send = Call(0, Ticks(2000), Ticks(5000)) with { Peer = 1, Tag = 7, Bytes = 128, SendDestWorld = 1, SendSeq = 0, Context = 4 };
        string path = WriteRank(3, ("Send", send), ("Barrier", Call(0, Ticks(6000), Ticks(9000)) with { IsCollective = true, Tag = 1 }));

        using var file = TraceFile.Read(path);
        Assert.NotNull(file);
        Assert.Equal(3, file.Rank);
        Assert.Equal("finalize", file.Reason);
        Assert.Equal(Environment.MachineName, file.Host);
        Assert.Equal(2, file.RecordCount);
        var records = AllRecords(file);
        var first = records[0];
        Assert.Equal("Send", file.Strings[first.Name]);
        Assert.Equal("World", file.Strings[first.CommName]);
        Assert.Equal((1, 7, 128L, 1, 0L, 4), (first.Peer, first.Tag, first.Bytes, first.SendDestWorld, first.SendSeq, first.Context));
        Assert.Equal(1_000_000_002_000, file.UnixNanoseconds(first.Start), tolerance: 1);
        Assert.True(records[1].IsCollective);
    }

    [Fact]
    public void TraceFile_CutShort_IsNotRead()
    {
        string path = WriteRank(0, ("Send", Call(0, 1, 2)));
        byte[] whole = File.ReadAllBytes(path);
        File.WriteAllBytes(path, whole[..^5]);
        Assert.Null(TraceFile.Read(path));
        File.WriteAllBytes(path, whole[..20]);
        Assert.Null(TraceFile.Read(path));
        // The header intact but a record missing before it.
        File.WriteAllBytes(path, [.. whole[..8], .. whole[(8 + TraceRecord.Size)..]]);
        Assert.Null(TraceFile.Read(path));
    }

    [Fact]
    public void Merge_SendOnOneRankReceiveOnAnother_IsOneFlowFromSendToReceive()
    {
        WriteRank(0, ("Send", Call(0, Ticks(1000), Ticks(3000)) with { Context = 4, Peer = 1, Tag = 7, Bytes = 64, SendDestWorld = 1, SendSeq = 0 }));
        WriteRank(1, ("Receive", Call(0, Ticks(500), Ticks(4000)) with
        {
            Context = 4,
            Peer = 0,
            Tag = 7,
            Bytes = 64,
            ReceiveSource = 0,
            ReceiveTag = 7,
            ReceivedBytes = 64,
            ReceiveSeq = 0,
        }));
        string output = Path.Combine(_directory, "out", "trace.json");

        var (events, flows, ranks) = TraceMerger.Merge(_directory, 3, output);

        Assert.Equal((2, 1, 2), (events, flows, ranks));
        using var doc = JsonDocument.Parse(File.ReadAllBytes(output));
        var all = doc.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
        Assert.Equal(4, all.Count(e => e.GetProperty("ph").GetString() == "M"));
        var send = all.Single(e => e.GetProperty("name").GetString() == "Send");
        Assert.Equal(0, send.GetProperty("pid").GetInt32());
        Assert.Equal(0.5, send.GetProperty("ts").GetDouble(), 3);
        Assert.Equal(2.0, send.GetProperty("dur").GetDouble(), 3);
        Assert.Equal("World", send.GetProperty("args").GetProperty("comm").GetString());
        Assert.Equal(1, send.GetProperty("args").GetProperty("peer").GetInt32());
        var receive = all.Single(e => e.GetProperty("name").GetString() == "Receive");
        Assert.Equal(0.0, receive.GetProperty("ts").GetDouble(), 3);
        Assert.Equal(0, receive.GetProperty("args").GetProperty("source").GetInt32());
        var start = all.Single(e => e.GetProperty("ph").GetString() == "s");
        var finish = all.Single(e => e.GetProperty("ph").GetString() == "f");
        Assert.Equal(start.GetProperty("id").GetInt32(), finish.GetProperty("id").GetInt32());
        Assert.Equal((0, 1), (start.GetProperty("pid").GetInt32(), finish.GetProperty("pid").GetInt32()));
        // Just inside the slices: after the send's start, before the receive's end.
        Assert.Equal(0.501, start.GetProperty("ts").GetDouble(), 3);
        Assert.Equal(3.499, finish.GetProperty("ts").GetDouble(), 3);
    }

    private static TraceRecord Send(long start, int tag, long sequence) =>
        Call(0, Ticks(start), Ticks(start + 100)) with { Context = 4, Peer = 1, Tag = tag, SendDestWorld = 1, SendSeq = sequence };

    private static TraceRecord Receive(long start, int tag, long sequence) =>
        Call(0, Ticks(start), Ticks(start + 100)) with
        {
            Context = 4,
            Peer = 0,
            Tag = tag,
            ReceiveSource = 0,
            ReceiveTag = tag,
            ReceiveSeq = sequence,
        };

    [Fact]
    public void Merge_MessagesOnTwoTags_PairTheNthSendWithTheNthReceiveOfEachTag()
    {
        // Rank 1 receives tag 8 before tag 7, and never receives the third message of tag 7.
        WriteRank(0, ("Send", Send(1000, 7, 0)), ("Send", Send(2000, 7, 1)), ("Send", Send(3000, 8, 0)), ("Send", Send(4000, 7, 2)));
        WriteRank(1, ("Receive", Receive(1000, 8, 0)), ("Receive", Receive(2000, 7, 0)), ("Receive", Receive(3000, 7, 1)));
        string output = Path.Combine(_directory, "trace.json");

        var (events, flows, _) = TraceMerger.Merge(_directory, 2, output);

        Assert.Equal((7, 3), (events, flows));
        using var doc = JsonDocument.Parse(File.ReadAllBytes(output));
        var all = doc.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
        var starts = all.Where(e => e.GetProperty("ph").GetString() == "s").ToDictionary(e => e.GetProperty("id").GetInt32());
        var finishes = all.Where(e => e.GetProperty("ph").GetString() == "f").ToDictionary(e => e.GetProperty("id").GetInt32());
        Assert.Equal(starts.Keys.Order(), finishes.Keys.Order());
        // Each arrow runs from the send that started at t to the receive of the same tag and number.
        var pairs = starts.Keys.Select(id => (Math.Round(starts[id].GetProperty("ts").GetDouble()),
            Math.Round(finishes[id].GetProperty("ts").GetDouble()))).Order().ToList();
        Assert.Equal(new List<(double, double)> { (0, 1), (1, 2), (2, 0) }, pairs);
    }

    [Fact]
    public void Merge_ManyBlocks_KeepsEveryEventInOrder()
    {
        int count = 20_000;
        var calls = new (string, TraceRecord)[count];
        for (int i = 0; i < count; i++)
            calls[i] = ("Barrier", Call(0, Ticks(1000L * i), Ticks(1000L * i + 10)) with { IsCollective = true, Tag = i });
        WriteRank(0, calls);
        string output = Path.Combine(_directory, "trace.json");

        TraceMerger.Merge(_directory, 1, output);

        using var doc = JsonDocument.Parse(File.ReadAllBytes(output));
        var sequences = doc.RootElement.GetProperty("traceEvents").EnumerateArray()
            .Where(e => e.GetProperty("ph").GetString() == "X")
            .Select(e => e.GetProperty("args").GetProperty("sequence").GetInt32()).ToList();
        Assert.Equal(Enumerable.Range(0, count), sequences);
    }

    [Fact]
    public void SourceLines_MethodOfThisAssembly_IsFoundInItsPdb()
    {
        var method = typeof(TraceFileTests).GetMethod(nameof(Call), BindingFlags.NonPublic | BindingFlags.Static)!;
        using var lines = new SourceLines();
        string? line = lines.Find(method.Module.FullyQualifiedName, method.MetadataToken, 0);
        Assert.NotNull(line);
        Assert.StartsWith("TraceFileTests.cs:", line, StringComparison.Ordinal);
        Assert.Null(lines.Find(Path.Combine(_directory, "missing.dll"), method.MetadataToken, 0));
    }
}
