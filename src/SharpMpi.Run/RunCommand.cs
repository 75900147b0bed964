using System.CommandLine;
using System.Globalization;

namespace SharpMpi.Run;

/// <summary>
/// The <c>run</c> verb: Open MPI's option spellings first, MPICH/Hydra's as aliases, then the program
/// and its arguments, which are never parsed (everything after the program belongs to it).
/// </summary>
internal static class RunCommand
{
    private static readonly Option<int?> s_ranks = new("-n", "-np", "--np", "--n", "-c")
    {
        Description = "Number of ranks to start (default: one per CPU core, as Open MPI's one per slot)",
        HelpName = "N",
    };

    private static readonly Option<string[]> s_exports = new("-x")
    {
        Description = "Set VAR=value for every rank, or copy the launcher's VAR; repeatable",
        HelpName = "VAR[=value]",
    };

    // Hydra writes the value as a second token: -genv NAME VALUE. Arity 2 per occurrence; the
    // values of all occurrences arrive as one flat list of name, value pairs.
    private static readonly Option<string[]> s_genv = new("-genv", "--genv")
    {
        Description = "Set NAME=VALUE for every rank (MPICH spelling); repeatable",
        HelpName = "NAME VALUE",
        Arity = new ArgumentArity(2, 2),
        AllowMultipleArgumentsPerToken = true,
    };

    private static readonly Option<bool> s_tagOutput = new("--tag-output", "-l", "-prepend-rank")
    {
        Description = "Prefix every output line with [rank]",
    };

    private static readonly Option<int?> s_timeout = new("--timeout", "-maxtime")
    {
        Description = $"Kill the job after this many seconds and exit {ExitCodes.Timeout} (default: $MPIEXEC_TIMEOUT, else none)",
        HelpName = "SECONDS",
    };

    private static readonly Option<bool> s_oversubscribe = new("--oversubscribe")
    {
        Description = "Allow more ranks than a host list's slots (always allowed without --host/--hostfile)",
    };

    private static readonly Option<string?> s_outputFilename = new("--output-filename")
    {
        Description = "Also write each rank's output to DIR/rank.N/stdout and DIR/rank.N/stderr",
        HelpName = "DIR",
    };

    private static readonly Option<string> s_bindTo = CreateBindTo();

    private static readonly Option<string?> s_mapBy = new("--map-by", "-map-by")
    {
        Description = "Rank placement: slot (fill each host's slots in order; also core) or node (round robin over hosts)",
        HelpName = "slot|node",
    };

    private static readonly Option<string[]> s_hosts = new("--host", "-H", "-host", "-hosts", "--hosts")
    {
        Description = "Hosts to run on: h1:2,h2:2 or h1,h1,h2 (a host named N times has N slots); repeatable",
        HelpName = "HOST[:SLOTS],...",
    };

    private static readonly Option<string?> s_hostfile = new("--hostfile", "--machinefile", "-hostfile", "-machinefile", "-f")
    {
        Description = "File of hosts, one a line: 'host slots=N [max_slots=M]' or 'host:N' (default: $OMPI_MCA_orte_default_hostfile, $HYDRA_HOST_FILE)",
        HelpName = "FILE",
    };

    private static readonly Option<int?> s_perNode = new("-N", "--npernode", "-npernode", "-ppn")
    {
        Description = "Start exactly this many ranks on each host",
        HelpName = "N",
    };

    private static readonly Option<bool> s_displayMap = new("--display-map", "-display-map")
    {
        Description = "Print which host and node each rank runs on before starting",
    };

    private static readonly Option<string?> s_launchAgent = new("--launch-agent")
    {
        Description = "Command that runs a command on a remote host, {host} replaced by its name (default: $OMPI_MCA_plm_rsh_agent, srun in a Slurm allocation, else 'ssh -o BatchMode=yes {host}')",
        HelpName = "\"CMD {host}\"",
    };

    private static readonly Option<string?> s_kvsAddress = new("--kvs-address")
    {
        Description = "IP address of this machine that remote hosts reach the launcher on (default: the one routing to the first remote host)",
        HelpName = "ADDRESS",
    };

    private static readonly Option<bool> s_verbose = new("--verbose", "-v")
    {
        Description = "Describe what the launcher does",
    };

    private static readonly Argument<string[]> s_program = new("program")
    {
        Description = "Project folder, .csproj, .dll or executable, followed by its arguments",
        // Zero or more so a missing program gets our own one-line message (ToOptions).
        Arity = ArgumentArity.ZeroOrMore,
        CaptureRemainingTokens = true,
    };

    /// <summary>Builds the verb; its action runs the job and returns the job's exit code.</summary>
    public static Command Create()
    {
        var command = new Command("run", "Start N ranks of a program and wait for them")
        {
            s_ranks, s_exports, s_genv, s_tagOutput, s_timeout, s_oversubscribe, s_outputFilename, s_bindTo, s_mapBy,
            s_hosts, s_hostfile, s_perNode, s_displayMap, s_launchAgent, s_kvsAddress, s_verbose, s_program,
        };
        Diagnostics.DiagnosticsOptions.AddTo(command);
        command.SetAction((parseResult, cancellationToken) => JobLauncher.RunAsync(ToOptions(parseResult), cancellationToken));
        return command;
    }

    private static Option<string> CreateBindTo()
    {
        var option = new Option<string>("--bind-to", "-bind-to")
        {
            Description = "Pin ranks: none, or core (accepted; pinning is not implemented yet)",
            HelpName = "none|core",
            DefaultValueFactory = _ => "none",
        };
        option.AcceptOnlyFromAmong("none", "core");
        return option;
    }

