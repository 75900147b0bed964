// The launcher's key-value store (KVS) wire protocol, shared by KvsClient (ranks) and KvsServer
// (sharpmpi run). One TCP connection per rank, kept open for the rank's whole life: its closing is how
// a rank learns that the launcher is gone.
//
// Framing (everything little-endian):
//   frame := length:int32  (bytes that follow, 1..MaxFrameLength)
//            op:byte
//            field*        field := length:int32, UTF-8 bytes
//
// Conversation:
//   server → client  Hello(magic, nonce-hex)            nonce: 32 random bytes, fresh per connection
//   client → server  Auth(rank, hmac-hex)               HMAC-SHA256(key = secret bytes, data = nonce bytes)
//   server → client  Ok()                               or the connection is closed (wrong MAC, bad or
//                                                        duplicate rank, timeout): no reason is given to
//                                                        a stranger; the launcher logs it under --verbose
//   then, strictly one request at a time, each answered by exactly one reply:
//   Put(key, value)      → Ok()
//   Get(key)             → Ok(value)                     waits until some rank has put the key
//   Fence()              → Ok()                          when every rank of the job has entered the fence;
//                                                        a Put answered before a rank's Fence is visible
//                                                        to every Get after the fence
//   Abort(code, message) → Ok()                          then the launcher terminates the whole job
//   Finalize()           → Ok()                          the rank leaves cleanly; EOF after it is expected
//   Blocked(state)       → Ok()                          the rank has been blocked in MPI for a while (state:
//                                                        Diagnostics/BlockedState.cs), or is not any more ("")
//   a request the server cannot serve → Error(message)
//
// Why not PMI's text lines: values here are arbitrary strings (addresses, base64 blobs) with spaces
// and newlines; length-prefixed fields need no escaping. A PMI-1/PMI-2 adapter for srun/Hydra is a
// separate bootstrap that can sit beside this one.

using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using SharpMpi.Interop;

namespace SharpMpi.Bootstrap;

/// <summary>Operation codes of a KVS frame.</summary>
internal enum KvsOp : byte
{
    Hello = 1,
    Auth = 2,
    Ok = 3,
    Error = 4,
    Put = 10,
    Get = 11,
    Fence = 12,
    Abort = 13,
    Finalize = 14,
    Blocked = 15,
}

/// <summary>One decoded KVS frame.</summary>
internal readonly record struct KvsFrame(KvsOp Op, string[] Fields)
{
    /// <summary>Field <paramref name="index"/>, or a protocol error when the frame is too short.</summary>
    public string Field(int index) =>
        index < Fields.Length ? Fields[index] : throw new InvalidDataException($"KVS {Op} frame has no field {index}");
}

/// <summary>Constants and framing of the KVS protocol (described at the top of this file).</summary>
internal static class KvsProtocol
{
    /// <summary>Sent in Hello so a client connected to the wrong port fails at once with a clear message.</summary>
    public const string Magic = "SHARPMPI-KVS/1";

    /// <summary>Bytes of the per-job secret and of each connection nonce.</summary>
    public const int SecretBytes = 32;

    /// <summary>Upper bound on one frame, so a stranger cannot make the launcher allocate gigabytes.</summary>
    public const int MaxFrameLength = 16 << 20;

    /// <summary>Splits <c>host:port</c> (<c>[v6]:port</c> too); false when it is not of that form.</summary>
    public static bool TryParseEndpoint(string endpoint, out string host, out int port)
    {
        int colon = endpoint.LastIndexOf(':');
        host = colon > 0 ? endpoint[..colon].Trim('[', ']') : "";
        port = 0;
        return colon > 0
            && int.TryParse(endpoint.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port)
            && port is > 0 and <= 65535;
    }

    /// <summary>A fresh random secret, nonce or job id of <paramref name="bytes"/> bytes, as lower-case hex.</summary>
    /// <remarks>
    /// From the kernel (getrandom) rather than RandomNumberGenerator, which is OpenSSL on Linux: its first call loads
    /// libssl and libcrypto (about 10 ms), in the launcher and in rank 0, before any rank can start.
    /// </remarks>
    public static string NewRandomHex(int bytes = SecretBytes)
    {
        Span<byte> random = stackalloc byte[bytes];
        if (!LinuxNative.TryGetRandom(random))
            RandomNumberGenerator.Fill(random);
        return Convert.ToHexStringLower(random);
    }

