using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace SharpMpi.Run.Tests;

/// <summary>
/// The packages as a user meets them: packs SharpMpi, SharpMpi.Tool and SharpMpi.Templates into a
/// temporary local feed, installs the <c>sharpmpi</c> tool from it into a temporary tool path, creates
/// an app with <c>dotnet new sharpmpi-app</c>, builds it against the feed and runs it with the installed
/// <c>sharpmpi run -n 2</c>.
/// </summary>
/// <remarks>
/// Works without network: the NuGet configuration it writes clears every source but the local feed
/// and lists the machine's package cache as a fallback folder (MemoryPack and the SDK's own packages
/// come from there; the solution's build restored them). A temporary global packages folder keeps the
/// freshly packed SharpMpi 0.1.0 from being shadowed by, or leaking into, the machine's cache. The
/// library and the tool are packed from the build the tests run on (<c>--no-build</c>), so the test
/// costs about half a minute.
/// </remarks>
[Trait("Category", "Packaging")]
public sealed class PackagingTests : IDisposable
{
    private static readonly TimeSpan s_stepLimit = TimeSpan.FromMinutes(3);

    private readonly string _root = Directory.CreateTempSubdirectory("sharpmpi-packaging-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    [Fact]
    public async Task Packages_InstallFromLocalFeed_TemplateAppRunsUnderInstalledTool()
    {
        string repo = FindRepositoryRoot();
        string version = ReadVersionPrefix(repo);
        string configuration = BuildConfiguration();
        string feed = Path.Combine(_root, "feed");
        string tools = Path.Combine(_root, "tools");
        string app = Path.Combine(_root, "work", "HelloPackages");

        // 1. Pack into the feed: the library and the tool from the build the tests run on, the templates fresh.
        await Dotnet(repo, "pack", Path.Combine(repo, "src", "SharpMpi", "SharpMpi.csproj"), "-c", configuration, "--no-build", "-o", feed, "-nologo", "-v", "q");
        await Dotnet(repo, "pack", Path.Combine(repo, "src", "SharpMpi.Run", "SharpMpi.Run.csproj"), "-c", configuration, "--no-build", "-o", feed, "-nologo", "-v", "q");
        await Dotnet(repo, "pack", Path.Combine(repo, "templates", "SharpMpi.Templates.csproj"), "-c", configuration, "-o", feed, "-nologo", "-v", "q");
        foreach (string package in new[] { "SharpMpi", "SharpMpi.Tool", "SharpMpi.Templates" })
            Assert.True(File.Exists(Path.Combine(feed, $"{package}.{version}.nupkg")), $"{package}.{version}.nupkg not in the feed");
        Assert.True(File.Exists(Path.Combine(feed, $"SharpMpi.{version}.snupkg")), "no symbol package for SharpMpi");

        // 2. A NuGet configuration that reaches nothing but the feed and the machine's cache.
        string config = WriteNuGetConfig(feed);

        // 3. Install the tool from the feed into a private tool path.
        await Dotnet(_root, "tool", "install", "--tool-path", tools, "--configfile", config, "SharpMpi.Tool", "--version", version);
        string sharpmpi = Path.Combine(tools, "sharpmpi");
        Assert.True(File.Exists(sharpmpi), "the tool's command 'sharpmpi' was not installed");

        // 4. Create an app from the template (a private template hive, so the user's templates stay as they are).
        string hive = Path.Combine(_root, "hive");
        await Dotnet(_root, "new", "install", Path.Combine(feed, $"SharpMpi.Templates.{version}.nupkg"), "--debug:custom-hive", hive);
        await Dotnet(_root, "new", "sharpmpi-app", "-n", "HelloPackages", "-o", app, "--debug:custom-hive", hive);
        string project = await File.ReadAllTextAsync(Path.Combine(app, "HelloPackages.csproj"), TestContext.Current.CancellationToken);
        Assert.Contains($"<PackageReference Include=\"SharpMpi\" Version=\"{version}\" />", project);

        // 5. Build it against the feed (the configuration file above the app folder applies), then run 2 ranks.
        await Dotnet(app, "build", "-c", "Release", "-nologo", "-v", "q");
        var (exitCode, output) = await RunProcess(sharpmpi, _root, "run", "-n", "2", app);
        Assert.True(exitCode == 0, $"sharpmpi run exited {exitCode}:\n{output}");
        Assert.Contains("Hello from rank 0 of 2", output);
        Assert.Contains("Hello from rank 1 of 2", output);
        Assert.Contains("Sum of all ranks: 1 (expected 1)", output);
    }

    [Fact]
    public void Template_ReferencesTheRepositoryVersion()
    {
        // The template names the SharpMpi version as a literal default; it must follow VersionPrefix.
        string repo = FindRepositoryRoot();
        string template = File.ReadAllText(Path.Combine(repo, "templates", "content", "sharpmpi-app", ".template.config", "template.json"));
        Assert.Contains($"\"defaultValue\": \"{ReadVersionPrefix(repo)}\"", template);
    }

    private string WriteNuGetConfig(string feed)
    {
        string machineCache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } fromEnvironment
            ? fromEnvironment
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string path = Path.Combine(_root, "nuget.config");
        File.WriteAllText(path, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{Path.Combine(_root, "packages")}" />
              </config>
              <packageSources>
                <clear />
                <add key="local" value="{feed}" />
              </packageSources>
              <fallbackPackageFolders>
                <clear />
                <add key="machine" value="{machineCache}" />
              </fallbackPackageFolders>
            </configuration>
            """);
        return path;
    }

    private async Task Dotnet(string workingDirectory, params string[] arguments)
    {
        var (exitCode, output) = await RunProcess("dotnet", workingDirectory, arguments);
        Assert.True(exitCode == 0, $"dotnet {string.Join(' ', arguments)} exited {exitCode}:\n{output}");
    }

    private static Task<(int ExitCode, string Output)> RunProcess(string fileName, string workingDirectory, params string[] arguments) =>
        ToolProcess.RunAsync(fileName, workingDirectory, s_stepLimit, arguments);

    private static string FindRepositoryRoot() => ToolProcess.FindRepositoryRoot();

    private static string ReadVersionPrefix(string repo)
    {
        var match = Regex.Match(File.ReadAllText(Path.Combine(repo, "Directory.Build.props")), "<VersionPrefix>([^<]+)</VersionPrefix>");
        Assert.True(match.Success, "no VersionPrefix in Directory.Build.props");
        return match.Groups[1].Value;
    }

    // Artifacts output: .../artifacts/bin/SharpMpi.Run.Tests/<configuration, lower case>/
    private static string BuildConfiguration() =>
        Path.GetFileName(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)) switch
        {
            "release" => "Release",
            _ => "Debug",
        };
}
