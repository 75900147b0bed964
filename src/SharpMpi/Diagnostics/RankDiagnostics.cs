using System.Runtime.InteropServices;
using SharpMpi.Bootstrap;
using SharpMpi.Engine;

namespace SharpMpi.Diagnostics;

/// <summary>Turns on, for a launched rank, what the launcher asked for through <see cref="DiagnosticsSettings"/>.</summary>
internal static class RankDiagnostics
{
    /// <summary>Attaches the call recorder and the blocked-wait reporter to <paramref name="engine"/> as configured.</summary>
    public static void Attach(ProgressEngine engine, KvsClient? kvs, int rank)
    {
        var settings = DiagnosticsSettings.FromEnvironment();
        if (settings.RecordsCalls)
        {
            var recorder = new CallRecorder(rank, settings);
            engine.Recorder = recorder;
            // The launcher ends a job with SIGTERM (deadlock, another rank's failure): keep what was recorded.
            // Not cancelled, so the process still terminates as usual afterwards.
            s_termination = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => recorder.Write("terminated"));
        }
        if (settings.BlockedReportMilliseconds > 0 && kvs is not null)
            engine.BlockedReporter = new BlockedReporter(kvs.ReportBlocked, settings.BlockedReportMilliseconds);
    }

    private static PosixSignalRegistration? s_termination;

    /// <summary>Finalize: writes the files. The launcher reads them after the job.</summary>
    public static void Finish(ProgressEngine engine, string reason)
    {
        if (engine.Recorder is { } recorder)
        {
            recorder.Write(reason);
        }
        else if (Environment.GetEnvironmentVariable(DiagnosticsSettings.TimingVariable) == "1")
        {
            // The same line as a recording rank prints, for the plain run to compare with.
            Console.Error.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"sharpmpi: rank {engine.WorldRank}: diagnostics off, JIT {System.Runtime.JitInfo.GetCompiledMethodCount()} methods {System.Runtime.JitInfo.GetCompilationTime().TotalMilliseconds:F1} ms"));
        }
    }
}
