using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using SharpMpi.Bootstrap;

namespace SharpMpi.Run.Tests;

/// <summary>
/// The PMI-1 and PMI-2 clients against <see cref="FakePmiServer"/>, a small server speaking both wires
/// the way Slurm's pmi2 plugin and Hydra do; then real SharpMPI ranks bootstrapping through it.
/// </summary>
public sealed class PmiTests
{
    private static readonly string[] s_values =
    [
        "tcp://127.0.0.1:5000",
        "has spaces; semicolons=and\nnewlines ünïcode",
        "",
        new string('x', 2500) + "~*",
    ];

    private static Func<string, string?> Variables(FakePmiServer server, int rank, int size, params (string Name, string Value)[] extra)
    {
        var vars = new Dictionary<string, string>
        {
            ["PMI_PORT"] = server.Endpoint,
            ["PMI_RANK"] = rank.ToString(CultureInfo.InvariantCulture),
            ["PMI_SIZE"] = size.ToString(CultureInfo.InvariantCulture),
            ["PMI_JOBID"] = "7.0",
        };
        foreach ((string name, string value) in extra)
            vars[name] = value;
        return name => vars.GetValueOrDefault(name);
    }

    private static async Task RunRanks(int size, Action<int> body)
    {
        Task[] ranks = [.. Enumerable.Range(0, size).Select(r => Task.Factory.StartNew(() => body(r), TaskCreationOptions.LongRunning))];
        await Task.WhenAll(ranks).WaitAsync(TimeSpan.FromSeconds(30));
    }

    private static void PutFenceGetEverything(PmiClient pmi, int size)
    {
        for (int i = 0; i < s_values.Length; i++)
            pmi.Put($"value/{pmi.Rank}/{i}", s_values[i] + pmi.Rank);
        pmi.Fence();
        for (int r = 0; r < size; r++)
        {
            for (int i = 0; i < s_values.Length; i++)
                Assert.Equal(s_values[i] + r, pmi.Get($"value/{r}/{i}"));
        }
        pmi.Goodbye();
    }

    [Fact]
    public async Task Pmi2_PutFenceGet_AnyValue_ThreeRanks()
    {
        using var server = new FakePmiServer(3, supportsPmi2: true);
        await RunRanks(3, rank =>
        {
            using PmiClient pmi = PmiClient.Connect(Variables(server, rank, 3))!;
            Assert.Equal("PMI-2", pmi.Version);
            Assert.Equal((rank, 3), (pmi.Rank, pmi.Size));
            PutFenceGetEverything(pmi, 3);
        });
        Assert.Equal(3, server.Finalized);
        Assert.Contains("cmd=fullinit;pmijobid=7.0;pmirank=1;threaded=FALSE;", server.Requests);
    }

    [Fact]
    public async Task Pmi1_WhenServerDeclinesPmi2_ThreeRanks()
    {
        using var server = new FakePmiServer(3, supportsPmi2: false);
        await RunRanks(3, rank =>
        {
            using PmiClient pmi = PmiClient.Connect(Variables(server, rank, 3))!;
            Assert.Equal("PMI-1", pmi.Version);
            Assert.Equal((rank, 3), (pmi.Rank, pmi.Size));
            PutFenceGetEverything(pmi, 3);
        });
        Assert.Equal(3, server.Finalized);
        Assert.Contains("cmd=get_maxes", server.Requests);
    }

    [Fact]
    public async Task Pmi1_ForcedWithSharpMpiPmi1()
    {
        using var server = new FakePmiServer(2, supportsPmi2: true);
        await RunRanks(2, rank =>
        {
            using PmiClient pmi = PmiClient.Connect(Variables(server, rank, 2, ("SHARPMPI_PMI", "1")))!;
            Assert.Equal("PMI-1", pmi.Version);
            PutFenceGetEverything(pmi, 2);
        });
        Assert.DoesNotContain(server.Requests, r => r.Contains("pmi_version=2"));
    }

    [Fact]
    public async Task Pmi1_HydraPmiPortMode_InitackGivesRankAndSize()
    {
        using var server = new FakePmiServer(2, supportsPmi2: false);
        await RunRanks(2, id =>
        {
            var vars = new Dictionary<string, string> { ["PMI_PORT"] = server.Endpoint, ["PMI_ID"] = id.ToString(CultureInfo.InvariantCulture) };
            using PmiClient pmi = PmiClient.Connect(vars.GetValueOrDefault)!;
            Assert.Equal((id, 2), (pmi.Rank, pmi.Size));
            pmi.Fence();
            pmi.Goodbye();
        });
    }

