using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace SharpMpi.Diagnostics;

/// <summary>
/// A rank's <c>profile.&lt;rank&gt;.json</c>: its calls per name and per call site, which the launcher reads
/// (<c>ProfileReport</c> in SharpMpi.Run), resolves to source lines and reports for the job.
/// </summary>
/// <remarks>
/// A few kilobytes written once, at finalize, so the text is built by hand: <c>Utf8JsonWriter</c> cost each
/// rank 10-25 ms there (loading System.Text.Json and its encoder, JIT-compiling the generic code it needs),
/// a few percent of a short job. Strings are escaped as JSON requires (quote, backslash, control characters);
/// everything else is written as it is.
/// </remarks>
internal static class ProfileFile
{
    /// <summary>Writes the file (to <paramref name="path"/>.tmp, then renamed, so readers never see half of one).</summary>
    public static void Write(string path, int rank, string reason, double appSeconds, int siteSampleInterval, int siteSampleMaxInterval,
        CallStatsTable calls, CallStatsTable? sites)
    {
        // Keyed by reference while recording; equal names from different strings become one row here.
        // Arrays, not a List<CallStats>: an instantiation over a struct of this assembly would be JIT-compiled.
        var names = new List<string>();
        var merged = new CallStats[calls.Capacity];
        long mpiTicks = 0;
        for (int i = 0; i < calls.Capacity; i++)
        {
            if (!calls.TryGetAt(i, out string? call, out _, out var s))
                continue;
            mpiTicks += s.Ticks;
            int at = names.IndexOf(call);
            if (at < 0)
            {
                at = names.Count;
                names.Add(call);
            }
            merged[at].Merge(s);
        }

        var t = new StringBuilder(4096);
        t.Append("{\"rank\":").Append(rank.ToString(CultureInfo.InvariantCulture));
        t.Append(",\"host\":");
        Quoted(t, Environment.MachineName);
        t.Append(",\"end\":");
        Quoted(t, reason);
        t.Append(",\"appSeconds\":").Append(Number(appSeconds));
        t.Append(",\"mpiSeconds\":").Append(Number(Seconds(mpiTicks)));
        t.Append(",\"siteSampleInterval\":").Append(siteSampleInterval.ToString(CultureInfo.InvariantCulture));
        t.Append(",\"siteSampleMaxInterval\":").Append(siteSampleMaxInterval.ToString(CultureInfo.InvariantCulture));
        t.Append(",\"calls\":[");
        for (int i = 0; i < names.Count; i++)
        {
            t.Append(i == 0 ? "{\"call\":" : ",{\"call\":");
            Quoted(t, names[i]);
            Stats(t, merged[i]);
        }
        t.Append("],\"sites\":[");
        bool first = true;
        for (int i = 0; sites is not null && i < sites.Capacity; i++)
        {
            if (!sites.TryGetAt(i, out string? call, out var site, out var s) || site is null)
                continue;
            t.Append(first ? "{\"call\":" : ",{\"call\":");
            first = false;
            Quoted(t, call);
            t.Append(",\"site\":");
            Quoted(t, site.Fallback);
            if (site.Module is not null)
            {
                // For the launcher to replace "site" with file:line (see CallSite).
                t.Append(",\"where\":");
                Quoted(t, site.Where);
                t.Append(",\"module\":");
                Quoted(t, site.Module);
                t.Append(",\"method\":").Append(site.MethodToken.ToString(CultureInfo.InvariantCulture));
                t.Append(",\"il\":").Append(site.ILOffset.ToString(CultureInfo.InvariantCulture));
            }
            Stats(t, s);
        }
        t.Append("]}");

        string temp = path + ".tmp";
        File.WriteAllText(temp, t.ToString());
        File.Move(temp, path, overwrite: true);
    }

    private static double Seconds(long ticks) => ticks / (double)Stopwatch.Frequency;

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    // The rest of an object: a call's statistics and the closing brace.
    private static void Stats(StringBuilder t, in CallStats s)
    {
        t.Append(",\"count\":").Append(s.Count.ToString(CultureInfo.InvariantCulture));
        t.Append(",\"seconds\":").Append(Number(Seconds(s.Ticks)));
        t.Append(",\"minSeconds\":").Append(Number(Seconds(s.MinTicks)));
        t.Append(",\"maxSeconds\":").Append(Number(Seconds(s.MaxTicks)));
        t.Append(",\"bytes\":").Append(s.Bytes.ToString(CultureInfo.InvariantCulture)).Append('}');
    }

    /// <summary>Appends <paramref name="text"/> as a JSON string.</summary>
    internal static void Quoted(StringBuilder t, string text)
    {
        t.Append('"');
        foreach (char c in text)
        {
            switch (c)
            {
                case '"':
                    t.Append("\\\"");
                    break;
                case '\\':
                    t.Append("\\\\");
                    break;
                case < ' ':
                    t.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    break;
                default:
                    t.Append(c);
                    break;
            }
        }
        t.Append('"');
    }
}
