using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace SharpMpi.Run;

/// <summary>
/// The launcher's side of one remote host: the launch-agent process (<c>ssh host sharpmpi agent ...</c>)
/// whose stdin carries the setup and signals and whose stdout carries the ranks' output and exits
/// (protocol in AgentProtocol.cs).
/// </summary>
/// <remarks>
/// If the agent ends before reporting a rank's exit (ssh failed, the host went down, the agent was
/// killed), that rank counts as failed with the agent's exit code (1 if it was 0), so the job loop
/// treats it like a local rank that died.
/// </remarks>
internal sealed class RemoteHost
{
    private readonly Process _process;
    private readonly OutputSink _sink;
    private readonly Dictionary<int, RemoteRank> _ranks = [];
    private readonly object _stdinLock = new();
    private readonly Task _done;
    private volatile bool _shuttingDown;

    private RemoteHost(string name, Process process, OutputSink sink, IEnumerable<RemoteRank> ranks)
    {
        Name = name;
        _process = process;
        _sink = sink;
        foreach (RemoteRank r in ranks)
            _ranks[r.Rank] = r;
        Task stderr = new OutputForwarder(sink, toStderr: true, rank: 0, tag: false, copy: null).PumpAsync(process.StandardError.BaseStream);
        _done = Task.WhenAll(ReadRecordsAsync(), stderr);
    }

    /// <summary>Host name as listed.</summary>
    public string Name { get; }

    /// <summary>The ranks this host runs.</summary>
    public IEnumerable<RemoteRank> Ranks => _ranks.Values;

    /// <summary>Starts the agent with <paramref name="command"/> (launch agent + agent invocation) and sends it the setup.</summary>
    /// <exception cref="System.ComponentModel.Win32Exception">The launch-agent command could not be started.</exception>
    public static RemoteHost Start(
        string name,
        IReadOnlyList<string> command,
        int[] ranks,
        string secret,
        IEnumerable<KeyValuePair<string, string>> environment,
        OutputSink sink,
        bool tag,
        string? outputDirectory)
    {
        var start = new ProcessStartInfo(command[0])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string a in command.Skip(1))
            start.ArgumentList.Add(a);
        var process = new Process { StartInfo = start };
        process.Start();

        var remoteRanks = ranks.Select(r => new RemoteRank(r, name, sink, tag, outputDirectory)).ToList();
        var host = new RemoteHost(name, process, sink, remoteRanks);
        foreach (RemoteRank r in remoteRanks)
            r.Host = host;