    [Fact]
    public void PmiFd_InheritedSocket_Works()
    {
        using var server = new FakePmiServer(1, supportsPmi2: true);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        KvsProtocol.TryParseEndpoint(server.Endpoint, out string host, out int port);
        socket.Connect(IPAddress.Parse(host), port);
        int fd = (int)socket.Handle;
        // The PMI client takes the descriptor over, as a rank does with the one its launcher left open.
        socket.SafeHandle.SetHandleAsInvalid();
        var vars = new Dictionary<string, string> { ["PMI_FD"] = fd.ToString(CultureInfo.InvariantCulture), ["PMI_RANK"] = "0", ["PMI_SIZE"] = "1" };
        using PmiClient pmi = PmiClient.Connect(vars.GetValueOrDefault)!;
        Assert.Equal("PMI-2", pmi.Version);
        PutFenceGetEverything(pmi, 1);
    }

    [Fact]
    public async Task GetOfAKeyNobodyPut_FailsClearly()
    {
        using var server = new FakePmiServer(1, supportsPmi2: true);
        await RunRanks(1, rank =>
        {
            using PmiClient pmi = PmiClient.Connect(Variables(server, rank, 1))!;
            pmi.Fence();
            var e = Assert.Throws<InvalidOperationException>(() => pmi.Get("missing"));
            Assert.Contains("after a fence", e.Message);
        });
    }

    [Fact]
    public async Task Exchange_SharesSecretAndJobId_NodeFromHostName()
    {
        using var server = new FakePmiServer(3, supportsPmi2: true);
        var worlds = new BootstrapWorld[3];
        await RunRanks(3, rank =>
        {
            PmiClient pmi = PmiClient.Connect(Variables(server, rank, 3))!;
            var control = new ExternalJobControl(pmi, pmi.Abort, pmi.Goodbye, pmi.Dispose);
            worlds[rank] = BootstrapSource.Exchange(pmi.Rank, pmi.Size, pmi, control, pmi.Version);
            control.Finalized();
            control.Dispose();
        });
        for (int r = 0; r < 3; r++)
        {
            Assert.Equal((r, 3, r, 3, 0), (worlds[r].Rank, worlds[r].Size, worlds[r].LocalRank, worlds[r].LocalSize, worlds[r].Node));
            Assert.Equal(worlds[0].SecretHex, worlds[r].SecretHex);
            Assert.Equal(worlds[0].JobId, worlds[r].JobId);
        }
        Assert.Matches("^[0-9a-f]{64}$", worlds[0].SecretHex);
        Assert.Matches("^[0-9a-f]{12}$", worlds[0].JobId);
    }

    [Theory]
    [InlineData(true, null)]
    [InlineData(false, null)]
    [InlineData(true, "1")]
    public async Task SharpMpiRanks_BootstrapThroughPmi_SharedMemoryJob(bool supportsPmi2, string? forcedVersion)
    {
        using var server = new FakePmiServer(3, supportsPmi2);
        var env = new Dictionary<string, string> { ["PMI_PORT"] = server.Endpoint, ["PMI_SIZE"] = "3", ["PMI_JOBID"] = "7.0" };
        if (forcedVersion is not null)
            env["SHARPMPI_PMI"] = forcedVersion;
        (int code, string stdout, string stderr)[] results = await ExternalRanks.RunAsync(3, r => new(env) { ["PMI_RANK"] = $"{r}" }, "sizes", "0,1,1000,100000");
        foreach ((int code, string stdout, string stderr) in results)
            Assert.True(code == 0, stdout + stderr);
        Assert.Contains("OK sizes", results[0].stdout);
        Assert.Equal(3, server.Finalized);
        ExternalRanks.AssertNoSharedMemoryLeft(results[0].stdout);
    }
}

