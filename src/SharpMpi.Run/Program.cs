using System.CommandLine;
using SharpMpi.Run;

// Entry point of the `sharpmpi` tool. Parse errors and bad input become one line on stderr and exit
// code 1 (DESIGN.md §8: no stack traces for user mistakes); the job's own exit code comes from
// JobLauncher.

var root = new RootCommand("SharpMPI launcher: run MPI programs written with SharpMPI")
{
    RunCommand.Create(),
    AgentCommand.Create(),
    BenchCommand.Create(),
};

ParseResult parseResult = root.Parse(args);
if (parseResult.Errors.Count > 0)
{
    string? unmatched = parseResult.UnmatchedTokens.FirstOrDefault();
    Console.Error.WriteLine(unmatched switch
    {
        null when args.Length == 0 => "sharpmpi: no command given (usage: sharpmpi run -n N program [args...]; sharpmpi --help)",
        null => $"sharpmpi: {parseResult.Errors[0].Message}",
        _ when unmatched.StartsWith('-') => $"sharpmpi: unknown option '{unmatched}'",
        _ => $"sharpmpi: unknown command '{unmatched}' (usage: sharpmpi run -n N program [args...])",
    });
    return ExitCodes.UsageError;
}

try
{
    return await parseResult.InvokeAsync(new InvocationConfiguration
    {
        // The launcher forwards SIGINT/SIGTERM to the ranks itself (SignalForwarder); System.CommandLine's
        // own handler would cancel the action and let the process end before the ranks are cleaned up.
        ProcessTerminationTimeout = null,
        EnableDefaultExceptionHandler = false,
    });
}
catch (UsageException e)
{
    Console.Error.WriteLine($"sharpmpi: {e.Message}");
    return ExitCodes.UsageError;
}
