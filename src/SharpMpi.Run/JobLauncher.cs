using System.ComponentModel;
using System.Globalization;
using System.Net;
using System.Threading.Channels;
using SharpMpi.Bootstrap;

namespace SharpMpi.Run;

/// <summary>
/// Runs one job: starts the key-value store and the ranks, forwards signals, and turns the first
/// failure (non-zero exit, signal death, abort, timeout, signal to the launcher) into an orderly
/// shutdown and the launcher's exit code (table in <see cref="ExitCodes"/>).
/// </summary>
/// <remarks>
/// Everything that happens to the job arrives as an event on one channel and is handled by one loop,
/// so the decisions (who failed first, when to escalate to SIGKILL) need no locks. Whatever happens,
/// the end is the same: SIGKILL to every rank's process group, output drained, shared-memory
/// segments of the job removed, KVS closed.
/// </remarks>
internal sealed class JobLauncher
{
    /// <summary>Time between SIGTERM (or a forwarded SIGINT) and SIGKILL.</summary>
    internal static readonly TimeSpan GracePeriod = TimeSpan.FromSeconds(3);

    private static readonly TimeSpan s_drainTimeout = TimeSpan.FromSeconds(5);

    private readonly RunOptions _options;
    private readonly OutputSink _sink;
    private readonly Channel<JobEvent> _events = Channel.CreateUnbounded<JobEvent>();
    private readonly List<IRank> _ranks = [];
    private readonly List<RemoteHost> _remoteHosts = [];
    private Diagnostics.JobDiagnostics? _diagnostics;
    private bool _terminating;
    private int _exitCode = ExitCodes.Success;

    private JobLauncher(RunOptions options, OutputSink sink)
    {
        _options = options;
        _sink = sink;
    }

    /// <summary>Runs the job described by <paramref name="options"/> and returns the launcher's exit code.</summary>
    /// <exception cref="UsageException">The program cannot be found or built.</exception>
    public static Task<int> RunAsync(RunOptions options, CancellationToken cancellationToken) =>
        new JobLauncher(options, OutputSink.ForConsole()).RunAsync(cancellationToken);

    private void Verbose(string message)
    {
        if (_options.Verbose)
            _sink.Message($"sharpmpi: {message}");
    }

    private async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        ResolvedProgram program = ProgramResolver.Resolve(_options.Program, _options.Verbose ? Verbose : null);
        // 6 random bytes: 12 hex characters, unique enough per machine and safe in /dev/shm names.
        string jobId = KvsProtocol.NewRandomHex(6);
        string secret = KvsProtocol.NewRandomHex();

        Placement placement = _options.Placement;
        (IPAddress bindAddress, string? advertisedHost) = KvsAddress(placement);
        await using var kvs = new KvsServer(bindAddress, _options.Ranks, secret);
        kvs.Aborted += (rank, code, message) => _events.Writer.TryWrite(new JobEvent.Abort(rank, code, message));
        kvs.Rejected += message => Verbose(message);
        using var diagnostics = _diagnostics = Diagnostics.JobDiagnostics.Start(_options.Diagnostics, _options.Ranks, kvs,
            report => _events.Writer.TryWrite(new JobEvent.Deadlock(report)), _sink.Message);
        kvs.Start();

        using var signals = new SignalForwarder(signal => _events.Writer.TryWrite(new JobEvent.Signal(signal)));
        using CancellationTokenRegistration cancelled = cancellationToken.Register(
            () => _events.Writer.TryWrite(new JobEvent.Signal(Signals.Terminate)));

        string kvsEndpoint = kvs.Endpoint;
        if (advertisedHost is not null && KvsProtocol.TryParseEndpoint(kvsEndpoint, out _, out int port))
            kvsEndpoint = $"{advertisedHost}:{port}";
        Verbose($"job {jobId}: {_options.Ranks} rank(s) of {string.Join(' ', [program.FileName, .. program.LeadingArguments])}; KVS at {kvsEndpoint}");
        if (_options.DisplayMap)
            _sink.Write(toStderr: false, System.Text.Encoding.UTF8.GetBytes(placement.Describe()));
        if (_options.BindToCore)
            Verbose("--bind-to core: pinning is not implemented yet; ranks are not bound");
        if (!RankProcess.UsesProcessGroups)
            Verbose("setsid not found on PATH: ranks share the launcher's process group; their children may survive a kill");

        try
        {
            if (StartRanks(program, kvsEndpoint, jobId, secret))
            {
                using var timeout = new CancellationTokenSource();
                if (_options.Timeout is TimeSpan limit)
                {
                    timeout.CancelAfter(limit);
                    timeout.Token.Register(() => _events.Writer.TryWrite(new JobEvent.Timeout()));
                }
                await HandleEventsAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            await CleanUpAsync(jobId).ConfigureAwait(false);
            diagnostics.Finish(string.Join(' ', [_options.Program, .. _options.Arguments]));
        }
        return _exitCode;
    }

