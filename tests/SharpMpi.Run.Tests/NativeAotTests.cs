using System.Diagnostics;
using System.Text;

namespace SharpMpi.Run.Tests;

/// <summary>
/// A SharpMPI app published with NativeAOT is a native executable, and the launcher runs it like any other:
/// publishes examples/Hello with <c>PublishAot</c> into a temporary folder and runs it on 2 ranks.
/// </summary>
/// <remarks>
/// The publish builds into its own artifacts folder (nothing of the repository's build output is shared or
/// overwritten) and without ReadyToRun for the library (the AOT compiler reads IL). It takes about a minute on two
/// idle cores, longer on a busy machine. NativeAOT links with clang, or gcc when there is no clang; without
/// either the test is skipped.
/// </remarks>
[Trait("Category", "NativeAot")]
public sealed class NativeAotTests : IDisposable
{
    private static readonly TimeSpan s_publishLimit = TimeSpan.FromMinutes(10);

    private readonly string _root = Directory.CreateTempSubdirectory("sharpmpi-aot-").FullName;

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
    public async Task Hello_PublishedWithNativeAot_RunsUnderLauncher()
    {
        if (FindOnPath("clang") is null && FindOnPath("gcc") is null)
            Assert.Skip("NativeAOT links with clang or gcc, and neither is on PATH (apt-get install -y clang)");

        string project = Path.Combine(FindRepositoryRoot(), "examples", "Hello", "Hello.csproj");
        string output = Path.Combine(_root, "out");
        var (exitCode, log) = await RunProcess("dotnet", "publish", project, "-c", "Release", "-p:PublishAot=true",
            "-p:SharpMpiReadyToRun=false", $"-p:ArtifactsPath={Path.Combine(_root, "artifacts")}", "-o", output, "-nologo", "-v", "q");
        Assert.True(exitCode == 0, $"dotnet publish -p:PublishAot=true exited {exitCode}:\n{log}");
        string hello = Path.Combine(output, "Hello");
        Assert.True(File.Exists(hello), $"no native executable at {hello}:\n{log}");
        // Native code, not an app host for Hello.dll: the runtime and the app are inside the executable.
        Assert.False(File.Exists(Path.Combine(output, "Hello.dll")), "the publish produced Hello.dll, so it was not a NativeAOT publish");

        var r = await LauncherProcess.RunAsync(["-n", "2", hello]);
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Stdout}{r.Stderr}");
        for (int rank = 0; rank < 2; rank++)
            Assert.Contains(r.StdoutLines, l => l.StartsWith($"Hello from rank {rank} of 2 on ", StringComparison.Ordinal));
    }

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, program)).FirstOrDefault(File.Exists);

    private Task<(int ExitCode, string Output)> RunProcess(string fileName, params string[] arguments) =>
        ToolProcess.RunAsync(fileName, _root, s_publishLimit, arguments);

    private static string FindRepositoryRoot() => ToolProcess.FindRepositoryRoot();
}
