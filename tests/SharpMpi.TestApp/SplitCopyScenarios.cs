using SharpMpi;

/// <summary>
/// Large messages between processes, where the shared-memory transport splits each copy between receiver and
/// sender: both directions at once, a window of messages in flight, and a sender that is busy elsewhere.
/// </summary>
internal static class SplitCopyScenarios
{
    private static readonly int[] s_sizes = [512 * 1024, (1 << 20) + 4093, (3 << 20) + 1, 9 << 20];

    public static void Run(Communicator world)
    {
        int peer = world.Rank ^ 1;
        if (peer < world.Size)
        {
            Exchange(world, peer);
            Window(world, peer);
            BusySender(world, peer);
        }
        world.Barrier();
    }

    private static byte Pattern(long i, int seed) => (byte)((i * 167 + seed * 13 + (i >> 12)) & 0xFF);

    private static byte[] Make(int length, int seed)
    {
        var data = GC.AllocateUninitializedArray<byte>(length);
        for (int i = 0; i < length; i++)
            data[i] = Pattern(i, seed);
        return data;
    }

    private static void Verify(byte[] data, int length, int seed, string what)
    {
        for (int i = 0; i < length; i++)
        {
            if (data[i] != Pattern(i, seed))
                throw new InvalidOperationException($"{what}: byte {i} of {length} is wrong");
        }
    }

    /// <summary>Both ranks send and receive at once: each is the receiver of one split copy and the sender of the other.</summary>
    private static void Exchange(Communicator world, int peer)
    {
        foreach (int size in s_sizes)
        {
            var send = Make(size, world.Rank + size);
            var receive = new byte[size];
            for (int round = 0; round < 3; round++)
            {
                var status = world.SendReceive(send, peer, 10, receive, peer, 10);
                if (status.ByteCount != size)
                    throw new InvalidOperationException($"exchange of {size} bytes received {status.ByteCount}");
                Verify(receive, size, peer + size, $"exchange of {size} bytes");
            }
        }
    }

    /// <summary>Sixteen messages in flight from the lower rank of the pair, each with its own pattern.</summary>
    private static void Window(Communicator world, int peer)
    {
        const int Count = 16, Size = (1 << 20) + 77;
        var requests = new Request[Count];
        var buffers = new byte[Count][];
        for (int k = 0; k < Count; k++)
        {
            buffers[k] = world.Rank < peer ? Make(Size, k) : new byte[Size];
            requests[k] = world.Rank < peer ? world.ISend(buffers[k], peer, 20 + k) : world.IReceive(buffers[k], peer, 20 + k);
        }
        Request.WaitAll(requests);
        if (world.Rank > peer)
        {
            for (int k = 0; k < Count; k++)
                Verify(buffers[k], Size, k, $"window message {k}");
        }
    }

    /// <summary>The sender computes while the receiver copies: the receiver must not wait for it.</summary>
    private static void BusySender(Communicator world, int peer)
    {
        const int Size = 4 << 20;
        if (world.Rank < peer)
        {
            var data = Make(Size, 99);
            var request = world.ISend(data, peer, 30);
            Thread.Sleep(200); // no progress on this rank meanwhile
            request.Wait();
        }
        else
        {
            var buffer = new byte[Size];
            world.Receive(buffer, peer, 30);
            Verify(buffer, Size, 99, "message from a busy sender");
        }
    }
}
