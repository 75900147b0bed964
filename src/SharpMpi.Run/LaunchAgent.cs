using System.Text;

namespace SharpMpi.Run;

/// <summary>
/// The command that runs something on a remote host, as a template with <c>{host}</c> (appended when
/// absent): <c>--launch-agent</c>, else <c>$OMPI_MCA_plm_rsh_agent</c> (what the Kubeflow mpi-operator's
/// v1 set to its kubexec script), else <c>srun --nodes=1 --ntasks=1 -w {host}</c> inside a Slurm
/// allocation, else Open MPI's rsh agent <c>ssh -o BatchMode=yes {host}</c> (plus <c>$OMPI_MCA_plm_rsh_args</c>).
/// </summary>
/// <remarks>
/// ssh and rsh (and rsh-style agents from <c>OMPI_MCA_plm_rsh_agent</c>, which typically end in
/// <c>sh -c "$*"</c>) hand the remote command to a shell, so its words are shell-quoted; other agents
/// (kubectl exec, srun, ip netns exec, env) exec the words as they are.
/// </remarks>
internal sealed class LaunchAgent
{
    private readonly string[] _template;
    private readonly bool _remoteShell;

    private LaunchAgent(string[] template, bool remoteShell, string source)
    {
        _template = template;
        _remoteShell = remoteShell;
        Source = source;
    }

    /// <summary>Where the template came from, for --verbose.</summary>
    public string Source { get; }

    /// <summary>Picks the agent as described on the class.</summary>
    /// <exception cref="UsageException">The template is empty or its quotes do not match.</exception>
    public static LaunchAgent Choose(string? option, Func<string, string?> getVariable)
    {
        if (option is not null)
        {
            string[] words = WithKubectlStdin(Split(option, "--launch-agent"));
            return new LaunchAgent(words, IsRemoteShell(words[0]), "--launch-agent");
        }
        if (getVariable("OMPI_MCA_plm_rsh_agent") is { Length: > 0 } rsh)
        {
            string[] words = Split(rsh, "OMPI_MCA_plm_rsh_agent");
            return new LaunchAgent(IsRemoteShell(words[0]) ? [words[0], .. RshArgs(getVariable), .. words[1..]] : words, true, "OMPI_MCA_plm_rsh_agent");
        }
        if (getVariable("SLURM_JOB_ID") is { Length: > 0 })
            return new LaunchAgent(["srun", "--nodes=1", "--ntasks=1", "-w", "{host}"], false, "srun (inside Slurm job)");
        return new LaunchAgent(["ssh", .. RshArgs(getVariable), "-o", "BatchMode=yes", "{host}"], true, "ssh");
    }

    /// <summary>The full command for <paramref name="host"/>: the agent's words with {host} substituted, then <paramref name="remoteCommand"/>.</summary>
    public string[] CommandFor(string host, IEnumerable<string> remoteCommand)
    {
        bool substituted = false;
        var words = new List<string>();
        foreach (string w in _template)
        {
            if (w.Contains("{host}", StringComparison.Ordinal))
            {
                substituted = true;
                words.Add(w.Replace("{host}", host, StringComparison.Ordinal));
            }
            else
            {
                words.Add(w);
            }
        }
        if (!substituted)
            words.Add(host);
        foreach (string w in remoteCommand)
            words.Add(_remoteShell ? ShellQuote(w) : w);
        return [.. words];
    }

    /// <summary>How a remote host starts the agent: $SHARPMPI_AGENT, else the same host program and assembly as this launcher.</summary>
    public static string[] AgentInvocation(Func<string, string?> getVariable)
    {
        if (getVariable("SHARPMPI_AGENT") is { Length: > 0 } configured)
            return [.. Split(configured, "SHARPMPI_AGENT"), "agent"];
        string self = Environment.ProcessPath ?? "dotnet";
        string assembly = Path.Combine(AppContext.BaseDirectory, "SharpMpi.Run.dll");
        // Run as `dotnet SharpMpi.Run.dll` (or `dotnet exec`); an apphost (the installed `sharpmpi` tool) runs itself.
        return Path.GetFileNameWithoutExtension(self) == "dotnet" ? [self, assembly, "agent"] : [self, "agent"];
    }

    /// <summary>Single-quotes a word for a POSIX shell unless it is plainly safe.</summary>
    internal static string ShellQuote(string word)
    {
        if (word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "_-./:=,@%+".Contains(c)))
            return word;
        return "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    // The agent reads its setup from stdin and takes stdin's end for the launcher's: `kubectl exec`
    // passes stdin only with -i, so it is added when missing.
    private static string[] WithKubectlStdin(string[] words)
    {
        int exec = Array.IndexOf(words, "exec");
        if (Path.GetFileName(words[0]) != "kubectl" || exec < 0
            || words.Any(w => w is "-i" or "-it" or "-ti" or "--stdin" || w.StartsWith("--stdin=", StringComparison.Ordinal)))
        {
            return words;
        }
        return [.. words[..(exec + 1)], "-i", .. words[(exec + 1)..]];
    }

    private static bool IsRemoteShell(string program) => Path.GetFileName(program) is "ssh" or "rsh";

    private static string[] RshArgs(Func<string, string?> getVariable) =>
        getVariable("OMPI_MCA_plm_rsh_args") is { Length: > 0 } args ? Split(args, "OMPI_MCA_plm_rsh_args") : [];

    /// <summary>Splits a command on blanks, honouring single and double quotes (no other shell syntax).</summary>
    internal static string[] Split(string text, string what)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        bool inWord = false;
        char quote = '\0';
        foreach (char c in text)
        {
            if (quote != '\0')
            {
                if (c == quote)
                    quote = '\0';
                else
                    word.Append(c);
            }
            else if (c is '\'' or '"')
            {
                quote = c;
                inWord = true;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (inWord)
                    words.Add(word.ToString());
                word.Clear();
                inWord = false;
            }
            else
            {
                word.Append(c);
                inWord = true;
            }
        }
        if (quote != '\0')
            throw new UsageException($"{what} '{text}' has an unmatched {quote}");
        if (inWord)
            words.Add(word.ToString());
        if (words.Count == 0)
            throw new UsageException($"{what} is empty");
        return [.. words];
    }
}
