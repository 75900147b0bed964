using System.Net;
using System.Net.Sockets;
using SharpMpi.Bootstrap;

namespace SharpMpi.Run.Tests;

/// <summary>KvsServer and KvsClient in one process.</summary>
public sealed class KvsTests : IAsyncLifetime
{
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(30);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly string _secret = KvsProtocol.NewRandomHex();
    private readonly List<string> _rejections = [];
    private readonly List<KvsClient> _clients = [];
    private KvsServer _server = null!;

    private ValueTask StartServer(int size)
    {
        _server = new KvsServer(IPAddress.Loopback, size, _secret);
        _server.Rejected += line =>
        {
            lock (_rejections)
                _rejections.Add(line);
        };
        _server.Start();
        return ValueTask.CompletedTask;
    }

    public ValueTask InitializeAsync() => StartServer(3);

    public async ValueTask DisposeAsync()
    {
        foreach (KvsClient c in _clients)
            c.Dispose();
        await _server.DisposeAsync();
    }

    private KvsClient Connect(int rank, Action<KvsClient>? onLost = null)
    {
        KvsClient client = KvsClient.Connect(_server.Endpoint, _secret, rank,
            onLost ?? (_ => Assert.Fail($"rank {rank} reported the launcher lost")));
        _clients.Add(client);
        return client;
    }

    [Fact]
    public async Task PutFenceGet_ThreeRanks_EveryRankSeesEveryValue()
    {
        KvsClient[] clients = [Connect(0), Connect(1), Connect(2)];

        string[][] seen = await Task.WhenAll(clients.Select(c => Task.Run(() =>
        {
            c.Put($"addr-{c.Rank}", $"tcp://host:{5000 + c.Rank} with spaces\nand lines");
            c.Fence();
            return new[] { c.Get("addr-0"), c.Get("addr-1"), c.Get("addr-2") };
        }, Ct))).WaitAsync(s_limit, Ct);

        foreach (string[] values in seen)
            Assert.Equal([.. Enumerable.Range(0, 3).Select(r => $"tcp://host:{5000 + r} with spaces\nand lines")], values);
    }

    [Fact]
    public async Task Fence_NotAllRanksArrived_WaitsThenCompletesForAll()
    {
        KvsClient[] clients = [Connect(0), Connect(1), Connect(2)];
        Task first = Task.Run(clients[0].Fence, Ct);
        Task second = Task.Run(clients[1].Fence, Ct);
        await Task.Delay(200, Ct);
        Assert.False(first.IsCompleted || second.IsCompleted, "a fence completed before all ranks entered it");

        clients[2].Fence();
        await Task.WhenAll(first, second).WaitAsync(s_limit, Ct);

        // A second fence works the same way.
        await Task.WhenAll(clients.Select(c => Task.Run(c.Fence, Ct))).WaitAsync(s_limit, Ct);
    }

    [Fact]
    public async Task Get_KeyPutLater_WaitsForThePut()
    {
        KvsClient reader = Connect(0), writer = Connect(1);
        Task<string> get = Task.Run(() => reader.Get("late"), Ct);
        await Task.Delay(100, Ct);
        Assert.False(get.IsCompleted);

        writer.Put("late", "value");

        Assert.Equal("value", await get.WaitAsync(s_limit, Ct));
    }

    [Fact]
    public void Connect_WrongSecret_IsRejectedAndLoggedJobUnaffected()
    {
        Assert.Throws<IOException>(() => KvsClient.Connect(_server.Endpoint, KvsProtocol.NewRandomHex(), 0, _ => { }));

        lock (_rejections)
            Assert.Contains(_rejections, l => l.Contains("wrong secret"));
        KvsClient good = Connect(0);
        good.Put("k", "v");
        Assert.Equal("v", good.Get("k"));
    }

    [Fact]
    public void Connect_RankAlreadyConnectedOrOutOfRange_IsRejected()
    {
        Connect(1);

        Assert.Throws<IOException>(() => KvsClient.Connect(_server.Endpoint, _secret, 1, _ => { }));
        Assert.Throws<IOException>(() => KvsClient.Connect(_server.Endpoint, _secret, 3, _ => { }));
        lock (_rejections)
            Assert.Equal(2, _rejections.Count);
    }

    [Fact]
    public async Task Connect_StrangerSendsGarbage_ConnectionClosedServerKeepsServing()
    {
        using (var stranger = new TcpClient())
        {
            string[] parts = _server.Endpoint.Split(':');
            await stranger.ConnectAsync(parts[0], int.Parse(parts[1]), Ct);
            NetworkStream s = stranger.GetStream();
            await s.WriteAsync(new byte[] { 0xff, 0xff, 0xff, 0x7f, 1, 2, 3 }, Ct);
            byte[] buffer = new byte[4096];
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            limit.CancelAfter(s_limit);
            while (await s.ReadAsync(buffer, limit.Token) > 0)
            {
                // Drain the Hello until the server hangs up.
            }
        }

        KvsClient good = Connect(2);
        good.Put("still", "working");
        Assert.Equal("working", good.Get("still"));
    }

    [Fact]
    public async Task Abort_RaisesAbortedWithRankCodeAndMessage()
    {
        var aborted = new TaskCompletionSource<(int, int, string)>();
        _server.Aborted += (rank, code, message) => aborted.TrySetResult((rank, code, message));

        Connect(2).Abort(7, "bad input file");

        Assert.Equal((2, 7, "bad input file"), await aborted.Task.WaitAsync(s_limit, Ct));
    }

    [Fact]
    public async Task LauncherGone_WatcherReportsLossAndPendingGetFails()
    {
        var lost = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        KvsClient client = Connect(0, c => lost.TrySetResult(c.Rank));
        Task<string> get = Task.Run(() => client.Get("never"), Ct);
        await Task.Delay(100, Ct);

        await _server.DisposeAsync();

        Assert.Equal(0, await lost.Task.WaitAsync(s_limit, Ct));
        await Assert.ThrowsAsync<IOException>(() => get.WaitAsync(s_limit, Ct));
        await StartServer(3); // for DisposeAsync
    }

    [Fact]
    public async Task Goodbye_ThenLauncherCloses_NoLossReported()
    {
        KvsClient client = Connect(0);

        client.Goodbye();
        await _server.DisposeAsync();
        client.Dispose();   // joins the watcher: a loss would have called Assert.Fail by now

        await StartServer(3);
    }
}
