namespace SharpMpi.Collectives;

/// <summary>
/// Inclusive and exclusive scan. Recursive doubling (⌈lg p⌉(α + nβ + 2nγ), any p, keeps rank order so it is
/// right for non-commutative operators) or a linear chain ((p−1)(α + nβ + nγ), fewer operator applications).
/// </summary>
internal static class ScanAlgorithms
{
    /// <summary><paramref name="send"/> may be <paramref name="receive"/>. Exclusive: rank 0's receive buffer is left as it is.</summary>
    public static ValueTask Run(CollectiveCall c, Buf send, Buf receive, Reducer op, bool exclusive)
    {
        if (send.IsEmpty)
            return default;
        receive = receive.Slice(0, send.Length);
        if (c.Size == 1)
        {
            if (!exclusive)
                send.CopyTo(receive);
            return default;
        }
        return c.Tuning.Scan == ScanAlgorithm.Linear
            ? Linear(c, send, receive, op, exclusive)
            : RecursiveDoubling(c, send, receive, op, exclusive);
    }

    public static async ValueTask RecursiveDoubling(CollectiveCall c, Buf send, Buf receive, Reducer op, bool exclusive)
    {
        int p = c.Size, r = c.Rank;
        // partial: reduction over the aligned group of ranks seen so far; receive: over those ranks ≤ r (< r).
        using var partialTemp = TempBuffer.Rent(send.Length);
        using var incomingTemp = TempBuffer.Rent(send.Length);
        var partial = partialTemp.Buf;
        var incoming = incomingTemp.Buf;
        send.CopyTo(partial);
        bool haveResult = !exclusive;
        if (!exclusive)
            send.CopyTo(receive);
        for (int mask = 1; mask < p; mask <<= 1)
        {
            int partner = r ^ mask;
            if (partner >= p)
                continue;
            await c.SendReceive(partial, partner, incoming, partner, 0).ConfigureAwait(false);
            if (partner < r)
            {
                op.Apply(incoming, partial, partial);
                if (haveResult)
                {
                    op.Apply(incoming, receive, receive);
                }
                else
                {
                    incoming.CopyTo(receive);
                    haveResult = true;
                }
            }
            else
            {
                op.Apply(partial, incoming, partial);
            }
        }
    }

    public static async ValueTask Linear(CollectiveCall c, Buf send, Buf receive, Reducer op, bool exclusive)
    {
        int p = c.Size, r = c.Rank;
        if (!exclusive)
        {
            if (r == 0)
                send.CopyTo(receive);
            else
            {
                using var prefix = TempBuffer.Rent(send.Length);
                await c.Receive(prefix.Buf, r - 1, 0).ConfigureAwait(false);
                op.Apply(prefix.Buf, send, receive);
            }
            if (r < p - 1)
                await c.Send(receive, r + 1, 0).ConfigureAwait(false);
            return;
        }
        if (r == 0)
        {
            await c.Send(send, 1, 0).ConfigureAwait(false);
            return;
        }
        using var before = TempBuffer.Rent(send.Length);
        await c.Receive(before.Buf, r - 1, 0).ConfigureAwait(false);
        if (r < p - 1)
        {
            using var through = TempBuffer.Rent(send.Length);
            op.Apply(before.Buf, send, through.Buf);
            await c.Send(through.Buf, r + 1, 0).ConfigureAwait(false);
        }
        before.Buf.CopyTo(receive);
    }
}