    /// <summary>The answer to a Hello: HMAC-SHA256 of the nonce keyed with the job secret, lower-case hex.</summary>
    /// <remarks>Managed HMAC, not OpenSSL's: every rank computes one at start-up (see <see cref="HmacSha256"/>).</remarks>
    public static string ComputeMac(string secretHex, string nonceHex) =>
        Convert.ToHexStringLower(HmacSha256.HashData(Convert.FromHexString(secretHex), Convert.FromHexString(nonceHex)));

    /// <summary>Checks a client's answer in constant time; malformed hex is simply a wrong answer.</summary>
    public static bool VerifyMac(string secretHex, string nonceHex, string macHex)
    {
        byte[] given;
        try
        {
            given = Convert.FromHexString(macHex);
        }
        catch (FormatException)
        {
            return false;
        }
        byte[] expected = HmacSha256.HashData(Convert.FromHexString(secretHex), Convert.FromHexString(nonceHex));
        return CryptographicOperations.FixedTimeEquals(given, expected);
    }

    /// <summary>Encodes and writes one frame with a single write call.</summary>
    public static void WriteFrame(Stream stream, KvsOp op, params ReadOnlySpan<string> fields)
    {
        byte[] frame = Encode(op, fields);
        stream.Write(frame);
        stream.Flush();
    }

    /// <inheritdoc cref="WriteFrame"/>
    public static async ValueTask WriteFrameAsync(Stream stream, KvsOp op, string[] fields, CancellationToken cancellationToken)
    {
        byte[] frame = Encode(op, fields);
        await stream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads one frame; null at a clean end of stream before the frame started.</summary>
    public static KvsFrame? ReadFrame(Stream stream)
    {
        Span<byte> prefix = stackalloc byte[4];
        if (stream.ReadAtLeast(prefix, 4, throwOnEndOfStream: false) < 4)
            return null;
        byte[] body = new byte[CheckLength(BinaryPrimitives.ReadInt32LittleEndian(prefix))];
        stream.ReadExactly(body);
        return Decode(body);
    }

    /// <inheritdoc cref="ReadFrame"/>
    public static async ValueTask<KvsFrame?> ReadFrameAsync(Stream stream, CancellationToken cancellationToken)
    {
        byte[] prefix = new byte[4];
        if (await stream.ReadAtLeastAsync(prefix, 4, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false) < 4)
            return null;
        byte[] body = new byte[CheckLength(BinaryPrimitives.ReadInt32LittleEndian(prefix))];
        await stream.ReadExactlyAsync(body, cancellationToken).ConfigureAwait(false);
        return Decode(body);
    }

    private static int CheckLength(int length) =>
        length is >= 1 and <= MaxFrameLength ? length : throw new InvalidDataException($"KVS frame length {length} is out of range");

    private static byte[] Encode(KvsOp op, ReadOnlySpan<string> fields)
    {
        int length = 1;
        foreach (string f in fields)
            length += 4 + Encoding.UTF8.GetByteCount(f);
        if (length > MaxFrameLength)
            throw new ArgumentException($"KVS frame of {length} bytes exceeds the {MaxFrameLength}-byte limit", nameof(fields));

        byte[] frame = new byte[4 + length];
        BinaryPrimitives.WriteInt32LittleEndian(frame, length);
        frame[4] = (byte)op;
        int at = 5;
        foreach (string f in fields)
        {
            int n = Encoding.UTF8.GetBytes(f, frame.AsSpan(at + 4));
            BinaryPrimitives.WriteInt32LittleEndian(frame.AsSpan(at), n);
            at += 4 + n;
        }
        return frame;
    }

    private static KvsFrame Decode(byte[] body)
    {
        var fields = new List<string>();
        int at = 1;
        while (at < body.Length)
        {
            if (body.Length - at < 4)
                throw new InvalidDataException("truncated KVS field length");
            int n = BinaryPrimitives.ReadInt32LittleEndian(body.AsSpan(at));
            at += 4;
            if (n < 0 || n > body.Length - at)
                throw new InvalidDataException($"KVS field length {n} is out of range");
            fields.Add(Encoding.UTF8.GetString(body, at, n));
            at += n;
        }
        return new KvsFrame((KvsOp)body[0], [.. fields]);
    }
}