    /// <summary>Turns a parse result without errors into validated options.</summary>
    /// <exception cref="UsageException">A value is out of range.</exception>
    internal static RunOptions ToOptions(ParseResult parseResult)
    {
        string[] program = parseResult.GetValue(s_program) ?? [];
        if (program.Length == 0)
            throw new UsageException("no program given (usage: sharpmpi run -n N program [args...])");
        // The program argument captures everything from its first token on, so an unknown option
        // placed before the program lands here.
        if (program[0].StartsWith('-') && program[0] != "-")
            throw new UsageException($"unknown option '{program[0]}'");

        int? ranks = parseResult.GetValue(s_ranks);
        if (ranks < 1)
            throw new UsageException($"the number of ranks must be at least 1 (got -n {ranks})");

        bool verbose = parseResult.GetValue(s_verbose);
        var environment = new List<KeyValuePair<string, string>>();
        foreach (string export in parseResult.GetValue(s_exports) ?? [])
        {
            int eq = export.IndexOf('=');
            string name = eq < 0 ? export : export[..eq];
            CheckVariableName(name, "-x");
            if (eq >= 0)
                environment.Add(new(name, export[(eq + 1)..]));
            else if (Environment.GetEnvironmentVariable(name) is string inherited)
                environment.Add(new(name, inherited));
            else if (verbose)
                Console.Error.WriteLine($"sharpmpi: -x {name}: not set in the launcher's environment; ignored");
        }
        string[] genv = parseResult.GetValue(s_genv) ?? [];
        for (int i = 0; i + 1 < genv.Length; i += 2)
        {
            CheckVariableName(genv[i], "-genv");
            environment.Add(new(genv[i], genv[i + 1]));
        }

        int? timeoutSeconds = parseResult.GetValue(s_timeout);
        if (timeoutSeconds is null && Environment.GetEnvironmentVariable("MPIEXEC_TIMEOUT") is { Length: > 0 } fromEnvironment)
        {
            timeoutSeconds = int.TryParse(fromEnvironment, NumberStyles.None, CultureInfo.InvariantCulture, out int t)
                ? t
                : throw new UsageException($"MPIEXEC_TIMEOUT='{fromEnvironment}' is not a number of seconds");
        }
        if (timeoutSeconds is < 1)
            throw new UsageException($"--timeout must be at least 1 second (got {timeoutSeconds})");

        MapBy mapBy = MapBy.Slot;
        if (parseResult.GetValue(s_mapBy) is string mapByText)
        {
            mapBy = mapByText.Split(':')[0].ToLowerInvariant() switch
            {
                "slot" or "core" => MapBy.Slot,
                "node" => MapBy.Node,
                _ => throw new UsageException($"--map-by {mapByText} is not supported (use slot or node)"),
            };
        }
        int? perNode = parseResult.GetValue(s_perNode);
        if (perNode < 1)
            throw new UsageException($"-N must be at least 1 (got {perNode})");
        Placement placement = MapRanks(parseResult, ranks, mapBy, perNode);

        System.Net.IPAddress? kvsAddress = null;
        if (parseResult.GetValue(s_kvsAddress) is string kvsText && !System.Net.IPAddress.TryParse(kvsText, out kvsAddress))
            throw new UsageException($"--kvs-address '{kvsText}' is not an IP address");
        string? launchAgent = parseResult.GetValue(s_launchAgent);
        if (launchAgent is not null && string.IsNullOrWhiteSpace(launchAgent))
            throw new UsageException("--launch-agent needs a command");

        return new RunOptions(
            Placement: placement,
            Environment: environment,
            TagOutput: parseResult.GetValue(s_tagOutput),
            Timeout: timeoutSeconds is int seconds ? TimeSpan.FromSeconds(seconds) : null,
            OutputDirectory: parseResult.GetValue(s_outputFilename),
            BindToCore: parseResult.GetValue(s_bindTo) == "core",
            Verbose: verbose,
            Program: program[0],
            Arguments: program[1..],
            DisplayMap: parseResult.GetValue(s_displayMap),
            LaunchAgent: launchAgent,
            KvsAddress: kvsAddress)
        {
            Diagnostics = Diagnostics.DiagnosticsOptions.Read(parseResult),
        };
    }

    // --host and --hostfile together use both lists (hosts from the file first); with neither, the
    // default hostfile of Open MPI (as the Kubeflow mpi-operator sets it) or MPICH, else this machine only.
    private static Placement MapRanks(ParseResult parseResult, int? ranks, MapBy mapBy, int? perNode)
    {
        var hosts = new List<HostSlots>();
        string? hostfile = parseResult.GetValue(s_hostfile);
        string[] hostOption = parseResult.GetValue(s_hosts) ?? [];
        if (hostfile is null && hostOption.Length == 0)
        {
            hostfile = new[] { "OMPI_MCA_orte_default_hostfile", "HYDRA_HOST_FILE" }
                .Select(Environment.GetEnvironmentVariable)
                .FirstOrDefault(v => !string.IsNullOrEmpty(v));
        }
        if (hostfile is not null)
            hosts.AddRange(HostList.ReadHostfile(hostfile));
        if (hostOption.Length > 0)
            hosts.AddRange(HostList.ParseHostOption(hostOption));
        if (hosts.Count == 0)
        {
            // No host list: this machine only, as many ranks as asked (oversubscribing is fine), and
            // -N is simply the rank count.
            return Placement.LocalOnly(ranks ?? perNode ?? Environment.ProcessorCount);
        }
        return Placement.Map(HostList.Merge(hosts), ranks, mapBy, perNode, parseResult.GetValue(s_oversubscribe));
    }

    private static void CheckVariableName(string name, string option)
    {
        if (name.Length == 0 || name.Contains('\0'))
            throw new UsageException($"{option} needs a variable name (got '{name}')");
    }
}
