using System.Diagnostics;
using SharpMpi.Transport.SharedMemory;
using SharpMpi.Transport.Tests.Peer;
using Xunit;

namespace SharpMpi.Transport.Tests.SharedMemory;

/// <summary>The child process playing rank 1, with its fence directory.</summary>
internal sealed class PeerProcess : IDisposable
{
    private readonly string _fenceDirectory;

    private PeerProcess(string jobId, string fenceDirectory, Process process)
    {
        JobId = jobId;
        _fenceDirectory = fenceDirectory;
        Process = process;
    }

    public string JobId { get; }

    public Process Process { get; }

    public static PeerProcess Start(string mode)
    {
        string jobId = ShmJob.NewJobId();
        string fenceDirectory = Directory.CreateTempSubdirectory("sharpmpi-fence-").FullName;
        var start = new ProcessStartInfo(PeerExecutable())
        {
            ArgumentList = { jobId, fenceDirectory, mode },
            UseShellExecute = false,
            RedirectStandardError = true,
        };
        start.Environment.Remove(SharedMemoryOptions.RingSizeVariable);
        start.Environment.Remove(SharedMemoryOptions.EagerLimitVariable);
        return new PeerProcess(jobId, fenceDirectory, Process.Start(start)!);
    }

    public SharedMemoryTransport Connect()
    {
        var fence = new FileFence(_fenceDirectory, 0, [0, 1], TimeSpan.FromSeconds(30));
        return SharedMemoryTransport.Create(new SharedMemoryOptions(), JobId, 0, [0, 1], fence.Wait);
    }

    /// <summary>Waits for the peer to end; returns its exit code and what it wrote to stderr.</summary>
    public async Task<(int ExitCode, string Errors)> WaitForExitAsync(CancellationToken ct)
    {
        string errors = await Process.StandardError.ReadToEndAsync(ct);
        await Process.WaitForExitAsync(ct);
        return (Process.ExitCode, errors);
    }

    public void Dispose()
    {
        if (!Process.HasExited)
            Process.Kill();
        Process.Dispose();
        Directory.Delete(_fenceDirectory, recursive: true);
    }

    private static string PeerExecutable()
    {
        // artifacts/bin/SharpMpi.Transport.Tests/<config>/ → artifacts/bin/SharpMpi.Transport.Tests.Peer/<config>/
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        string path = Path.Combine(here.Parent!.Parent!.FullName, "SharpMpi.Transport.Tests.Peer", here.Name, "SharpMpi.Transport.Tests.Peer");
        Assert.True(File.Exists(path), $"peer executable not found at {path}");
        return path;
    }
}