/// <summary>Starts SharpMpi.TestApp ranks as plain processes with given variables, as another launcher would.</summary>
internal static class ExternalRanks
{
    public static async Task<(int Code, string Stdout, string Stderr)[]> RunAsync(int size, Func<int, Dictionary<string, string>> environment, params string[] scenario)
    {
        string app = TestAppPath.Dll;
        Assert.True(File.Exists(app), $"test app not built at {app}");
        var processes = new List<Process>();
        try
        {
            for (int r = 0; r < size; r++)
            {
                var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                start.ArgumentList.Add(app);
                foreach (string a in scenario)
                    start.ArgumentList.Add(a);
                foreach (string name in start.Environment.Keys.Where(k => k.StartsWith("SHARPMPI_", StringComparison.Ordinal) || k.StartsWith("PMI_", StringComparison.Ordinal) || k.StartsWith("SLURM_", StringComparison.Ordinal) || k.StartsWith("OMPI_", StringComparison.Ordinal)).ToList())
                    start.Environment.Remove(name);
                foreach ((string name, string value) in environment(r))
                    start.Environment[name] = value;
                processes.Add(Process.Start(start)!);
            }
            using var limit = new CancellationTokenSource(LauncherProcess.Limit);
            return await Task.WhenAll(processes.Select(async p =>
            {
                Task<string> stdout = p.StandardOutput.ReadToEndAsync(limit.Token);
                Task<string> stderr = p.StandardError.ReadToEndAsync(limit.Token);
                await p.WaitForExitAsync(limit.Token);
                return (p.ExitCode, await stdout, await stderr);
            }));
        }
        finally
        {
            foreach (Process p in processes)
            {
                try
                {
                    if (!p.HasExited)
                        p.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                }
                p.Dispose();
            }
        }
    }

    public static void AssertNoSharedMemoryLeft(string rank0Stdout)
    {
        // Without our launcher the job id is the one rank 0 published; the bootstrap exports it as SHARPMPI_JOBID.
        string? line = rank0Stdout.Split('\n').FirstOrDefault(l => l.StartsWith("jobid=", StringComparison.Ordinal));
        Assert.NotNull(line);
        string jobId = line["jobid=".Length..].Trim();
        Assert.Matches("^[0-9a-f]{12}$", jobId);
        Assert.Empty(Directory.GetFiles("/dev/shm", $"sharpmpi.{jobId}.*"));
    }
}

