using System.Diagnostics;
using System.Diagnostics.Metrics;
using SharpMpi.Engine;

namespace SharpMpi;

/// <summary>
/// Names of SharpMPI's <see cref="Meter"/> and <see cref="System.Diagnostics.ActivitySource"/>, for
/// <c>dotnet-counters</c> and OpenTelemetry (see docs/observability.md). Instruments record nothing and cost
/// one branch while no listener is attached.
/// </summary>
public static class MpiDiagnostics
{
    /// <summary>Name of the meter (<c>"SharpMpi"</c>): message and byte counters, unexpected-queue gauge, wait and collective histograms.</summary>
    public const string MeterName = "SharpMpi";

    /// <summary>Name of the activity source (<c>"SharpMpi"</c>): one activity per blocking collective call while a listener is attached.</summary>
    public const string ActivitySourceName = "SharpMpi";

    internal static readonly Meter Meter = new(MeterName, "1.0");

    internal static readonly ActivitySource ActivitySource = new(ActivitySourceName, "1.0");

    internal static readonly Counter<long> MessagesSent =
        Meter.CreateCounter<long>("sharpmpi.messages.sent", "{message}", "Messages (and collective fragments) sent, by transport");

    internal static readonly Counter<long> BytesSent =
        Meter.CreateCounter<long>("sharpmpi.bytes.sent", "By", "Payload bytes sent, by transport");

    internal static readonly Counter<long> MessagesReceived =
        Meter.CreateCounter<long>("sharpmpi.messages.received", "{message}", "Messages arrived (eager or rendezvous request), by transport");

    internal static readonly Counter<long> BytesReceived =
        Meter.CreateCounter<long>("sharpmpi.bytes.received", "By", "Payload bytes of arrived messages, by transport");

    internal static readonly Histogram<double> WaitTime =
        Meter.CreateHistogram<double>("sharpmpi.wait.duration", "s", "Time a thread waited inside MPI for an operation to complete");

    internal static readonly Histogram<double> CollectiveDuration =
        Meter.CreateHistogram<double>("sharpmpi.collective.duration", "s", "Duration of blocking collective calls, tagged with the collective's name");

    private static readonly List<WeakReference<ProgressEngine>> s_engines = [];

    static MpiDiagnostics()
    {
        Meter.CreateObservableGauge("sharpmpi.unexpected.length", ObserveUnexpected, "{message}",
            "Messages that arrived before a matching receive was posted, per rank");
    }

    /// <summary>Makes <paramref name="engine"/>'s unexpected queue visible to the gauge.</summary>
    internal static void Track(ProgressEngine engine)
    {
        lock (s_engines)
        {
            s_engines.RemoveAll(w => !w.TryGetTarget(out _));
            s_engines.Add(new WeakReference<ProgressEngine>(engine));
        }
    }

    private static IEnumerable<Measurement<long>> ObserveUnexpected()
    {
        List<ProgressEngine> engines = [];
        lock (s_engines)
        {
            foreach (var w in s_engines)
            {
                if (w.TryGetTarget(out var e))
                    engines.Add(e);
            }
        }
        foreach (var e in engines)
            yield return new Measurement<long>(e.TotalUnexpected(), new KeyValuePair<string, object?>("rank", e.WorldRank));
    }

    /// <summary>A frame left for <paramref name="transport"/>.</summary>
    internal static void Sent(string transport, long bytes)
    {
        var tag = new KeyValuePair<string, object?>("transport", transport);
        MessagesSent.Add(1, tag);
        BytesSent.Add(bytes, tag);
    }

    /// <summary>A message arrived through <paramref name="transport"/>.</summary>
    internal static void Received(string transport, long bytes)
    {
        var tag = new KeyValuePair<string, object?>("transport", transport);
        MessagesReceived.Add(1, tag);
        BytesReceived.Add(bytes, tag);
    }
}
