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
        Description = "Allow more ranks than cores (always allowed for local jobs)",
    };

    private static readonly Option<string?> s_outputFilename = new("--output-filename")
    {
        Description = "Also write each rank's output to DIR/rank.N/stdout and DIR/rank.N/stderr",
        HelpName = "DIR",
    };

    private static readonly Option<string> s_bindTo = CreateBindTo();

    private static readonly Option<string?> s_mapBy = new("--map-by", "-map-by")
    {
        Description = "Rank placement: slot (fill each host in order); core and node are the same on one host",
        HelpName = "slot",
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
            s_ranks, s_exports, s_genv, s_tagOutput, s_timeout, s_oversubscribe, s_outputFilename, s_bindTo, s_mapBy, s_verbose, s_program,
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

        int ranks = parseResult.GetValue(s_ranks) ?? Environment.ProcessorCount;
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

        if (parseResult.GetValue(s_mapBy) is string mapBy)
        {
            string policy = mapBy.Split(':')[0].ToLowerInvariant();
            if (policy is not ("slot" or "core" or "node"))
                throw new UsageException($"--map-by {mapBy} is not supported (use slot)");
        }

        return new RunOptions(
            Ranks: ranks,
            Environment: environment,
            TagOutput: parseResult.GetValue(s_tagOutput),
            Timeout: timeoutSeconds is int seconds ? TimeSpan.FromSeconds(seconds) : null,
            OutputDirectory: parseResult.GetValue(s_outputFilename),
            BindToCore: parseResult.GetValue(s_bindTo) == "core",
            Verbose: verbose,
            Program: program[0],
            Arguments: program[1..])
        {
            Diagnostics = Diagnostics.DiagnosticsOptions.Read(parseResult),
        };
    }

    private static void CheckVariableName(string name, string option)
    {
        if (name.Length == 0 || name.Contains('\0'))
            throw new UsageException($"{option} needs a variable name (got '{name}')");
    }
}
