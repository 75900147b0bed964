namespace SharpMpi.Run;

/// <summary>What to execute for each rank: a file name and the arguments that come before the user's.</summary>
/// <param name="FileName">Executable to start (the dotnet host for managed programs).</param>
/// <param name="LeadingArguments">Arguments before the user's (the .dll path for managed programs).</param>
internal sealed record ResolvedProgram(string FileName, IReadOnlyList<string> LeadingArguments);

/// <summary>
/// Turns the program named on the command line into something to start: a project folder or .csproj
/// (built first when stale, then run with dotnet), a .dll (run with dotnet), or an executable found by
/// path or on PATH.
/// </summary>
internal static class ProgramResolver
{
    /// <exception cref="UsageException">The program does not exist, or its build failed.</exception>
    public static ResolvedProgram Resolve(string program, Action<string>? verbose)
    {
        if (Directory.Exists(program))
            return RunProject(FindProjectFile(program), verbose);
        if (program.EndsWith(".csproj", StringComparison.OrdinalIgnoreCase))
            return File.Exists(program) ? RunProject(Path.GetFullPath(program), verbose) : throw NotFound(program);
        if (program.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            return File.Exists(program) ? new ResolvedProgram(DotnetHost.Path, [Path.GetFullPath(program)]) : throw NotFound(program);
        return new ResolvedProgram(FindExecutable(program) ?? throw NotFound(program), []);
    }

    /// <summary>Like a shell: a name with a slash is a path, anything else is looked up on PATH.</summary>
    internal static string? FindExecutable(string name)
    {
        if (name.Contains('/'))
            return IsExecutableFile(name) ? Path.GetFullPath(name) : null;
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, name);
            if (IsExecutableFile(candidate))
                return candidate;
        }
        return null;
    }

    private static bool IsExecutableFile(string path) =>
        File.Exists(path) && (OperatingSystem.IsWindows()
            || (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0);

    private static string FindProjectFile(string directory)
    {
        string[] projects = Directory.GetFiles(directory, "*.csproj");
        return projects.Length switch
        {
            1 => Path.GetFullPath(projects[0]),
            0 => throw new UsageException($"program '{directory}' is a folder without a .csproj"),
            _ => throw new UsageException($"folder '{directory}' holds {projects.Length} project files; name the .csproj to run"),
        };
    }

    private static ResolvedProgram RunProject(string projectPath, Action<string>? verbose) =>
        new(DotnetHost.Path, [ProjectBuilder.EnsureBuilt(projectPath, verbose)]);

    private static UsageException NotFound(string program) => new($"program '{program}' not found");
}

/// <summary>Where the dotnet host is, for running .dll programs and building projects.</summary>
internal static class DotnetHost
{
    /// <summary>The host running the launcher when that is dotnet, else dotnet on PATH, else $DOTNET_ROOT/dotnet.</summary>
    public static string Path { get; } = Find();

    private static string Find()
    {
        string? self = Environment.ProcessPath;
        if (self is not null && System.IO.Path.GetFileNameWithoutExtension(self) == "dotnet")
            return self;
        if (ProgramResolver.FindExecutable("dotnet") is string onPath)
            return onPath;
        string? root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        return root is not null ? System.IO.Path.Combine(root, "dotnet") : "dotnet";
    }
}
