using System.Globalization;

namespace SharpMpi.Diagnostics;

/// <summary>
/// What a rank records, from the variables the launcher sets (<c>sharpmpi run --trace/--profile</c> and the
/// deadlock detector). Read once at start-up; all off when run without a launcher.
/// </summary>
/// <param name="TraceDirectory">Write <c>trace.&lt;rank&gt;.bin</c> here at finalize (SHARPMPI_TRACE), or null.</param>
/// <param name="ProfileDirectory">Write <c>profile.&lt;rank&gt;.json</c> here at finalize (SHARPMPI_PROFILE), or null.</param>
/// <param name="CallSites">Attribute profiled calls to the user's call site (SHARPMPI_PROFILE_CALLSITES=1).</param>
/// <param name="TraceCapacity">Events kept per rank; older ones are overwritten (SHARPMPI_TRACE_EVENTS).</param>
/// <param name="BlockedReportMilliseconds">Report a wait to the launcher once it has lasted this long; 0 = never (SHARPMPI_BLOCKED_REPORT_MS).</param>
/// <param name="SiteSampleInterval">
/// Look up the call site of one call in this many (at random, after the first <see cref="CallRecorder.ExactSiteCalls"/>
/// of each call name), or more often skipped where walks cost more (see <c>CallRecorder.AdaptInterval</c>); 1 = every
/// call, exact but a stack walk of several microseconds each (SHARPMPI_PROFILE_SITE_SAMPLE).
/// </param>
internal sealed record DiagnosticsSettings(
    string? TraceDirectory,
    string? ProfileDirectory,
    bool CallSites,
    int TraceCapacity,
    int BlockedReportMilliseconds,
    int SiteSampleInterval = DiagnosticsSettings.DefaultSiteSampleInterval)
{
    /// <summary>Print what recording and writing cost at finalize (SHARPMPI_DIAG_TIMING=1), for measuring the overhead.</summary>
    public bool Timing { get; init; }

    public const string TimingVariable = "SHARPMPI_DIAG_TIMING";

    public const string SiteSampleVariable = "SHARPMPI_PROFILE_SITE_SAMPLE";

    /// <summary>
    /// Default call-site sampling: one call in 256. A stack walk costs about 10-15 us, so this keeps it near
    /// 50 ns per call on average, and a program with few calls still gets every site from the exact first ones.
    /// </summary>
    public const int DefaultSiteSampleInterval = 256;

    public const string TraceVariable = "SHARPMPI_TRACE";
    public const string ProfileVariable = "SHARPMPI_PROFILE";
    public const string CallSitesVariable = "SHARPMPI_PROFILE_CALLSITES";
    public const string TraceCapacityVariable = "SHARPMPI_TRACE_EVENTS";
    public const string BlockedReportVariable = "SHARPMPI_BLOCKED_REPORT_MS";

    /// <summary>Default number of trace events kept per rank (96 bytes each, allocated as they are recorded).</summary>
    public const int DefaultTraceCapacity = 1 << 18;

    public bool RecordsCalls => TraceDirectory is not null || ProfileDirectory is not null;

    public static DiagnosticsSettings FromEnvironment()
    {
        static string? Text(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
        static int Number(string name, int fallback) =>
            int.TryParse(Text(name), NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : fallback;
        return new DiagnosticsSettings(
            Text(TraceVariable),
            Text(ProfileVariable),
            Text(CallSitesVariable) == "1",
            Math.Max(1024, Number(TraceCapacityVariable, DefaultTraceCapacity)),
            Number(BlockedReportVariable, 0),
            Math.Max(1, Number(SiteSampleVariable, DefaultSiteSampleInterval)))
        {
            Timing = Text(TimingVariable) == "1",
        };
    }
}