/// <summary>
/// A PMI server for tests: PMI-1 lines and PMI-2 length-prefixed messages over TCP (what <c>PMI_PORT</c>
/// names), one job of <c>size</c> ranks, a shared store, a barrier. Like Slurm it rejects values PMI
/// cannot carry (spaces, <c>;</c>, over 1024 bytes), so the client's encoding is checked too.
/// </summary>
internal sealed class FakePmiServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _size;
    private readonly bool _supportsPmi2;
    private readonly Dictionary<string, string> _store = [];
    private readonly object _lock = new();
    private readonly List<Socket> _connections = [];
    private int _arrived;
    private int _generation;
    private int _nextInitackRank;
    private int _finalized;

    public FakePmiServer(int size, bool supportsPmi2)
    {
        _size = size;
        _supportsPmi2 = supportsPmi2;
        _listener.Start();
        new Thread(AcceptLoop) { IsBackground = true, Name = "fake PMI server" }.Start();
    }

    public string Endpoint => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    public List<string> Requests { get; } = [];

    public int Finalized => Volatile.Read(ref _finalized);

    public void Dispose()
    {
        _listener.Stop();
        lock (_lock)
        {
            foreach (Socket s in _connections)
                s.Dispose();
            Monitor.PulseAll(_lock);
        }
    }

    private void AcceptLoop()
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = _listener.AcceptSocket();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            lock (_lock)
                _connections.Add(socket);
            new Thread(() => Serve(socket)) { IsBackground = true }.Start();
        }
    }

    private void Serve(Socket socket)
    {
        try
        {
            using var stream = new NetworkStream(socket, ownsSocket: true);
            var init = Fields(ReadLine(stream), ' ');
            if (init["pmi_version"] == "2")
            {
                if (_supportsPmi2)
                {
                    WriteLine(stream, "cmd=response_to_init rc=0 pmi_version=2 pmi_subversion=0");
                    ServePmi2(stream);
                    return;
                }
                WriteLine(stream, "cmd=response_to_init rc=-1 pmi_version=1 pmi_subversion=1");
                init = Fields(ReadLine(stream), ' ');
            }
            if (init.GetValueOrDefault("pmi_version") != "1")
                throw new IOException("expected a PMI-1 init");
            WriteLine(stream, "cmd=response_to_init pmi_version=1 pmi_subversion=1 rc=0");
            ServePmi1(stream);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or SocketException or KeyNotFoundException or FormatException)
        {
            // The client sees the connection close: its test fails with the client's message.
        }
    }

    private void ServePmi1(Stream stream)
    {
        while (true)
        {
            var f = Fields(ReadLine(stream), ' ');
            switch (f["cmd"])
            {
                case "initack":
                    Interlocked.Increment(ref _nextInitackRank);
                    WriteLine(stream, "cmd=initack");
                    WriteLine(stream, $"cmd=set size={_size}");
                    WriteLine(stream, $"cmd=set rank={f["pmiid"]}");
                    WriteLine(stream, "cmd=set debug=0");
                    break;
                case "get_maxes":
                    WriteLine(stream, "cmd=maxes rc=0 kvsname_max=256 keylen_max=64 vallen_max=1024");
                    break;
                case "get_my_kvsname":
                    WriteLine(stream, "cmd=my_kvsname rc=0 kvsname=kvs_7_0");
                    break;
                case "put":
                    WriteLine(stream, f.GetValueOrDefault("kvsname") == "kvs_7_0" && Store(f["key"], f["value"]) ? "cmd=put_result rc=0" : "cmd=put_result rc=-1 msg=bad_value");
                    break;
                case "barrier_in":
                    Barrier();
                    WriteLine(stream, "cmd=barrier_out");
                    break;
                case "get":
                    string? value = Lookup(f["key"]);
                    WriteLine(stream, value is null ? "cmd=get_result rc=-1 msg=key_not_found" : $"cmd=get_result rc=0 value={value}");
                    break;
                case "finalize":
                    Interlocked.Increment(ref _finalized);
                    WriteLine(stream, "cmd=finalize_ack rc=0");
                    return;
                default:
                    WriteLine(stream, $"cmd={f["cmd"]}_result rc=-1");
                    break;
            }
        }
    }

    private void ServePmi2(Stream stream)
    {
        while (true)
        {
            byte[] header = new byte[6];
            stream.ReadExactly(header);
            byte[] body = new byte[int.Parse(Encoding.ASCII.GetString(header).Trim(), CultureInfo.InvariantCulture)];
            stream.ReadExactly(body);
            string text = Encoding.ASCII.GetString(body);
            lock (Requests)
                Requests.Add(text);
            var f = Fields(text, ';');
            switch (f["cmd"])
            {
                case "fullinit":
                    Send(stream, $"cmd=fullinit-response;rc=0;pmi-version=2;pmi-subversion=0;rank={f["pmirank"]};size={_size};appnum=-1;debugged=FALSE;pmiverbose=FALSE;");
                    break;
                case "kvs-put":
                    Send(stream, Store(f["key"], f["value"]) ? "cmd=kvs-put-response;rc=0;" : "cmd=kvs-put-response;rc=1;errmsg=bad value;");
                    break;
                case "kvs-fence":
                    Barrier();
                    Send(stream, "cmd=kvs-fence-response;rc=0;");
                    break;
                case "kvs-get":
                    string? value = Lookup(f["key"]);
                    Send(stream, value is null ? "cmd=kvs-get-response;rc=0;found=FALSE;" : $"cmd=kvs-get-response;rc=0;found=TRUE;value={value};");
                    break;
                case "finalize":
                    Interlocked.Increment(ref _finalized);
                    Send(stream, "cmd=finalize-response;rc=0;");
                    return;
                default:
                    Send(stream, $"cmd={f["cmd"]}-response;rc=1;");
                    break;
            }
        }
    }

    private bool Store(string key, string value)
    {
        if (value.Length > 1024 || key.Length > 64 || value.Contains(' ') || value.Contains(';'))
            return false;
        lock (_lock)
            _store[key] = value;
        return true;
    }

    private string? Lookup(string key)
    {
        lock (_lock)
            return _store.GetValueOrDefault(key);
    }

    private void Barrier()
    {
        lock (_lock)
        {
            int generation = _generation;
            if (++_arrived == _size)
            {
                _arrived = 0;
                _generation++;
                Monitor.PulseAll(_lock);
                return;
            }
            while (_generation == generation)
            {
                if (!Monitor.Wait(_lock, TimeSpan.FromSeconds(30)))
                    throw new IOException("barrier timed out");
            }
        }
    }

    private string ReadLine(Stream stream)
    {
        var line = new StringBuilder();
        int b;
        while ((b = stream.ReadByte()) != '\n')
        {
            if (b < 0)
                throw new IOException("client closed");
            line.Append((char)b);
        }
        lock (Requests)
            Requests.Add(line.ToString());
        return line.ToString();
    }

    private static void WriteLine(Stream stream, string line) => stream.Write(Encoding.ASCII.GetBytes(line + "\n"));

    private static void Send(Stream stream, string body) =>
        stream.Write(Encoding.ASCII.GetBytes(body.Length.ToString(CultureInfo.InvariantCulture).PadRight(6) + body));

    private static Dictionary<string, string> Fields(string text, char separator)
    {
        var fields = new Dictionary<string, string>();
        foreach (string token in text.Split(separator, StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = token.IndexOf('=');
            if (eq > 0)
                fields[token[..eq]] = token[(eq + 1)..];
        }
        return fields;
    }
}
