using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace SharpMpi.Bootstrap;

/// <summary>
/// A key-value store in a directory every rank can see (under <c>/dev/shm</c>), for ranks started
/// without a KVS of any kind (plain <c>srun</c> without <c>--mpi=pmi2</c>, Open MPI's <c>mpirun</c>,
/// which offers only PMIx). Valid only when all ranks run on one machine.
/// </summary>
/// <remarks>
/// A put writes <c>k.&lt;base64url key&gt;</c> through a temporary file and a rename, so a reader sees the
/// whole value or nothing. A get polls until the file exists. Fence number G: each rank creates
/// <c>fence.G.&lt;rank&gt;</c> and waits until all <c>size</c> exist (the files stay until the end, so a slow
/// rank still counts them). <see cref="Leave"/> marks the rank done; the last rank out removes the
/// directory. A job whose ranks die leaves it behind. Waits give up after <c>SHARPMPI_KVS_TIMEOUT</c>
/// seconds (default 300) with an exception naming what was missing.
/// </remarks>
internal sealed class FileKeyValueStore : IKeyValueStore
{
    private readonly string _directory;
    private readonly int _rank;
    private readonly int _size;
    private readonly TimeSpan _timeout;
    private int _generation;

    public FileKeyValueStore(string directory, int rank, int size, TimeSpan timeout)
    {
        _directory = directory;
        _rank = rank;
        _size = size;
        _timeout = timeout;
        Directory.CreateDirectory(directory);
    }

    /// <summary>The directory holding the store.</summary>
    public string DirectoryPath => _directory;

    public void Put(string key, string value)
    {
        string path = KeyPath(key);
        string temporary = Path.Combine(_directory, $".tmp.{_rank.ToString(CultureInfo.InvariantCulture)}.{Guid.NewGuid():N}");
        File.WriteAllText(temporary, value, Encoding.UTF8);
        File.Move(temporary, path, overwrite: true);
    }

    public string Get(string key)
    {
        string path = KeyPath(key);
        WaitUntil(() => File.Exists(path), $"key '{key}'");
        return File.ReadAllText(path, Encoding.UTF8);
    }

    public void Fence()
    {
        int generation = ++_generation;
        string prefix = $"fence.{generation.ToString(CultureInfo.InvariantCulture)}.";
        File.WriteAllBytes(Path.Combine(_directory, prefix + _rank.ToString(CultureInfo.InvariantCulture)), []);
        WaitUntil(() => Directory.GetFiles(_directory, prefix + "*").Length >= _size, $"fence {generation} of {_size} ranks");
    }

    /// <summary>This rank is done with the store; the last of the job removes the directory.</summary>
    public void Leave()
    {
        try
        {
            File.WriteAllBytes(Path.Combine(_directory, $"done.{_rank.ToString(CultureInfo.InvariantCulture)}"), []);
            if (Directory.GetFiles(_directory, "done.*").Length >= _size)
                Directory.Delete(_directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Another rank removed it first.
        }
    }

    private string KeyPath(string key) =>
        Path.Combine(_directory, "k." + Convert.ToBase64String(Encoding.UTF8.GetBytes(key)).TrimEnd('=').Replace('+', '-').Replace('/', '_'));

    private void WaitUntil(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        int sleep = 1;
        while (!condition())
        {
            if (clock.Elapsed > _timeout)
                throw new TimeoutException($"rank {_rank}: waited {_timeout.TotalSeconds:0} s in {_directory} for {what}; did every rank start?");
            Thread.Sleep(sleep);
            sleep = Math.Min(sleep * 2, 20);
        }
    }
}
