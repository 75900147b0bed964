using System.Runtime.ExceptionServices;
using SharpMpi.Bootstrap;
using SharpMpi.Engine;
using SharpMpi.Transport.InProcess;

namespace SharpMpi;

/// <summary>Options of <see cref="MpiTestHost"/>.</summary>
public sealed record MpiTestHostOptions
{
    /// <summary>The whole job fails with <see cref="TimeoutException"/> after this long (default 60 s).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Messages up to this many bytes are sent eagerly (default 16 KiB).</summary>
    public int EagerLimit { get; init; } = 16 * 1024;

    /// <summary>Chunk size of streamed large messages (default 64 KiB).</summary>
    public int MaxFramePayload { get; init; } = 64 * 1024;

    /// <summary>Large messages are copied straight from the sender's buffer (default); false streams them in chunks.</summary>
    public bool SingleCopy { get; init; } = true;
}

/// <summary>
/// Runs N ranks as threads of the current process over an in-memory transport, with the same API as a
/// launched job: for unit tests, debugging and notebooks. If a rank throws, every other rank's pending and
/// future MPI calls fail with <see cref="MpiAbortedException"/> and the rank's exception is rethrown here.
/// </summary>
/// <remarks>
/// With <c>SHARPMPI_TRANSPORT=tcp</c> in the environment the ranks talk over the TCP transport on 127.0.0.1
/// instead (one listener and poller per rank, as in a launched job), so a test suite written against
/// <see cref="MpiTestHost"/> also runs over TCP unchanged.
/// </remarks>
public static class MpiTestHost
{
    /// <summary>Runs <paramref name="main"/> on <paramref name="ranks"/> ranks and waits for all of them.</summary>
    public static Task RunAsync(int ranks, Func<Communicator, Task> main, MpiTestHostOptions? options = null) =>
        RunAsync<object?>(ranks, async c =>
        {
            await main(c).ConfigureAwait(false);
            return null;
        }, options);

    /// <summary>Runs a synchronous <paramref name="main"/> on <paramref name="ranks"/> ranks.</summary>
    public static Task RunAsync(int ranks, Action<Communicator> main, MpiTestHostOptions? options = null) =>
        RunAsync<object?>(ranks, c =>
        {
            main(c);
            return Task.FromResult<object?>(null);
        }, options);

    /// <summary>Runs <paramref name="main"/> on every rank and returns each rank's result, indexed by rank.</summary>
    public static async Task<T[]> RunAsync<T>(int ranks, Func<Communicator, Task<T>> main, MpiTestHostOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ranks, 1);
        ArgumentNullException.ThrowIfNull(main);
        options ??= new MpiTestHostOptions();
        EnsureThreadPool(ranks);

        var hub = new InProcessHub(ranks, new InProcessOptions
        {
            EagerLimit = options.EagerLimit,
            MaxFramePayload = options.MaxFramePayload,
            SingleCopy = options.SingleCopy,
        });
        var control = new TestHostJobControl();
        var environments = new MpiEnvironment[ranks];
        var policy = WaitPolicy.ForThreadRanks(ranks);
        ProgressEngine[]? overTcp = ranks > 1 && TransportChoice.ForceTcp(System.Environment.GetEnvironmentVariable(TransportChoice.Variable))
            ? await TestHostTcp.CreateEnginesAsync(ranks, policy).ConfigureAwait(false)
            : null;
        for (int r = 0; r < ranks; r++)
        {
            ProgressEngine engine;
            if (overTcp is not null)
            {
                engine = overTcp[r];
            }
            else
            {
                var transport = hub.CreateTransport(r);
                var routes = new Transport.ITransport[ranks];
                Array.Fill(routes, transport);
                engine = new ProgressEngine(r, routes, transport.Doorbell, policy);
            }
            environments[r] = new MpiEnvironment(engine, r, ranks, System.Environment.MachineName, control);
        }
        control.Environments = environments;

        var results = new T[ranks];
        var done = new Task[ranks];
        for (int r = 0; r < ranks; r++)
        {
            int rank = r;
            var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            done[r] = tcs.Task;
            var thread = new Thread(() =>
            {
                try
                {
                    results[rank] = main(environments[rank].World).GetAwaiter().GetResult();
                    environments[rank].Dispose();
                    tcs.SetResult();
                }
                catch (Exception e)
                {
                    control.RankFailed(rank, e);
                    tcs.SetException(e);
                }
            })
            { IsBackground = true, Name = $"sharpmpi-rank-{r}" };
            thread.Start();
        }

        var all = Task.WhenAll(done);
        try
        {
            await all.WaitAsync(options.Timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            var timeout = new TimeoutException($"MpiTestHost: {ranks} ranks did not finish within {options.Timeout.TotalSeconds:0.#} s.");
            control.AbortAll(timeout);
            await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
            throw timeout;
        }
        catch
        {
            // a rank failed: reported below with its own exception
        }
        finally
        {
            foreach (var env in environments)
            {
                if (!env.IsFinalized)
                    env.Dispose();
            }
        }
        if (control.FirstFailure is { } failure)
            ExceptionDispatchInfo.Capture(failure).Throw();
        return results;
    }

    private static void EnsureThreadPool(int ranks)
    {
        // Ranks block in MPI calls after awaits, on pool threads: make sure the pool can run them all.
        ThreadPool.GetMinThreads(out int workers, out int io);
        int wanted = ranks * 2 + 4;
        if (workers < wanted)
            ThreadPool.SetMinThreads(wanted, io);
    }

    private sealed class TestHostJobControl : IJobControl
    {
        private Exception? _firstFailure;

        public MpiEnvironment[] Environments { get; set; } = [];

        public Exception? FirstFailure => Volatile.Read(ref _firstFailure);

        public void RankFailed(int rank, Exception e)
        {
            // Failures caused by the abort itself are consequences, not causes.
            if (e is MpiAbortedException && FirstFailure is not null)
                return;
            if (Interlocked.CompareExchange(ref _firstFailure, e, null) == null)
                AbortAll(new MpiAbortedException($"rank {rank} failed: {e.GetType().Name}: {e.Message}", e));
        }

        public void AbortAll(Exception reason)
        {
            foreach (var env in Environments)
                env.Engine.Abort(reason);
        }

        public void Abort(int rank, int exitCode, string message)
        {
            var e = new MpiAbortedException($"rank {rank} aborted with code {exitCode}: {message}");
            Interlocked.CompareExchange(ref _firstFailure, e, null);
            AbortAll(e);
            throw e;
        }

        public void Fence()
        {
        }

        public void Finalized()
        {
        }

        public void Dispose()
        {
        }
    }
}
