using System.Globalization;
using SharpMpi.Diagnostics;

namespace SharpMpi.Run.Diagnostics;

/// <summary>
/// The launcher's side of tracing, profiling and deadlock detection for one job: the variables that turn
/// them on in the ranks, a temporary directory the ranks write their files to, the deadlock watch over the
/// ranks' blocked reports (KVS <c>Blocked</c>), and the merged trace and profile at the end.
/// </summary>
internal sealed class JobDiagnostics : IDisposable
{
    /// <summary>Exit code of a job ended by the deadlock detector.</summary>
    public const int DeadlockExitCode = 112;

    private readonly JobDiagnosticsOptions _options;
    private readonly int _size;
    private readonly string? _directory;
    private readonly DeadlockDetector? _detector;
    private readonly CancellationTokenSource _stop = new();
    private readonly Action<string> _message;
    private readonly bool[] _finalized;
    private int _finalizedCount;
    private Task<(int Events, int Flows, int Ranks)>? _merge;
    private readonly Action<string>? _timing;

    private JobDiagnostics(JobDiagnosticsOptions options, int size, Action<string> message)
    {
        _options = options;
        _size = size;
        _message = message;
        _finalized = new bool[size];
        if (Environment.GetEnvironmentVariable(DiagnosticsSettings.TimingVariable) == "1")
            _timing = message;
        var environment = new List<KeyValuePair<string, string>>();
        if (options.TracePath is not null || options.ProfileWanted)
        {
            _directory = Directory.CreateTempSubdirectory("sharpmpi-diag-").FullName;
            if (options.TracePath is not null)
                environment.Add(new(DiagnosticsSettings.TraceVariable, _directory));
            if (options.ProfileWanted)
            {
                environment.Add(new(DiagnosticsSettings.ProfileVariable, _directory));
                environment.Add(new(DiagnosticsSettings.CallSitesVariable, "1"));
            }
        }
        if (options.DeadlockTimeout is TimeSpan timeout)
        {
            _detector = new DeadlockDetector(size, timeout);
            // Report a wait after a second, or sooner for a short timeout, so a deadlock is seen within it.
            double reportMs = Math.Clamp(timeout.TotalMilliseconds / 2, 50, 1000);
            environment.Add(new(DiagnosticsSettings.BlockedReportVariable, ((int)reportMs).ToString(CultureInfo.InvariantCulture)));
        }
        RankEnvironment = environment;
    }

    /// <summary>Variables for every rank.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> RankEnvironment { get; }

    /// <summary>Sets up the job's diagnostics; <paramref name="deadlocked"/> is called once with the report lines.</summary>
    public static JobDiagnostics Start(JobDiagnosticsOptions options, int size, KvsServer kvs, Action<IReadOnlyList<string>> deadlocked,
        Action<string> message)
    {
        var d = new JobDiagnostics(options, size, message);
        if (d._detector is { } detector)
        {
            kvs.BlockedChanged += detector.Update;
            _ = d.WatchAsync(detector, deadlocked);
        }
        if (options.TracePath is not null)
            kvs.Finalized += d.RankFinalized;
        return d;
    }

    /// <summary>
    /// A rank finalized, so its trace file is complete. Once every rank has, the merge starts at once, while
    /// the ranks' processes shut down and the launcher collects them, instead of after all that.
    /// </summary>
    private void RankFinalized(int rank)
    {
        lock (_finalized)
        {
            if (_finalized[rank] || _merge is not null)
                return;
            _finalized[rank] = true;
            if (++_finalizedCount < _size)
                return;
            string trace = _options.TracePath!;
            _merge = Task.Run(() => TraceMerger.Merge(_directory!, _size, trace, _timing));
        }
    }

    /// <summary>A rank's process has ended.</summary>
    public void RankExited(int rank) => _detector?.RankGone(rank);

    private async Task WatchAsync(DeadlockDetector detector, Action<IReadOnlyList<string>> deadlocked)
    {
        var period = TimeSpan.FromMilliseconds(Math.Clamp(detector.Timeout.TotalMilliseconds / 10, 20, 250));
        using var timer = new PeriodicTimer(period);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                if (detector.Check() is { } report)
                {
                    deadlocked(report);
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>After the job: writes the merged trace and the profile. Never throws for a missing or partial rank file.</summary>
    public void Finish(string command)
    {
        _stop.Cancel();
        if (_directory is null)
            return;
        try
        {
            if (_options.TracePath is string trace)
            {
                Task<(int Events, int Flows, int Ranks)>? started;
                lock (_finalized)
                    started = _merge;
                // Started when the last rank finalized; else (a rank aborted or was killed) merged now from the files there are.
                long waited = System.Diagnostics.Stopwatch.GetTimestamp();
                var (events, flows, ranks) = started is not null ? started.GetAwaiter().GetResult() : TraceMerger.Merge(_directory, _size, trace, _timing);
                _timing?.Invoke(string.Create(CultureInfo.InvariantCulture,
                    $"sharpmpi: trace merge: the job waited {System.Diagnostics.Stopwatch.GetElapsedTime(waited).TotalMilliseconds:F1} ms for it after the ranks exited"));
                _message($"sharpmpi: trace: {events} calls of {ranks} rank(s), {flows} message arrows -> {trace} (open in ui.perfetto.dev)");
            }
            if (_options.ProfileWanted)
            {
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                var profile = ProfileReport.Load(_directory, _size);
                if (profile.RankCount == 0)
                {
                    _message("sharpmpi: profile: no rank finished writing a profile");
                }
                else
                {
                    if (_options.Profile)
                        Console.Error.Write(profile.ToText(command));
                    if (_options.ProfileJsonPath is string json)
                        profile.WriteJson(json, command);
                }
                _timing?.Invoke(string.Create(CultureInfo.InvariantCulture,
                    $"sharpmpi: profile: read, resolved and written in {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds:F1} ms"));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
        {
            _message($"sharpmpi: diagnostics: {e.Message}");
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
        if (_directory is not null)
        {
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }
}
