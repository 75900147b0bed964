using SharpMpi.Engine;

namespace SharpMpi;

// Point-to-point on the communicator's collective context, for collective algorithms: user traffic (even
// AnyTag receives) can never match these messages, and no argument checks are repeated.
public partial class Communicator
{
    internal unsafe void SendInternal(ReadOnlySpan<byte> data, int dest, int tag)
    {
        fixed (byte* p = data)
        {
            if (!Engine.TrySendEagerNow(CollectiveContext, Rank, tag, WorldRankOf(dest), p, data.Length))
                Engine.WaitAndRelease(Engine.StartSend(CollectiveContext, Rank, tag, WorldRankOf(dest), p, data.Length, SendMode.Standard));
        }
    }

    internal unsafe Status ReceiveInternal(Span<byte> buffer, int source, int tag)
    {
        fixed (byte* p = buffer)
            return Engine.WaitAndRelease(Engine.StartReceive(CollectiveContext, source, tag, p, buffer.Length));
    }

    /// <summary>Sends to <paramref name="dest"/> and receives from <paramref name="source"/> concurrently.</summary>
    internal unsafe void SendReceiveInternal(ReadOnlySpan<byte> send, int dest, Span<byte> receive, int source, int tag)
    {
        fixed (byte* sp = send)
        fixed (byte* rp = receive)
        {
            var r = Engine.StartReceive(CollectiveContext, source, tag, rp, receive.Length);
            var s = Engine.StartSend(CollectiveContext, Rank, tag, WorldRankOf(dest), sp, send.Length, SendMode.Standard);
            try
            {
                Engine.WaitAndRelease(r);
            }
            finally
            {
                Engine.WaitAndRelease(s);
            }
        }
    }
}
