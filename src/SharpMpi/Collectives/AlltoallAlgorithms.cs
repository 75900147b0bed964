namespace SharpMpi.Collectives;

/// <summary>
/// Alltoall(v/w). Bruck (⌈lg p⌉α + (n/2)lg p β; tiny blocks, many ranks), scattered (all receives and sends
/// in flight, throttled, destinations rotated per rank) and pairwise exchange ((p−1)α + nβ; XOR partners for
/// powers of two). Alltoallv/w use scattered or pairwise.
/// </summary>
internal static class AlltoallAlgorithms
{
    /// <summary>Equal blocks of <paramref name="blockBytes"/>.</summary>
    public static ValueTask Alltoall(CollectiveCall c, Buf send, Buf receive, long blockBytes)
    {
        if (blockBytes == 0)
            return default;
        var layout = Blocks.Regular(c.Size, blockBytes);
        if (c.Size == 1)
        {
            send.Slice(0, blockBytes).CopyTo(receive);
            return default;
        }
        var t = c.Tuning;
        var algorithm = t.Alltoall;
        if (algorithm == AlltoallAlgorithm.Auto)
        {
            algorithm = blockBytes <= t.AlltoallShortBytes && c.Size >= t.AlltoallBruckMinRanks ? AlltoallAlgorithm.Bruck
                : blockBytes <= t.AlltoallMediumBytes ? AlltoallAlgorithm.Scattered
                : AlltoallAlgorithm.Pairwise;
        }
        return algorithm switch
        {
            AlltoallAlgorithm.Bruck => Bruck(c, send, receive, blockBytes),
            AlltoallAlgorithm.Pairwise => Pairwise(c, send, layout, receive, layout),
            _ => Scattered(c, send, layout, receive, layout),
        };
    }

    /// <summary>Per-peer blocks given by two layouts (alltoallv, alltoallw).</summary>
    public static ValueTask Alltoallv(CollectiveCall c, Buf send, Blocks sendLayout, Buf receive, Blocks receiveLayout)
    {
        if (c.Size == 1)
        {
            sendLayout.Of(send, 0).CopyTo(receiveLayout.Of(receive, 0));
            return default;
        }
        return c.Tuning.Alltoall == AlltoallAlgorithm.Pairwise
            ? Pairwise(c, send, sendLayout, receive, receiveLayout)
            : Scattered(c, send, sendLayout, receive, receiveLayout);
    }

    public static async ValueTask Bruck(CollectiveCall c, Buf send, Buf receive, long blockBytes)
    {
        int p = c.Size, r = c.Rank;
        using var rotated = TempBuffer.Rent(p * blockBytes);
        using var packOut = TempBuffer.Rent((p + 1) / 2 * blockBytes);
        using var packIn = TempBuffer.Rent((p + 1) / 2 * blockBytes);
        var tb = rotated.Buf;
        // Entry i holds the block for rank r + i.
        for (int i = 0; i < p; i++)
            send.Slice((r + i) % p * blockBytes, blockBytes).CopyTo(tb.Slice(i * blockBytes, blockBytes));
        for (int bit = 1; bit < p; bit <<= 1)
        {
            // Entries with this bit set move bit ranks on; after all bits entry i has moved i ranks.
            int n = 0;
            for (int i = bit; i < p; i++)
            {
                if ((i & bit) != 0)
                    tb.Slice(i * blockBytes, blockBytes).CopyTo(packOut.Buf.Slice(n++ * blockBytes, blockBytes));
            }
            await c.SendReceive(packOut.Buf.Slice(0, n * blockBytes), (r + bit) % p,
                packIn.Buf.Slice(0, n * blockBytes), (r - bit + p) % p, 0).ConfigureAwait(false);
            n = 0;
            for (int i = bit; i < p; i++)
            {
                if ((i & bit) != 0)
                    packIn.Buf.Slice(n++ * blockBytes, blockBytes).CopyTo(tb.Slice(i * blockBytes, blockBytes));
            }
        }
        // Entry i now came from rank r − i.
        for (int i = 0; i < p; i++)
            tb.Slice(i * blockBytes, blockBytes).CopyTo(receive.Slice((r - i + p) % p * blockBytes, blockBytes));
    }

    public static async ValueTask Scattered(CollectiveCall c, Buf send, Blocks sendLayout, Buf receive, Blocks receiveLayout)
    {
        int p = c.Size, r = c.Rank;
        int throttle = Math.Max(1, c.Tuning.AlltoallThrottle);
        sendLayout.Of(send, r).CopyTo(receiveLayout.Of(receive, r));
        var batch = CollectiveCall.RentBatch(2 * Math.Min(throttle, p));
        try
        {
            for (int first = 1; first < p; first += throttle)
            {
                int count = Math.Min(throttle, p - first);
                int n = 0;
                for (int i = 0; i < count; i++)
                {
                    int source = (r + first + i) % p;
                    var block = receiveLayout.Of(receive, source);
                    if (!block.IsEmpty)
                        batch[n++] = c.StartReceive(block, source, 0);
                }
                for (int i = 0; i < count; i++)
                {
                    int dest = (r - first - i + 2 * p) % p;
                    var block = sendLayout.Of(send, dest);
                    if (!block.IsEmpty)
                        batch[n++] = c.StartSend(block, dest, 0);
                }
                await c.WaitAll(batch, n).ConfigureAwait(false);
            }
        }
        finally
        {
            CollectiveCall.ReturnBatch(batch);
        }
    }

    public static async ValueTask Pairwise(CollectiveCall c, Buf send, Blocks sendLayout, Buf receive, Blocks receiveLayout)
    {
        int p = c.Size, r = c.Rank;
        bool pow2 = CollectiveCall.IsPowerOfTwo(p);
        sendLayout.Of(send, r).CopyTo(receiveLayout.Of(receive, r));
        for (int i = 1; i < p; i++)
        {
            int dest = pow2 ? r ^ i : (r + i) % p;
            int source = pow2 ? r ^ i : (r - i + p) % p;
            await c.Exchange(sendLayout.Of(send, dest), dest, receiveLayout.Of(receive, source), source, 0).ConfigureAwait(false);
        }
    }
}
