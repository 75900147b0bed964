using System.CommandLine;
using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using SharpMpi.Bootstrap;

namespace SharpMpi.Run;

/// <summary>
/// The <c>agent</c> verb: started by <c>sharpmpi run</c> on a remote host (through ssh, kubectl exec,
/// srun, ...), it starts that host's ranks and reports their output and exits back over its stdout.
/// Protocol: AgentProtocol.cs. Not meant to be typed by users.
/// </summary>
internal static class AgentCommand
{
    private static readonly Option<string> s_kvs = new("--kvs") { Description = "The launcher's key-value store, host:port", Required = true };
    private static readonly Option<int> s_node = new("--node") { Description = "Node id of this host (SHARPMPI_NODE)", Required = true };
    private static readonly Option<int> s_size = new("--size") { Description = "World size", Required = true };
    private static readonly Option<string> s_jobId = new("--jobid") { Description = "Job id (SHARPMPI_JOBID)", Required = true };
    private static readonly Option<string> s_ranks = new("--ranks") { Description = "World ranks to start here, comma-separated", Required = true };
    private static readonly Option<string?> s_host = new("--host") { Description = "This host's name in the launcher's host list (for messages)" };

    private static readonly Argument<string[]> s_program = new("program")
    {
        Description = "Program and arguments, after --",
        Arity = ArgumentArity.OneOrMore,
        CaptureRemainingTokens = true,
    };

    /// <summary>Builds the verb.</summary>
    public static Command Create()
    {
        var command = new Command("agent", "Start this host's ranks for a sharpmpi run on another host (internal)")
        {
            s_kvs, s_node, s_size, s_jobId, s_ranks, s_host, s_program,
        };
        command.Hidden = true;
        command.SetAction((parseResult, cancellationToken) =>
        {
            int size = parseResult.GetValue(s_size);
            int[] ranks = ParseRanks(parseResult.GetValue(s_ranks)!, size);
            string kvs = parseResult.GetValue(s_kvs)!;
            if (!KvsProtocol.TryParseEndpoint(kvs, out _, out _))
                throw new UsageException($"agent: --kvs '{kvs}' is not host:port");
            string[] program = parseResult.GetValue(s_program)!;
            if (program[0] == "--")
                program = program[1..];
            if (program.Length == 0)
                throw new UsageException("agent: no program given");
            var agent = new Agent(kvs, parseResult.GetValue(s_node), size, parseResult.GetValue(s_jobId)!, ranks,
                parseResult.GetValue(s_host) ?? Environment.MachineName, program);
            _ = cancellationToken;
            return agent.RunAsync();
        });
        return command;
    }

    private static int[] ParseRanks(string text, int size)
    {
        var ranks = new List<int>();
        foreach (string part in text.Split(','))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int r) || r >= size)
                throw new UsageException($"agent: --ranks '{text}' must list ranks in 0..{size - 1}");
            ranks.Add(r);
        }
        return [.. ranks];
    }
}

/// <summary>The agent's work: read the setup from stdin, start the ranks, relay their output and exits, obey signals, kill everything when stdin ends.</summary>
internal sealed class Agent(string kvs, int node, int size, string jobId, int[] ranks, string host, string[] program)
{
    private static readonly TimeSpan s_drainTimeout = TimeSpan.FromSeconds(3);

    private readonly Stream _stdout = Console.OpenStandardOutput();
    private readonly object _writeLock = new();
    private readonly Process?[] _processes = new Process?[ranks.Length];
    private readonly bool[] _exited = new bool[ranks.Length];

