using System.CommandLine;
using System.Globalization;

namespace SharpMpi.Run;

/// <summary>
/// The <c>bench</c> verb: <c>sharpmpi bench VERB [-n N] [options]</c> runs the SharpMPI benchmark program
/// (bench/SharpMpi.Bench: OSU and nccl-tests formats) as a job of N ranks (default 2), through the same code
/// path as <c>sharpmpi run</c>.
/// </summary>
/// <remarks>
/// <para>
/// <c>-n</c> is the rank count wherever it appears, as with mpirun; nccl-tests' <c>-n</c> (iterations) is
/// spelled <c>--iters</c> here. Launcher options other than <c>-n</c> (<c>-x</c>, <c>--timeout</c>, <c>-v</c>,
/// <c>--program</c>) go before the benchmark verb; everything after the verb except <c>-n</c> belongs to the
/// benchmark (so <c>-x</c> after the verb is OSU's warm-up count).
/// </para>
/// <para>
/// The benchmark program is, in this order: <c>--program</c>; SharpMpi.Bench.dll next to the launcher;
/// bench/SharpMpi.Bench in the source checkout above the launcher or the current folder (built in Release
/// when missing or stale, as <c>run</c> does for a project folder); artifacts/bin/SharpMpi.Bench/&lt;config&gt;
/// beside the launcher's own artifacts folder.
/// </para>
/// </remarks>
internal static class BenchCommand
{
    internal const string BenchAssembly = "SharpMpi.Bench.dll";
    internal const string BenchProject = "bench/SharpMpi.Bench/SharpMpi.Bench.csproj";
    private const int DefaultRanks = 2;

    private static readonly Option<int?> s_ranks = new("-n", "-np", "--np")
    {
        Description = $"Number of ranks (default {DefaultRanks}); may also follow the benchmark verb",
        HelpName = "N",
    };

    private static readonly Option<string[]> s_exports = new("-x")
    {
        Description = "Set VAR=value for every rank, e.g. -x SHARPMPI_TRANSPORT=tcp (before the verb); repeatable",
        HelpName = "VAR[=value]",
    };

    private static readonly Option<int?> s_timeout = new("--timeout")
    {
        Description = "Kill the job after this many seconds",
        HelpName = "SECONDS",
    };

    private static readonly Option<bool> s_verbose = new("--verbose", "-v")
    {
        Description = "Describe what the launcher does",
    };

    private static readonly Option<string?> s_program = new("--program")
    {
        Description = "Benchmark program to run (.dll or project; default: SharpMpi.Bench, located as documented)",
        HelpName = "PATH",
    };

    private static readonly Argument<string[]> s_benchmark = new("benchmark")
    {
        Description = "Benchmark verb (latency, bw, bibw, multi-lat, osu-allreduce…, allreduce, allgather, broadcast, reduce, reducescatter, alltoall, barrier, alloc) and its options",
        Arity = ArgumentArity.ZeroOrMore,
        CaptureRemainingTokens = true,
    };

    public static Command Create()
    {
        var command = new Command("bench", "Run a SharpMPI benchmark (OSU / nccl-tests formats) on N ranks: sharpmpi bench VERB [-n N] [options]")
        {
            s_ranks, s_exports, s_timeout, s_verbose, s_program, s_benchmark,
        };
        command.SetAction((parseResult, cancellationToken) => JobLauncher.RunAsync(ToOptions(parseResult), cancellationToken));
        return command;
    }

    /// <summary>Builds the equivalent <c>run</c> command line and lets <see cref="RunCommand"/> validate it.</summary>
    /// <exception cref="UsageException">No verb, a bad rank count, or no benchmark program found.</exception>
    internal static RunOptions ToOptions(ParseResult parseResult)
    {
        string[] benchmark = parseResult.GetValue(s_benchmark) ?? [];
        if (benchmark.Length == 0)
            throw new UsageException("no benchmark given (usage: sharpmpi bench VERB [-n N] [options]; e.g. sharpmpi bench latency)");
        if (benchmark[0].StartsWith('-'))
            throw new UsageException($"unknown option '{benchmark[0]}' (launcher options go before the benchmark verb)");

        int? ranks = parseResult.GetValue(s_ranks);
        var arguments = new List<string>();
        for (int i = 0; i < benchmark.Length; i++)
        {
            if (i > 0 && benchmark[i] is "-n" or "-np" or "--np")
            {
                if (i + 1 >= benchmark.Length)
                    throw new UsageException($"{benchmark[i]} needs a number of ranks");
                ranks = int.TryParse(benchmark[i + 1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int n)
                    ? n
                    : throw new UsageException($"{benchmark[i]} {benchmark[i + 1]}: not a number of ranks (nccl-tests' -n is --iters here)");
                i++;
                continue;
            }
            arguments.Add(benchmark[i]);
        }

        var run = new List<string> { "-n", (ranks ?? DefaultRanks).ToString(CultureInfo.InvariantCulture) };
        foreach (string export in parseResult.GetValue(s_exports) ?? [])
            run.AddRange(["-x", export]);
        if (parseResult.GetValue(s_timeout) is int timeout)
            run.AddRange(["--timeout", timeout.ToString(CultureInfo.InvariantCulture)]);
        bool verbose = parseResult.GetValue(s_verbose);
        if (verbose)
            run.Add("--verbose");
        string program = parseResult.GetValue(s_program) ?? LocateBench(verbose ? m => Console.Error.WriteLine($"sharpmpi: {m}") : null);
        run.Add(program);
        run.AddRange(arguments);

        ParseResult runParse = RunCommand.Create().Parse(run);
        if (runParse.Errors.Count > 0)
            throw new UsageException(runParse.Errors[0].Message);
        return RunCommand.ToOptions(runParse);
    }

    /// <summary>Finds the benchmark program (see the class remarks for the order).</summary>
    internal static string LocateBench(Action<string>? verbose, string? baseDirectory = null, string? currentDirectory = null)
    {
        baseDirectory ??= AppContext.BaseDirectory;
        currentDirectory ??= Environment.CurrentDirectory;
        string besideLauncher = Path.Combine(baseDirectory, BenchAssembly);
        if (File.Exists(besideLauncher))
        {
            verbose?.Invoke($"bench: {besideLauncher}");
            return besideLauncher;
        }
        foreach (string start in new[] { baseDirectory, currentDirectory })
        {
            for (DirectoryInfo? dir = new(start); dir is not null; dir = dir.Parent)
            {
                string project = Path.Combine(dir.FullName, BenchProject);
                if (File.Exists(project))
                {
                    verbose?.Invoke($"bench: project {project} (built in Release when stale)");
                    return project;
                }
            }
        }
        // Installed from artifacts/bin/SharpMpi.Run/<config>/: the bench builds to artifacts/bin/SharpMpi.Bench/<config>/.
        string trimmed = baseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        string configuration = Path.GetFileName(trimmed);
        string artifactsBin = Path.GetDirectoryName(Path.GetDirectoryName(trimmed) ?? "") ?? "";
        foreach (string config in new[] { configuration, "release", "debug" })
        {
            string candidate = Path.Combine(artifactsBin, "SharpMpi.Bench", config, BenchAssembly);
            if (File.Exists(candidate))
            {
                verbose?.Invoke($"bench: {candidate}");
                return candidate;
            }
        }
        throw new UsageException($"the benchmark program {BenchAssembly} was not found next to the launcher, in a source checkout or in artifacts/ "
            + "(build it with `dotnet build bench/SharpMpi.Bench -c Release`, or pass --program PATH)");
    }
}