        var setup = new StringBuilder();
        setup.Append("secret ").Append(secret).Append('\n');
        foreach ((string key, string value) in environment)
            setup.Append(AgentProtocol.EnvLine(key, value)).Append('\n');
        setup.Append("start\n");
        host.WriteLine(setup.ToString());
        return host;
    }

    /// <summary>Asks the agent to signal one rank's process group.</summary>
    public void Signal(int rank, int signal) =>
        WriteLine(string.Create(CultureInfo.InvariantCulture, $"signal {rank} {signal}\n"));

    /// <summary>Closes the agent's stdin (it then kills its ranks and exits), waits for its reports, and kills it if it lingers.</summary>
    public async Task ShutdownAsync(TimeSpan timeout)
    {
        _shuttingDown = true;
        lock (_stdinLock)
        {
            try
            {
                _process.StandardInput.Close();
            }
            catch (IOException)
            {
            }
        }
        try
        {
            await _done.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        try
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
        LoseUnreported(1);
        _process.Dispose();
    }

    private void WriteLine(string text)
    {
        lock (_stdinLock)
        {
            try
            {
                _process.StandardInput.Write(text);
                _process.StandardInput.Flush();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
            {
                // The agent is gone; its end is reported by the record reader.
            }
        }
    }

    private async Task ReadRecordsAsync()
    {
        var reader = new ByteLineReader(_process.StandardOutput.BaseStream);
        try
        {
            while (await reader.ReadLineAsync().ConfigureAwait(false) is ReadOnlyMemory<byte> line)
                Handle(line.Span);
        }
        catch (IOException)
        {
        }
        await _process.WaitForExitAsync().ConfigureAwait(false);
        int code = _process.ExitCode;
        if (_ranks.Values.Any(r => !r.HasExited) && !_shuttingDown)
        {
            string pending = string.Join(',', _ranks.Values.Where(r => !r.HasExited).Select(r => r.Rank));
            _sink.Message($"sharpmpi: the agent for host {Name} ended (exit code {code}) before rank(s) {pending} finished");
        }
        LoseUnreported(code == 0 ? 1 : code);
    }

    private void Handle(ReadOnlySpan<byte> line)
    {
        if (!AgentProtocol.TryParse(line, out byte kind, out int rank, out ReadOnlySpan<byte> payload) || !_ranks.TryGetValue(rank, out RemoteRank? r))
        {
            // Not a record: something on the agent's way (a login banner) wrote to stdout.
            _sink.Message($"sharpmpi: {Name}: {Encoding.UTF8.GetString(line)}");
            return;
        }
        switch (kind)
        {
            case AgentProtocol.Started:
                r.Pid = int.TryParse(payload, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) ? pid : 0;
                break;
            case AgentProtocol.StdoutLine:
                r.Stdout.Push(payload);
                r.Stdout.Push("\n"u8);
                break;
            case AgentProtocol.StdoutPiece:
                r.Stdout.Push(payload);
                break;
            case AgentProtocol.StderrLine:
                r.Stderr.Push(payload);
                r.Stderr.Push("\n"u8);
                break;
            case AgentProtocol.StderrPiece:
                r.Stderr.Push(payload);
                break;
            case AgentProtocol.StartFailed:
                _sink.Message($"sharpmpi: cannot start rank {rank} on {Name}: {Encoding.UTF8.GetString(payload)}");
                break;
            case AgentProtocol.ExitedRecord:
                r.SetExited(int.TryParse(payload, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int code) ? code : 1);
                break;
        }
    }

    private void LoseUnreported(int code)
    {
        foreach (RemoteRank r in _ranks.Values)
            r.SetExited(code);
    }

    /// <summary>Completes when the agent's output has ended, at most <paramref name="timeout"/>.</summary>
    internal async Task WaitDoneAsync(TimeSpan timeout)
    {
        try
        {
            await _done.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }
}

/// <summary>A rank running on a remote host, seen through its agent.</summary>
internal sealed class RemoteRank : IRank
{
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly string _hostName;
    private int _reported;

    public RemoteRank(int rank, string hostName, OutputSink sink, bool tag, string? outputDirectory)
    {
        Rank = rank;
        _hostName = hostName;
        Stream? stdoutCopy = null, stderrCopy = null;
        if (outputDirectory is not null)
        {
            string dir = Path.Combine(outputDirectory, $"rank.{rank}");
            Directory.CreateDirectory(dir);
            stdoutCopy = File.Create(Path.Combine(dir, "stdout"));
            stderrCopy = File.Create(Path.Combine(dir, "stderr"));
        }
        Stdout = new OutputForwarder(sink, toStderr: false, rank, tag, stdoutCopy);
        Stderr = new OutputForwarder(sink, toStderr: true, rank, tag, stderrCopy);
    }

    public int Rank { get; }

    /// <summary>Pid on the remote host once the agent reported it, else 0.</summary>
    public int Pid { get; set; }

    public RemoteHost? Host { get; set; }

    public OutputForwarder Stdout { get; }

    public OutputForwarder Stderr { get; }

    public Task<int> Exited => _exited.Task;

    public bool HasExited => _exited.Task.IsCompleted;

    public string Describe() => Pid > 0 ? $"rank {Rank} (pid {Pid} on {_hostName})" : $"rank {Rank} (on {_hostName})";

    public void Signal(int signal)
    {
        if (!HasExited)
            Host?.Signal(Rank, signal);
    }

    public Task DrainOutputAsync(TimeSpan timeout) => Host?.WaitDoneAsync(timeout) ?? Task.CompletedTask;

    /// <summary>Records the exit (the first report wins) after flushing the rank's output.</summary>
    internal void SetExited(int code)
    {
        if (Interlocked.Exchange(ref _reported, 1) != 0)
            return;
        Stdout.Complete();
        Stderr.Complete();
        _exited.TrySetResult(code);
    }
}
