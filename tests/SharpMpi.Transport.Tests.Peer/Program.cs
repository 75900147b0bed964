using System.Runtime.InteropServices;
using SharpMpi.Engine;
using SharpMpi.Transport;
using SharpMpi.Transport.SharedMemory;
using SharpMpi.Transport.Tests.Peer;

// Rank 1 of a two-rank shared-memory job; rank 0 is the test process.
// Usage: Peer <jobId> <fenceDirectory> echo|spin|hang
//   echo: returns every Eager frame unchanged; answers an Rts by pulling MessageLength bytes at Address
//         from rank 0 and sending an Ack whose Cookie is their FNV-1a hash; exits 0 on Goodbye.
//         Sleeps on its doorbell whenever a poll finds nothing.
//   spin: like echo, but never sleeps (latency measurement).
//   hang: sets up, then waits to be killed.
if (args.Length != 3)
{
    Console.Error.WriteLine("usage: Peer <jobId> <fenceDirectory> echo|spin|hang");
    return 2;
}

var fence = new FileFence(args[1], 1, [0, 1], TimeSpan.FromSeconds(30));
using SharedMemoryTransport transport = SharedMemoryTransport.Create(SharedMemoryOptions.FromEnvironment(), args[0], 1, [0, 1], fence.Wait);
if (args[2] == "hang")
{
    Thread.Sleep(Timeout.Infinite);
    return 0;
}

var echo = new EchoSink(transport);
bool sleepWhenIdle = args[2] == "echo";
while (!echo.Done)
{
    if (transport.Poll(echo) > 0 || !sleepWhenIdle)
        continue;
    // Sleep on the doorbell once idle, so rank 0's sends exercise the cross-process futex wake.
    transport.Doorbell.Sleep(static t => t.HasPendingInput, transport, 1_000_000);
}

return 0;

internal sealed class EchoSink(SharedMemoryTransport transport) : IFrameSink
{
    public bool Done { get; private set; }

    public unsafe void OnFrame(int peer, in FrameHeader header, ReadOnlySpan<byte> payload)
    {
        switch (header.Kind)
        {
            case FrameKind.Eager:
                while (!transport.TrySend(peer, header, payload))
                {
                }

                break;
            case FrameKind.Rts:
                byte* buffer = (byte*)NativeMemory.Alloc((nuint)header.MessageLength);
                try
                {
                    transport.Pull(peer, header.Address, buffer, header.MessageLength);
                    ulong hash = 14695981039346656037;
                    for (long i = 0; i < header.MessageLength; i++)
                        hash = (hash ^ buffer[i]) * 1099511628211;
                    var ack = new FrameHeader { Kind = FrameKind.Ack, Cookie = (long)hash, Tag = transport.CanPull(peer) ? 1 : 0 };
                    while (!transport.TrySend(peer, ack, []))
                    {
                    }
                }
                finally
                {
                    NativeMemory.Free(buffer);
                }

                break;
            case FrameKind.Goodbye:
                Done = true;
                break;
            default:
                throw new InvalidDataException($"unexpected frame {header}");
        }
    }
}
