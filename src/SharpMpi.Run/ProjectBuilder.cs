using System.Diagnostics;
using System.Xml.Linq;

namespace SharpMpi.Run;

/// <summary>
/// Builds a project in Release before a run, but only when something it depends on changed: a stamp
/// file in the project's obj/ records the output path, and its time is when the last good build began.
/// </summary>
/// <remarks>
/// Even a no-op <c>dotnet build</c> costs seconds of MSBuild evaluation, which users of an mpirun-like
/// tool would pay on every run. The inputs compared against the stamp: *.cs, *.csproj, *.props and
/// *.targets under the project folder and under every project it references (transitively), plus
/// Directory.Build.props/.targets, Directory.Packages.props and global.json in any folder above.
/// Changes outside these (a resource file, a package cache) need a manual <c>dotnet build</c>.
/// </remarks>
internal static class ProjectBuilder
{
    private static readonly string[] s_sourcePatterns = ["*.cs", "*.csproj", "*.props", "*.targets"];
    private static readonly string[] s_upwardFiles = ["Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props", "global.json"];
    private static readonly HashSet<string> s_skippedFolders = new(StringComparer.Ordinal) { "bin", "obj", "artifacts", ".git", "node_modules", "TestResults" };

    /// <summary>Returns the project's built .dll, building it first when stale.</summary>
    /// <exception cref="UsageException">The build failed (its output has been written to stderr).</exception>
    public static string EnsureBuilt(string projectPath, Action<string>? verbose)
    {
        string stamp = StampPath(projectPath);
        if (File.Exists(stamp))
        {
            string target = File.ReadAllText(stamp).Trim();
            DateTime built = File.GetLastWriteTimeUtc(stamp);
            DateTime newest = NewestInput(projectPath);
            if (File.Exists(target) && newest < built)
            {
                verbose?.Invoke($"{Path.GetFileName(projectPath)} is up to date ({target})");
                return target;
            }
        }

        verbose?.Invoke($"building {projectPath} (Release)");
        DateTime started = DateTime.UtcNow;
        (int code, string output) = RunDotnet(["build", projectPath, "-c", "Release", "-nologo", "-v", "q"]);
        if (code != 0)
        {
            Console.Error.Write(output);
            throw new UsageException($"build of {Path.GetFileName(projectPath)} failed");
        }
        (code, output) = RunDotnet(["msbuild", projectPath, "-nologo", "-p:Configuration=Release", "-getProperty:TargetPath"]);
        string targetPath = output.Trim();
        if (code != 0 || !File.Exists(targetPath))
            throw new UsageException($"cannot find the output of {Path.GetFileName(projectPath)} (TargetPath '{targetPath}')");

        Directory.CreateDirectory(Path.GetDirectoryName(stamp)!);
        File.WriteAllText(stamp, targetPath + "\n");
        // The build's start, not its end: a file saved while it ran makes the next run build again.
        File.SetLastWriteTimeUtc(stamp, started);
        return targetPath;
    }

    internal static string StampPath(string projectPath) =>
        Path.Combine(Path.GetDirectoryName(projectPath)!, "obj", $"{Path.GetFileNameWithoutExtension(projectPath)}.sharpmpi-run.stamp");

    /// <summary>Newest write time among the inputs listed in the remarks.</summary>
    internal static DateTime NewestInput(string projectPath)
    {
        DateTime newest = DateTime.MinValue;
        var seenProjects = new HashSet<string>(StringComparer.Ordinal);
        var seenFolders = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>();
        pending.Push(Path.GetFullPath(projectPath));
        while (pending.TryPop(out string? project))
        {
            if (!seenProjects.Add(project) || !File.Exists(project))
                continue;
            string folder = Path.GetDirectoryName(project)!;
            if (seenFolders.Add(folder))
                newest = Max(newest, NewestUnder(folder));
            for (string? dir = folder; dir is not null; dir = Path.GetDirectoryName(dir))
            {
                foreach (string name in s_upwardFiles)
                {
                    string candidate = Path.Combine(dir, name);
                    if (File.Exists(candidate))
                        newest = Max(newest, File.GetLastWriteTimeUtc(candidate));
                }
            }
            foreach (string reference in ProjectReferences(project))
                pending.Push(reference);
        }
        return newest;
    }

    private static DateTime NewestUnder(string folder)
    {
        DateTime newest = DateTime.MinValue;
        foreach (string pattern in s_sourcePatterns)
        {
            foreach (string file in Directory.EnumerateFiles(folder, pattern))
                newest = Max(newest, File.GetLastWriteTimeUtc(file));
        }
        foreach (string sub in Directory.EnumerateDirectories(folder))
        {
            if (!s_skippedFolders.Contains(Path.GetFileName(sub)))
                newest = Max(newest, NewestUnder(sub));
        }
        return newest;
    }

    private static IEnumerable<string> ProjectReferences(string project)
    {
        XDocument doc;
        try
        {
            doc = XDocument.Load(project);
        }
        catch (System.Xml.XmlException)
        {
            return [];   // dotnet build will report it
        }
        string folder = Path.GetDirectoryName(project)!;
        return doc.Descendants()
            .Where(e => e.Name.LocalName == "ProjectReference")
            .Select(e => (string?)e.Attribute("Include"))
            .OfType<string>()
            .Select(include => Path.GetFullPath(Path.Combine(folder, include.Replace('\\', '/'))));
    }

    private static DateTime Max(DateTime a, DateTime b) => a > b ? a : b;

    private static (int Code, string Output) RunDotnet(IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(DotnetHost.Path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string a in arguments)
            start.ArgumentList.Add(a);
        using Process process = Process.Start(start) ?? throw new UsageException("cannot start dotnet to build the program");
        process.StandardInput.Close();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }
}