    // Local-only jobs: loopback (or $SHARPMPI_KVS_BIND). With remote hosts: --kvs-address, else the
    // address of the interface that routes to the first remote host, else every interface with this
    // machine's name advertised (remote hosts that do not resolve yet, as pods before DNS settles).
    private (IPAddress Bind, string? Advertised) KvsAddress(Placement placement)
    {
        if (_options.KvsAddress is IPAddress given)
            return (given, null);
        if (Environment.GetEnvironmentVariable("SHARPMPI_KVS_BIND") is { Length: > 0 } text)
            return (IPAddress.TryParse(text, out IPAddress? address) ? address : throw new UsageException($"SHARPMPI_KVS_BIND='{text}' is not an IP address"), null);
        if (placement.IsLocalOnly)
            return (IPAddress.Loopback, null);
        string firstRemote = placement.HostOfRank.Select(h => placement.Hosts[h]).First(h => !h.IsLocal).Name;
        if (LocalHost.AddressRoutingTo(firstRemote) is IPAddress routed)
        {
            Verbose($"KVS on {routed}, the address that routes to {firstRemote}");
            return (routed, null);
        }
        string name = Dns.GetHostName();
        Verbose($"cannot resolve {firstRemote}: KVS on all interfaces, advertised as {name} (use --kvs-address to choose)");
        return (IPAddress.Any, name);
    }

    // Returns false when a rank or an agent could not be started (the others have been told to stop).
    private bool StartRanks(ResolvedProgram program, string kvsEndpoint, string jobId, string secret)
    {
        Placement placement = _options.Placement;
        int size = _options.Ranks;
        bool multiHost = !placement.IsLocalOnly;
        for (int rank = 0; rank < size; rank++)
        {
            HostSlots host = placement.Hosts[placement.HostOfRank[rank]];
            if (!host.IsLocal)
                continue;
            int[] local = placement.RanksOnNodeOf(rank);
            var environment = new List<KeyValuePair<string, string>>(_options.Environment)
            {
                // Set after the user's -x values: these must be right for the job to work at all.
                new(LaunchInfo.RankVariable, Text(rank)),
                new(LaunchInfo.SizeVariable, Text(size)),
                new(LaunchInfo.LocalRankVariable, Text(Array.IndexOf(local, rank))),
                new(LaunchInfo.LocalSizeVariable, Text(local.Length)),
                new(LaunchInfo.NodeVariable, Text(placement.NodeOfHost[placement.HostOfRank[rank]])),
                new(LaunchInfo.KvsVariable, kvsEndpoint),
                new(LaunchInfo.JobIdVariable, jobId),
                new(LaunchInfo.SecretVariable, secret),
            };
            environment.AddRange(_diagnostics?.RankEnvironment ?? []);
            RankProcess process;
            try
            {
                process = RankProcess.Start(
                    rank, program, _options.Arguments, environment,
                    stdin: rank == 0 ? Console.OpenStandardInput() : null,
                    _sink, _options.TagOutput, _options.OutputDirectory,
                    host: multiHost ? host.Name : null);
            }
            catch (Exception e) when (e is Win32Exception or IOException or UnauthorizedAccessException)
            {
                _sink.Message($"sharpmpi: cannot start rank {rank} ({program.FileName}): {e.Message}");
                _exitCode = ExitCodes.UsageError;
                BeginTermination(Signals.Terminate);
                return false;
            }
            Watch(process);
        }
        return multiHost ? StartAgents(program, kvsEndpoint, jobId, secret) : true;
    }

    private bool StartAgents(ResolvedProgram program, string kvsEndpoint, string jobId, string secret)
    {
        Placement placement = _options.Placement;
        var agent = LaunchAgent.Choose(_options.LaunchAgent, Environment.GetEnvironmentVariable);
        string[] invocation = LaunchAgent.AgentInvocation(Environment.GetEnvironmentVariable);
        for (int h = 0; h < placement.Hosts.Count; h++)
        {
            HostSlots host = placement.Hosts[h];
            int[] ranks = placement.RanksOn(h);
            if (host.IsLocal || ranks.Length == 0)
                continue;
            string[] command = agent.CommandFor(host.Name,
            [
                .. invocation,
                "--kvs", kvsEndpoint,
                "--node", Text(placement.NodeOfHost[h]),
                "--size", Text(_options.Ranks),
                "--jobid", jobId,
                "--host", host.Name,
                "--ranks", string.Join(',', ranks),
                "--",
                program.FileName, .. program.LeadingArguments, .. _options.Arguments,
            ]);
            Verbose($"starting ranks {string.Join(',', ranks)} on {host.Name} ({agent.Source}): {string.Join(' ', command)}");
            RemoteHost remote;
            try
            {
                remote = RemoteHost.Start(host.Name, command, ranks, secret, _options.Environment, _sink, _options.TagOutput, _options.OutputDirectory);
            }
            catch (Exception e) when (e is Win32Exception or IOException or UnauthorizedAccessException)
            {
                _sink.Message($"sharpmpi: cannot start the launch agent for host {host.Name} ({command[0]}): {e.Message}");
                _exitCode = ExitCodes.UsageError;
                BeginTermination(Signals.Terminate);
                return false;
            }
            _remoteHosts.Add(remote);
            foreach (RemoteRank rank in remote.Ranks)
                Watch(rank);
        }
        return true;
    }

