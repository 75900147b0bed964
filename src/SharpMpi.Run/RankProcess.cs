using System.Diagnostics;
using SharpMpi.Interop;

namespace SharpMpi.Run;

/// <summary>One running rank: its process, its output forwarders and its exit.</summary>
/// <remarks>
/// Each rank runs in a session (and process group) of its own, started through <c>setsid</c>, which
/// execs the program in the same process, so the pid .NET reports is the rank's. Signalling the
/// group rather than the pid reaches whatever the rank started too (a shell's children, helper
/// processes), which would otherwise outlive the job and hold its output pipes open. It also keeps
/// a terminal's Ctrl+C away from the ranks: the launcher decides what they get (Open MPI's
/// behaviour). Without <c>setsid</c> on PATH, ranks are signalled by pid only.
/// </remarks>
internal sealed class RankProcess : IRank
{
    private static readonly string? s_setsid = ProgramResolver.FindExecutable("setsid");

    private readonly Process _process;
    private readonly Task _output;
    private readonly string? _host;

    private RankProcess(int rank, Process process, Task output, Task<int> exited, string? host)
    {
        Rank = rank;
        _host = host;
        _process = process;
        _output = output;
        Exited = exited;
        Pid = process.Id;
    }

    /// <summary>World rank.</summary>
    public int Rank { get; }

    /// <summary>Process id (and, with setsid, process group id).</summary>
    public int Pid { get; }

    /// <summary>Completes with the exit code when the rank's process has exited (128+S after signal S).</summary>
    public Task<int> Exited { get; }

    /// <summary>True once the process has exited.</summary>
    public bool HasExited => Exited.IsCompleted;

    /// <summary><c>rank R (pid P)</c>, with <c>on HOST</c> in a job that spans hosts.</summary>
    public string Describe() => _host is null ? $"rank {Rank} (pid {Pid})" : $"rank {Rank} (pid {Pid} on {_host})";

    /// <summary>Ranks run in their own process groups (false when setsid is missing).</summary>
    public static bool UsesProcessGroups => s_setsid is not null;

    /// <summary>Starts rank <paramref name="rank"/>.</summary>
    /// <param name="rank">World rank.</param>
    /// <param name="program">What to execute.</param>
    /// <param name="arguments">The user's arguments, after the program's leading ones.</param>
    /// <param name="environment">Variables to set on top of the launcher's own environment.</param>
    /// <param name="stdin">For rank 0, the launcher's stdin to forward; null gives the rank an empty stdin.</param>
    /// <param name="sink">Where output lines go.</param>
    /// <param name="tag">Prefix output lines with <c>[rank] </c>.</param>
    /// <param name="outputDirectory">Also copy output to DIR/rank.N/stdout|stderr, or null.</param>
    /// <param name="host">Host name for messages in a job that spans hosts, else null.</param>
    /// <exception cref="System.ComponentModel.Win32Exception">The process could not be started.</exception>
    public static RankProcess Start(
        int rank,
        ResolvedProgram program,
        IReadOnlyList<string> arguments,
        IEnumerable<KeyValuePair<string, string>> environment,
        Stream? stdin,
        OutputSink sink,
        bool tag,
        string? outputDirectory,
        string? host = null)
    {
        ProcessStartInfo start = CreateStartInfo(program.FileName, [.. program.LeadingArguments, .. arguments], environment);

        Stream? stdoutCopy = null, stderrCopy = null;
        if (outputDirectory is not null)
        {
            string dir = Path.Combine(outputDirectory, $"rank.{rank}");
            Directory.CreateDirectory(dir);
            stdoutCopy = File.Create(Path.Combine(dir, "stdout"));
            stderrCopy = File.Create(Path.Combine(dir, "stderr"));
        }

        var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch
        {
            stdoutCopy?.Dispose();
            stderrCopy?.Dispose();
            process.Dispose();
            throw;
        }

        if (stdin is null)
            process.StandardInput.Close();
        else
            ForwardStdin(stdin, process.StandardInput.BaseStream, rank);

        Task output = Task.WhenAll(
            new OutputForwarder(sink, toStderr: false, rank, tag, stdoutCopy).PumpAsync(process.StandardOutput.BaseStream),
            new OutputForwarder(sink, toStderr: true, rank, tag, stderrCopy).PumpAsync(process.StandardError.BaseStream));
        return new RankProcess(rank, process, output, WaitForExitAsync(process), host);
    }

    /// <summary>
    /// How a rank is started, here and by the agent on other hosts: through setsid (own session and
    /// process group) when available, all three standard streams redirected.
    /// </summary>
    internal static ProcessStartInfo CreateStartInfo(string fileName, IEnumerable<string> arguments, IEnumerable<KeyValuePair<string, string>> environment)
    {
        var start = new ProcessStartInfo
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (s_setsid is not null)
        {
            start.FileName = s_setsid;
            start.ArgumentList.Add(fileName);
        }
        else
        {
            start.FileName = fileName;
        }
        foreach (string a in arguments)
            start.ArgumentList.Add(a);
        foreach ((string name, string value) in environment)
            start.Environment[name] = value;
        return start;
    }

    /// <summary>Sends <paramref name="signal"/> to the rank and everything in its process group.</summary>
    public void Signal(int signal) => SignalGroup(Pid, signal, HasExited);

    /// <summary>Signals the group led by <paramref name="pid"/>, or only the pid (if still running) without setsid.</summary>
    internal static void SignalGroup(int pid, int signal, bool hasExited)
    {
        // ESRCH (already gone) is fine: the group may be empty.
        if (UsesProcessGroups)
            LinuxNative.Kill(-pid, signal);
        else if (!hasExited)
            LinuxNative.Kill(pid, signal);
    }

    /// <summary>Waits until the rank's output streams are closed and forwarded, at most <paramref name="timeout"/>.</summary>
    public async Task DrainOutputAsync(TimeSpan timeout)
    {
        try
        {
            await _output.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A descendant outside the rank's group still holds the pipe; don't hang the launcher on it.
        }
        _process.Dispose();
    }

    private static async Task<int> WaitForExitAsync(Process process)
    {
        await process.WaitForExitAsync().ConfigureAwait(false);
        return process.ExitCode;
    }

    // A thread, not a pool task: reading the launcher's stdin may block for the whole job (a
    // terminal nobody types into), and a blocked pool thread would starve the output pumps.
    private static void ForwardStdin(Stream from, Stream to, int rank)
    {
        var thread = new Thread(() =>
        {
            try
            {
                from.CopyTo(to);
            }
            catch (IOException)
            {
                // The rank closed its stdin or exited: nothing more to deliver.
            }
            catch (ObjectDisposedException)
            {
            }
            finally
            {
                try
                {
                    to.Dispose();
                }
                catch (IOException)
                {
                }
            }
        })
        {
            IsBackground = true,
            Name = $"sharpmpi stdin to rank {rank}",
        };
        thread.Start();
    }
}
