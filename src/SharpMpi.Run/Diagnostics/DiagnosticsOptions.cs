using System.CommandLine;
using System.Globalization;

namespace SharpMpi.Run.Diagnostics;

/// <summary>What the launcher records and watches for a job (<c>--trace</c>, <c>--profile</c>, <c>--deadlock-timeout</c>).</summary>
/// <param name="TracePath">Write a merged Chrome trace-event JSON file here, or null.</param>
/// <param name="Profile">Print an mpiP-style profile to stderr at the end.</param>
/// <param name="ProfileJsonPath">Write the profile as JSON here, or null.</param>
/// <param name="DeadlockTimeout">Abort when every rank has been blocked this long with no change; null = off.</param>
internal sealed record JobDiagnosticsOptions(string? TracePath, bool Profile, string? ProfileJsonPath, TimeSpan? DeadlockTimeout)
{
    /// <summary>Default of <c>--deadlock-timeout</c>, in seconds.</summary>
    public const double DefaultDeadlockSeconds = 5;

    /// <summary>No tracing or profiling; deadlock detection with the default timeout.</summary>
    public static JobDiagnosticsOptions Default { get; } = new(null, false, null, TimeSpan.FromSeconds(DefaultDeadlockSeconds));

    public bool ProfileWanted => Profile || ProfileJsonPath is not null;
}

/// <summary>The launcher options of <see cref="JobDiagnosticsOptions"/>, added to the <c>run</c> verb.</summary>
internal static class DiagnosticsOptions
{
    private static readonly Option<string?> s_trace = new("--trace")
    {
        Description = "Record every MPI call of every rank and write one Chrome trace-event JSON file (open it in ui.perfetto.dev)",
        HelpName = "FILE",
    };

    private static readonly Option<bool> s_profile = new("--profile")
    {
        Description = "Print an mpiP-style profile at the end: time, count and bytes per MPI call, MPI share per rank, top call sites",
    };

    private static readonly Option<string?> s_profileJson = new("--profile-json")
    {
        Description = "Write the profile as JSON to FILE (implies profiling)",
        HelpName = "FILE",
    };

    private static readonly Option<double?> s_deadlockTimeout = new("--deadlock-timeout")
    {
        Description = $"Abort the job when every rank has been blocked in MPI this long with no change (default {DiagnosticsOptionsText.Default} s; 0 = off)",
        HelpName = "SECONDS",
    };

    private static readonly Option<bool> s_noDeadlock = new("--no-deadlock-detection")
    {
        Description = "Do not watch for deadlocks",
    };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public static void AddTo(Command command)
    {
        command.Options.Add(s_trace);
        command.Options.Add(s_profile);
        command.Options.Add(s_profileJson);
        command.Options.Add(s_deadlockTimeout);
        command.Options.Add(s_noDeadlock);
    }

    /// <summary>Reads and checks the options.</summary>
    /// <exception cref="UsageException">A value is out of range.</exception>
    public static JobDiagnosticsOptions Read(ParseResult parseResult)
    {
        double seconds = parseResult.GetValue(s_deadlockTimeout) ?? JobDiagnosticsOptions.DefaultDeadlockSeconds;
        if (seconds < 0 || double.IsNaN(seconds))
            throw new UsageException($"--deadlock-timeout must be 0 (off) or a positive number of seconds (got {seconds.ToString(CultureInfo.InvariantCulture)})");
        bool off = seconds == 0 || parseResult.GetValue(s_noDeadlock);
        return new JobDiagnosticsOptions(
            parseResult.GetValue(s_trace),
            parseResult.GetValue(s_profile),
            parseResult.GetValue(s_profileJson),
            off ? null : TimeSpan.FromSeconds(seconds));
    }

    private static class DiagnosticsOptionsText
    {
        public const string Default = "5";
    }
}