    private void Watch(IRank rank)
    {
        _ranks.Add(rank);
        _ = rank.Exited.ContinueWith(
            t => _events.Writer.TryWrite(new JobEvent.RankExited(rank, t.Result)),
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private async Task HandleEventsAsync()
    {
        int exited = 0;
        while (exited < _ranks.Count)
        {
            JobEvent e = await _events.Reader.ReadAsync().ConfigureAwait(false);
            switch (e)
            {
                case JobEvent.RankExited(IRank rank, int code):
                    exited++;
                    _diagnostics?.RankExited(rank.Rank);
                    if (code != 0 && !_terminating)
                    {
                        _sink.Message(Signals.FromExitCode(code) is int signal
                            ? $"sharpmpi: {rank.Describe()} killed by signal {signal} ({Signals.Name(signal)})"
                            : $"sharpmpi: {rank.Describe()} exited with code {code}");
                        _exitCode = code;
                        BeginTermination(Signals.Terminate);
                    }
                    break;

                case JobEvent.Abort(int rank, int code, string message):
                    if (!_terminating)
                    {
                        _sink.Message($"sharpmpi: rank {rank} aborted: {message}");
                        // An exit status holds 8 bits; MPI_Abort's errorcode is passed on like Open MPI does.
                        _exitCode = code & 0xFF;
                        BeginTermination(Signals.Terminate);
                    }
                    break;

                case JobEvent.Deadlock(IReadOnlyList<string> report):
                    if (!_terminating)
                    {
                        foreach (string line in report)
                            _sink.Message(line);
                        _exitCode = Diagnostics.JobDiagnostics.DeadlockExitCode;
                        BeginTermination(Signals.Terminate);
                    }
                    break;

                case JobEvent.Timeout:
                    if (!_terminating)
                    {
                        _sink.Message($"sharpmpi: job timed out after {_options.Timeout!.Value.TotalSeconds:0} s");
                        _exitCode = ExitCodes.Timeout;
                        BeginTermination(Signals.Terminate);
                    }
                    break;

                case JobEvent.Signal(int signal) when signal is Signals.User1 or Signals.User2:
                    Verbose($"forwarding {Signals.Name(signal)} to the ranks");
                    SignalRunning(signal);
                    break;

                case JobEvent.Signal(int signal):
                    if (!_terminating)
                    {
                        Verbose($"got {Signals.Name(signal)}: forwarding it and ending the job");
                        _exitCode = ExitCodes.SignalBase + signal;
                        BeginTermination(signal);
                    }
                    else
                    {
                        // A second Ctrl+C: the user does not want to wait for the grace period.
                        SignalRunning(Signals.Kill);
                    }
                    break;

                case JobEvent.GraceExpired:
                    Verbose($"ranks still running after {GracePeriod.TotalSeconds:0} s: sending SIGKILL");
                    SignalRunning(Signals.Kill);
                    break;
            }
        }
    }

    private void BeginTermination(int signal)
    {
        _terminating = true;
        SignalRunning(signal);
        _ = Task.Delay(GracePeriod).ContinueWith(
            _ => _events.Writer.TryWrite(new JobEvent.GraceExpired()),
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void SignalRunning(int signal)
    {
        foreach (IRank rank in _ranks)
        {
            if (!rank.HasExited)
                rank.Signal(signal);
        }
    }

    private async Task CleanUpAsync(string jobId)
    {
        // Every rank's group, exited or not: this also ends what a rank left running in the background.
        foreach (IRank rank in _ranks)
            rank.Signal(Signals.Kill);
        // Agents kill whatever is left of their ranks when their stdin closes.
        await Task.WhenAll(_remoteHosts.Select(h => h.ShutdownAsync(s_drainTimeout))).ConfigureAwait(false);
        await Task.WhenAll(_ranks.Select(r => r.DrainOutputAsync(s_drainTimeout))).ConfigureAwait(false);
        RemoveSharedMemory(jobId);
    }

    /// <summary>Deletes the job's shared-memory segments (<c>/dev/shm/sharpmpi.&lt;jobid&gt;.*</c>), which ranks killed early could not.</summary>
    internal static void RemoveSharedMemory(string jobId)
    {
        const string shm = "/dev/shm";
        if (!Directory.Exists(shm))
            return;
        try
        {
            foreach (string file in Directory.EnumerateFiles(shm, $"sharpmpi.{jobId}.*"))
            {
                try
                {
                    File.Delete(file);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Console.Error.WriteLine($"sharpmpi: cannot remove {file}: {e.Message}");
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"sharpmpi: cannot list {shm}: {e.Message}");
        }
    }

    /// <summary>Everything the job loop reacts to.</summary>
    private abstract record JobEvent
    {
        public sealed record RankExited(IRank Rank, int Code) : JobEvent;

        public sealed record Abort(int Rank, int Code, string Message) : JobEvent;

        public sealed record Timeout : JobEvent;

        public sealed record Deadlock(IReadOnlyList<string> Report) : JobEvent;

        public sealed record Signal(int Number) : JobEvent;

        public sealed record GraceExpired : JobEvent;
    }
}
