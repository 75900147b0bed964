using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using SharpMpi.Engine;
using SharpMpi.Transport;

namespace SharpMpi.Tests;

/// <summary>
/// Drives one rank's engine directly with arrivals and posted receives in random interleavings and compares
/// every match with a reference model of MPI's rules: an arriving message takes the oldest posted receive
/// it fits; a new receive takes the oldest unexpected message it accepts; wildcards accept anything.
/// </summary>
public unsafe class MatchingPropertyTests
{
    /// <summary>One step: a message arrives (Source, Tag, Length) or a receive is posted (Source/Tag or wildcards).</summary>
    public readonly record struct Step(bool IsArrival, byte Source, byte Tag, bool AnySource, bool AnyTag, byte Length);

    private sealed class NullTransport : ITransport
    {
        public string Name => "null";
        public int MaxFramePayload => 1 << 20;
        public int EagerLimit => 1 << 20;
        public bool HasPendingInput => false;
        public bool TrySend(int peer, in FrameHeader header, ReadOnlySpan<byte> payload) => true;
        public int Poll(IFrameSink sink) => 0;
        public bool CanPull(int peer) => false;
        public void Pull(int peer, ulong address, Span<byte> destination) => throw new NotSupportedException();
        public void Dispose()
        {
        }
    }

    private static Arbitrary<Step[]> Steps() =>
        (from isArrival in ArbMap.Default.GeneratorFor<bool>()
         from source in Gen.Choose(0, 3)
         from tag in Gen.Choose(0, 3)
         from anySource in Gen.Frequency((1, Gen.Constant(true)), (3, Gen.Constant(false)))
         from anyTag in Gen.Frequency((1, Gen.Constant(true)), (3, Gen.Constant(false)))
         from length in Gen.Choose(4, 40)
         select new Step(isArrival, (byte)source, (byte)tag, anySource, anyTag, (byte)length))
        .ArrayOf().ToArbitrary();

    [Property(MaxTest = 300)]
    public Property Matching_FollowsMpiRules() => Prop.ForAll(Steps(), steps =>
    {
        var transport = new NullTransport();
        using var engine = new ProgressEngine(0, [transport, transport, transport, transport], new Doorbell(), WaitPolicy.ForLocalRanks(1));
        const int context = 0;

        // Reference model.
        var modelPosted = new List<(int Receive, int Source, int Tag)>();
        var modelUnexpected = new List<(int Message, int Source, int Tag)>();
        var expected = new Dictionary<int, int>(); // receive index -> message id

        var buffers = new List<byte[]>();
        var handles = new List<System.Buffers.MemoryHandle>();
        var requests = new List<RequestCore>();
        int messageId = 0;
        foreach (var step in steps)
        {
            int source = step.AnySource ? Communicator.AnySource : step.Source;
            int tag = step.AnyTag ? Communicator.AnyTag : step.Tag;
            if (step.IsArrival)
            {
                int id = messageId++;
                var payload = new byte[step.Length];
                BitConverter.TryWriteBytes(payload, id);
                var header = new FrameHeader
                {
                    Kind = FrameKind.Eager,
                    Context = context,
                    Source = step.Source,
                    Tag = step.Tag,
                    MessageLength = payload.Length,
                    PayloadLength = payload.Length,
                };
                engine.OnFrame(step.Source, header, payload);
                int match = modelPosted.FindIndex(p => MatchQueues.Fits(p.Source, p.Tag, step.Source, step.Tag));
                if (match >= 0)
                {
                    expected[modelPosted[match].Receive] = id;
                    modelPosted.RemoveAt(match);
                }
                else
                {
                    modelUnexpected.Add((id, step.Source, step.Tag));
                }
            }
            else
            {
                int index = requests.Count;
                var buffer = new byte[64];
                var handle = buffer.AsMemory().Pin();
                buffers.Add(buffer);
                handles.Add(handle);
                requests.Add(engine.StartReceive(context, source, tag, (byte*)handle.Pointer, buffer.Length));
                int match = modelUnexpected.FindIndex(m => MatchQueues.Fits(source, tag, m.Source, m.Tag));
                if (match >= 0)
                {
                    expected[index] = modelUnexpected[match].Message;
                    modelUnexpected.RemoveAt(match);
                }
                else
                {
                    modelPosted.Add((index, source, tag));
                }
            }
        }

        bool ok = true;
        for (int i = 0; i < requests.Count; i++)
        {
            bool shouldMatch = expected.TryGetValue(i, out int id);
            ok &= requests[i].IsCompleted == shouldMatch;
            if (shouldMatch && requests[i].IsCompleted)
                ok &= BitConverter.ToInt32(buffers[i]) == id;
        }
        foreach (var h in handles)
            h.Dispose();
        return ok;
    });
}