    public async Task<int> RunAsync()
    {
        using var stdin = new StreamReader(Console.OpenStandardInput(), new UTF8Encoding(false));
        string? secret = null;
        var environment = new List<KeyValuePair<string, string>>();
        while (true)
        {
            string? line = await stdin.ReadLineAsync().ConfigureAwait(false);
            if (line is null)
            {
                Console.Error.WriteLine($"sharpmpi agent on {host}: stdin ended before the launcher's setup arrived (the launch agent must pass stdin through, e.g. kubectl exec -i)");
                return ExitCodes.UsageError;
            }
            string[] fields = line.Split(' ');
            if (fields is ["secret", string s])
            {
                secret = s;
            }
            else if (fields is ["env", string name, string value])
            {
                try
                {
                    environment.Add(AgentProtocol.ParseEnv(name, value));
                }
                catch (FormatException)
                {
                    Console.Error.WriteLine($"sharpmpi agent on {host}: malformed env line from the launcher");
                    return ExitCodes.UsageError;
                }
            }
            else if (fields is ["start"])
            {
                break;
            }
        }
        if (secret is null)
        {
            Console.Error.WriteLine($"sharpmpi agent on {host}: the launcher sent no secret");
            return ExitCodes.UsageError;
        }

        // SIGTERM/SIGHUP/SIGINT to the agent (ssh session torn down, pod stopping) take its ranks along.
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, _ => KillAll());
        using var hup = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGHUP, _ => KillAll());
        using var interrupt = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, _ => KillAll());

        var finished = new Task[ranks.Length];
        for (int i = 0; i < ranks.Length; i++)
            finished[i] = StartRank(i, secret, environment);

        // Commands from the launcher until its end; then nothing may outlive it.
        _ = Task.Run(async () =>
        {
            try
            {
                while (await stdin.ReadLineAsync().ConfigureAwait(false) is string line)
                {
                    if (line.Split(' ') is ["signal", string r, string n]
                        && int.TryParse(r, CultureInfo.InvariantCulture, out int rank)
                        && int.TryParse(n, CultureInfo.InvariantCulture, out int signal))
                    {
                        SignalRank(rank, signal);
                    }
                }
            }
            catch (IOException)
            {
            }
            KillAll();
        });

        await Task.WhenAll(finished).ConfigureAwait(false);
        // What a rank left running in its group ends with it, as under the launcher.
        KillAll();
        return ExitCodes.Success;
    }

    private Task StartRank(int index, string secret, List<KeyValuePair<string, string>> userEnvironment)
    {
        int rank = ranks[index];
        var environment = new List<KeyValuePair<string, string>>(userEnvironment)
        {
            new(LaunchInfo.RankVariable, Text(rank)),
            new(LaunchInfo.SizeVariable, Text(size)),
            new(LaunchInfo.LocalRankVariable, Text(index)),
            new(LaunchInfo.LocalSizeVariable, Text(ranks.Length)),
            new(LaunchInfo.NodeVariable, Text(node)),
            new(LaunchInfo.KvsVariable, kvs),
            new(LaunchInfo.JobIdVariable, jobId),
            new(LaunchInfo.SecretVariable, secret),
        };
        var process = new Process { StartInfo = RankProcess.CreateStartInfo(program[0], program[1..], environment) };
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is Win32Exception or IOException or UnauthorizedAccessException)
        {
            process.Dispose();
            Send(AgentProtocol.StartFailed, rank, Encoding.UTF8.GetBytes($"cannot start {program[0]}: {e.Message}"));
            Send(AgentProtocol.ExitedRecord, rank, "127"u8);
            lock (_processes)
                _exited[index] = true;
            return Task.CompletedTask;
        }
        lock (_processes)
            _processes[index] = process;
        process.StandardInput.Close();
        Send(AgentProtocol.Started, rank, Encoding.ASCII.GetBytes(Text(process.Id)));
        Task output = Task.WhenAll(
            PumpAsync(process.StandardOutput.BaseStream, rank, AgentProtocol.StdoutLine, AgentProtocol.StdoutPiece),
            PumpAsync(process.StandardError.BaseStream, rank, AgentProtocol.StderrLine, AgentProtocol.StderrPiece));
        return WaitAsync(index, process, output);
    }

    private async Task WaitAsync(int index, Process process, Task output)
    {
        await process.WaitForExitAsync().ConfigureAwait(false);
        try
        {
            await output.WaitAsync(s_drainTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A background child holds the pipe; the exit is what matters.
        }
        lock (_processes)
            _exited[index] = true;
        Send(AgentProtocol.ExitedRecord, ranks[index], Encoding.ASCII.GetBytes(Text(process.ExitCode)));
    }

    private async Task PumpAsync(Stream source, int rank, byte lineKind, byte pieceKind)
    {
        const int MaxPiece = 64 * 1024;
        byte[] buffer = new byte[MaxPiece];
        int held = 0;
        try
        {
            int n;
            while ((n = await source.ReadAsync(buffer.AsMemory(held)).ConfigureAwait(false)) > 0)
            {
                held += n;
                int start = 0;
                int newline;
                while ((newline = buffer.AsSpan(start, held - start).IndexOf((byte)'\n')) >= 0)
                {
                    Send(lineKind, rank, buffer.AsSpan(start, newline));
                    start += newline + 1;
                }
                Buffer.BlockCopy(buffer, start, buffer, 0, held - start);
                held -= start;
                if (held == buffer.Length)
                {
                    Send(pieceKind, rank, buffer);
                    held = 0;
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
        if (held > 0)
            Send(pieceKind, rank, buffer.AsSpan(0, held));
    }

    private void Send(byte kind, int rank, ReadOnlySpan<byte> payload)
    {
        byte[] record = AgentProtocol.Record(kind, rank, payload);
        lock (_writeLock)
        {
            try
            {
                _stdout.Write(record);
                _stdout.Flush();
            }
            catch (IOException)
            {
                // The launcher is gone; stdin's end will kill the ranks.
            }
        }
    }

    private void SignalRank(int rank, int signal)
    {
        lock (_processes)
        {
            int i = Array.IndexOf(ranks, rank);
            if (i >= 0 && _processes[i] is Process p)
                RankProcess.SignalGroup(p.Id, signal, _exited[i]);
        }
    }

    private void KillAll()
    {
        lock (_processes)
        {
            for (int i = 0; i < _processes.Length; i++)
            {
                if (_processes[i] is Process p)
                    RankProcess.SignalGroup(p.Id, Signals.Kill, _exited[i]);
            }
        }
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
