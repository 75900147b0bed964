using System.Diagnostics;
using System.Text;
using SharpMpi.Interop;

namespace SharpMpi.Run.Tests;

/// <summary>What a finished launcher run produced.</summary>
internal sealed record LauncherResult(int ExitCode, string Stdout, string Stderr)
{
    public string[] StdoutLines => Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}

/// <summary>
/// Runs <c>sharpmpi run ...</c> (the SharpMpi.Run.dll built next to the tests) as a real process,
/// collecting its output. Dispose kills the launcher's whole process tree and every pid the test
/// registered, so a failing test leaves nothing running.
/// </summary>
internal sealed class LauncherProcess : IDisposable
{
    /// <summary>Upper bound for any launcher run in these tests; reaching it fails the test.</summary>
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly List<int> _pids = [];
    private readonly SemaphoreSlim _outputArrived = new(0);

    private LauncherProcess(Process process) => _process = process;

    public int Pid => _process.Id;

    /// <summary>
    /// Starts the launcher with <c>run</c> and <paramref name="arguments"/>, behind <paramref name="wrapper"/>
    /// when given (a command that execs the rest, such as <c>ip netns exec NAME</c>).
    /// </summary>
    public static LauncherProcess Start(IEnumerable<string> arguments, string? stdin = null, IDictionary<string, string>? environment = null,
        IReadOnlyList<string>? wrapper = null)
    {
        var start = new ProcessStartInfo(wrapper is { Count: > 0 } ? wrapper[0] : "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (wrapper is { Count: > 0 })
        {
            foreach (string w in wrapper.Skip(1))
                start.ArgumentList.Add(w);
            start.ArgumentList.Add("dotnet");
        }
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "SharpMpi.Run.dll"));
        start.ArgumentList.Add("run");
        foreach (string a in arguments)
            start.ArgumentList.Add(a);
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
            start.Environment[name] = value;

        var launcher = new LauncherProcess(new Process { StartInfo = start });
        launcher._process.OutputDataReceived += (_, e) => launcher.Append(launcher._stdout, e.Data);
        launcher._process.ErrorDataReceived += (_, e) => launcher.Append(launcher._stderr, e.Data);
        launcher._process.Start();
        launcher._process.BeginOutputReadLine();
        launcher._process.BeginErrorReadLine();
        if (stdin is not null)
            launcher._process.StandardInput.Write(stdin);
        launcher._process.StandardInput.Close();
        return launcher;
    }

    /// <summary>Runs the launcher to its end.</summary>
    public static async Task<LauncherResult> RunAsync(params string[] arguments)
    {
        using LauncherProcess launcher = Start(arguments);
        return await launcher.WaitAsync();
    }

    /// <summary>Also kills <paramref name="pid"/> at dispose (a rank the test learned about).</summary>
    public void Track(int pid)
    {
        lock (_pids)
            _pids.Add(pid);
    }

    /// <summary>Waits until stdout holds <paramref name="count"/> lines starting with <paramref name="prefix"/>; returns them.</summary>
    public async Task<string[]> WaitForLinesAsync(string prefix, int count)
    {
        using var limit = new CancellationTokenSource(Limit);
        while (true)
        {
            string[] lines;
            lock (_stdout)
                lines = [.. _stdout.ToString().Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal))];
            if (lines.Length >= count)
                return lines;
            if (_process.HasExited)
                throw new InvalidOperationException($"launcher exited before printing {count} '{prefix}' lines: {_stdout} {_stderr}");
            await _outputArrived.WaitAsync(TimeSpan.FromMilliseconds(200), limit.Token);
        }
    }

    /// <summary>Waits until stderr holds a line containing <paramref name="text"/>; returns the first such line.</summary>
    public async Task<string> WaitForStderrAsync(string text)
    {
        using var limit = new CancellationTokenSource(Limit);
        while (true)
        {
            string? line;
            lock (_stderr)
                line = _stderr.ToString().Split('\n').FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal));
            if (line is not null)
                return line;
            if (_process.HasExited)
                throw new InvalidOperationException($"launcher exited before printing '{text}' on stderr: {_stdout} {_stderr}");
            await _outputArrived.WaitAsync(TimeSpan.FromMilliseconds(200), limit.Token);
        }
    }

    /// <summary>Runs the launcher to its end, failing after <paramref name="limit"/> instead of <see cref="Limit"/>.</summary>
    public static async Task<LauncherResult> RunAsync(TimeSpan limit, params string[] arguments)
    {
        using LauncherProcess launcher = Start(arguments);
        return await launcher.WaitAsync(limit);
    }

    /// <summary>Waits for the launcher to exit (failing after <see cref="Limit"/>) and returns what it printed.</summary>
    public async Task<LauncherResult> WaitAsync(TimeSpan? timeLimit = null)
    {
        using var limit = new CancellationTokenSource(timeLimit ?? Limit);
        await _process.WaitForExitAsync(limit.Token);
        // The parameterless wait also waits for the redirected streams to reach their end.
        _process.WaitForExit();
        lock (_stdout)
        {
            lock (_stderr)
                return new LauncherResult(_process.ExitCode, _stdout.ToString(), _stderr.ToString());
        }
    }

    public void Signal(int signal) => LinuxNative.Kill(_process.Id, signal);

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
        lock (_pids)
        {
            foreach (int pid in _pids)
            {
                if (ProcessProbe.IsAlive(pid))
                    LinuxNative.Kill(pid, 9);
            }
        }
        _process.Dispose();
    }

    private void Append(StringBuilder to, string? line)
    {
        if (line is null)
            return;
        lock (to)
            to.Append(line).Append('\n');
        _outputArrived.Release();
    }
}

/// <summary>Whether a pid still names a live (not zombie) process.</summary>
internal static class ProcessProbe
{
    public static bool IsAlive(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            // Field 3, after the parenthesized command name: Z = zombie, X = dead.
            char state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Waits (bounded) for <paramref name="pid"/> to be gone; the launcher may still be reaping it.</summary>
    public static async Task<bool> WaitGoneAsync(int pid)
    {
        for (int i = 0; i < 100; i++)
        {
            if (!IsAlive(pid))
                return true;
            await Task.Delay(100);
        }
        return false;
    }
}
