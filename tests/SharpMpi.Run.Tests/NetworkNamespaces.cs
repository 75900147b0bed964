using System.ComponentModel;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace SharpMpi.Run.Tests;

/// <summary>
/// Two Linux network namespaces joined by a veth pair, standing in for two hosts: each has its own
/// loopback and one interface (<c>eth0</c>, <see cref="FirstAddress"/> and <see cref="SecondAddress"/>),
/// and nothing else, so ranks in different namespaces can only reach each other over TCP across the veth.
/// The host's own network is not touched: both ends of the veth are created inside the namespaces.
/// </summary>
/// <remarks>
/// Names carry this process's id (<c>sharpmpi-test-PID-RANDOM-a</c>), so namespaces left by a test run
/// that was killed before its cleanup are removed by the next run. Where namespaces cannot be made
/// (not root, no <c>ip</c>, a container without CAP_SYS_ADMIN), <see cref="SkipReason"/> says why.
/// </remarks>
public sealed partial class NetworkNamespaces : IDisposable
{
    /// <summary>Address of <see cref="First"/> on the veth.</summary>
    public const string FirstAddress = "10.77.0.1";

    /// <summary>Address of <see cref="Second"/> on the veth.</summary>
    public const string SecondAddress = "10.77.0.2";

    private const string Prefix = "sharpmpi-test-";
    private readonly List<string> _created = [];

    public NetworkNamespaces()
    {
        string stem = $"{Prefix}{Environment.ProcessId}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
        First = stem + "-a";
        Second = stem + "-b";
        Ip = FindIp();
        if (!OperatingSystem.IsLinux())
        {
            SkipReason = "network namespaces need Linux";
            return;
        }
        if (Ip is null)
        {
            SkipReason = "network namespaces cannot be created: 'ip' (iproute2) is not installed";
            return;
        }

        RemoveStale();
        foreach (string ns in (string[])[First, Second])
        {
            if (Run(["netns", "add", ns]) is string failure)
            {
                SkipReason = $"network namespaces cannot be created here (ip netns add: {failure}); they need root or CAP_SYS_ADMIN";
                Dispose();
                return;
            }
            _created.Add(ns);
        }

        string[][] setup =
        [
            ["-n", First, "link", "set", "lo", "up"],
            ["-n", Second, "link", "set", "lo", "up"],
            ["link", "add", "eth0", "netns", First, "type", "veth", "peer", "name", "eth0", "netns", Second],
            ["-n", First, "addr", "add", FirstAddress + "/24", "dev", "eth0"],
            ["-n", Second, "addr", "add", SecondAddress + "/24", "dev", "eth0"],
            ["-n", First, "link", "set", "eth0", "up"],
            ["-n", Second, "link", "set", "eth0", "up"],
        ];
        foreach (string[] step in setup)
        {
            if (Run(step) is string failure)
            {
                SkipReason = $"network namespaces were created but not connected (ip {string.Join(' ', step)}: {failure}); is the veth driver available?";
                Dispose();
                return;
            }
        }
        // The kernel reports a new veth "down" for about a second after both ends are up (link watch), and a
        // rank lists only interfaces that are up: wait until both ends say so, or a rank that starts at once
        // finds no address but loopback.
        var deadline = Stopwatch.StartNew();
        while (!(IsUp(First) && IsUp(Second)))
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(10))
                throw new InvalidOperationException($"the veth between {First} and {Second} did not come up within 10 s");
            Thread.Sleep(50);
        }
    }

    private bool IsUp(string ns) => Run(["-n", ns, "-o", "link", "show", "eth0"], out string output) is null && output.Contains("state UP", StringComparison.Ordinal);

    /// <summary>Why the namespaces are not there, or null when they are.</summary>
    public string? SkipReason { get; }

    /// <summary>Name of the first namespace ("host").</summary>
    public string First { get; }

    /// <summary>Name of the second namespace ("host").</summary>
    public string Second { get; }

    /// <summary>Full path of the <c>ip</c> program, or null.</summary>
    public string? Ip { get; }

    /// <summary>The launch agent that starts a host's agent inside the namespace named as the host.</summary>
    public string LaunchAgent => $"{Ip} netns exec {{host}}";

    /// <summary>Prefix for a command to run inside <paramref name="ns"/>.</summary>
    public string[] Exec(string ns) => [Ip!, "netns", "exec", ns];

    /// <summary>Skips the calling test when the namespaces could not be made.</summary>
    public void SkipIfUnavailable()
    {
        if (SkipReason is not null)
            Assert.Skip(SkipReason);
    }

    public void Dispose()
    {
        // Deleting a namespace takes its veth end with it (and the peer end goes too); processes still
        // inside keep it alive until they end, so this never waits for them.
        for (int i = _created.Count - 1; i >= 0; i--)
            Run(["netns", "delete", _created[i]]);
        _created.Clear();
    }

    // Namespaces from an earlier run whose process is gone (killed before it could clean up).
    private void RemoveStale()
    {
        if (!Directory.Exists("/run/netns"))
            return;
        foreach (string path in Directory.GetFiles("/run/netns", Prefix + "*"))
        {
            Match m = StaleName().Match(Path.GetFileName(path));
            if (m.Success && int.TryParse(m.Groups[1].Value, out int pid) && pid != Environment.ProcessId && !ProcessProbe.IsAlive(pid))
                Run(["netns", "delete", Path.GetFileName(path)]);
        }
    }

    /// <summary>Runs <c>ip</c> with <paramref name="arguments"/>; null on success, else what went wrong.</summary>
    private string? Run(string[] arguments) => Run(arguments, out _);

    /// <summary>As <see cref="Run(string[])"/>, with what <c>ip</c> printed.</summary>
    private string? Run(string[] arguments, out string output)
    {
        output = "";
        var start = new ProcessStartInfo(Ip!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in arguments)
            start.ArgumentList.Add(a);
        try
        {
            using Process p = Process.Start(start)!;
            Task<string> stderr = p.StandardError.ReadToEndAsync();
            output = p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(10_000))
            {
                p.Kill();
                return "did not finish within 10 s";
            }
            return p.ExitCode == 0 ? null : $"exit code {p.ExitCode}: {stderr.Result.Trim()}";
        }
        catch (Win32Exception e)
        {
            return e.Message;
        }
    }

    private static string? FindIp()
    {
        string[] directories = [.. (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries), "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
        foreach (string dir in directories)
        {
            string candidate = Path.Combine(dir, "ip");
            if (File.Exists(candidate))
                return candidate;
        }
        return null;
    }

    [GeneratedRegex(@"^sharpmpi-test-(\d+)-[0-9a-f]+-[ab]$")]
    private static partial Regex StaleName();
}
