using System.Buffers.Binary;
using System.Numerics;

namespace SharpMpi.Bootstrap;

/// <summary>
/// HMAC-SHA256 (RFC 2104 over FIPS 180-4 SHA-256) in managed code, for the KVS handshake of every launched rank.
/// </summary>
/// <remarks>
/// On Linux, <c>System.Security.Cryptography.HMACSHA256</c> is OpenSSL: the first call loads libssl and libcrypto
/// (about 5 MB of mappings) and reads openssl.cnf, some 10 ms of each rank's start-up, for one MAC over a 32-byte
/// nonce. This computes the same bytes (checked against HMACSHA256 in the tests) without loading anything. It is
/// not a general-purpose primitive: the inputs are the job secret and a nonce, both short, and it is not on a hot path.
/// </remarks>
internal static class HmacSha256
{
    /// <summary>Bytes of a SHA-256 digest, and of the MAC.</summary>
    public const int HashSize = 32;

    private const int BlockSize = 64;

    private static ReadOnlySpan<uint> K =>
    [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];

    /// <summary>HMAC-SHA256 of <paramref name="data"/> keyed with <paramref name="key"/>.</summary>
    public static byte[] HashData(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data)
    {
        Span<byte> block = stackalloc byte[BlockSize];
        block.Clear();
        if (key.Length > BlockSize)
            Hash(key, [], block);
        else
            key.CopyTo(block);

        Span<byte> pad = stackalloc byte[BlockSize];
        for (int i = 0; i < BlockSize; i++)
            pad[i] = (byte)(block[i] ^ 0x36);
        Span<byte> inner = stackalloc byte[HashSize];
        Hash(pad, data, inner);

        for (int i = 0; i < BlockSize; i++)
            pad[i] = (byte)(block[i] ^ 0x5c);
        byte[] mac = new byte[HashSize];
        Hash(pad, inner, mac);
        return mac;
    }

    /// <summary>SHA-256 of <paramref name="first"/> followed by <paramref name="second"/>, into <paramref name="digest"/>.</summary>
    internal static void Hash(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, Span<byte> digest)
    {
        Span<uint> state = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
        Span<uint> w = stackalloc uint[64];
        Span<byte> block = stackalloc byte[BlockSize];
        long total = (long)first.Length + second.Length;
        int filled = 0;
        Absorb(first, state, block, w, ref filled);
        Absorb(second, state, block, w, ref filled);

        // Padding: 0x80, zeros, and the message length in bits (big-endian) in the last 8 bytes of a block.
        block[filled++] = 0x80;
        if (filled > BlockSize - 8)
        {
            block[filled..].Clear();
            Compress(state, block, w);
            filled = 0;
        }
        block[filled..(BlockSize - 8)].Clear();
        BinaryPrimitives.WriteInt64BigEndian(block[(BlockSize - 8)..], total * 8);
        Compress(state, block, w);

        for (int i = 0; i < 8; i++)
            BinaryPrimitives.WriteUInt32BigEndian(digest[(i * 4)..], state[i]);
    }

    private static void Absorb(ReadOnlySpan<byte> data, Span<uint> state, Span<byte> block, Span<uint> w, ref int filled)
    {
        while (!data.IsEmpty)
        {
            int n = Math.Min(BlockSize - filled, data.Length);
            data[..n].CopyTo(block[filled..]);
            data = data[n..];
            filled += n;
            if (filled == BlockSize)
            {
                Compress(state, block, w);
                filled = 0;
            }
        }
    }

    private static void Compress(Span<uint> state, ReadOnlySpan<byte> block, Span<uint> w)
    {
        for (int t = 0; t < 16; t++)
            w[t] = BinaryPrimitives.ReadUInt32BigEndian(block[(t * 4)..]);
        for (int t = 16; t < 64; t++)
        {
            uint s0 = BitOperations.RotateRight(w[t - 15], 7) ^ BitOperations.RotateRight(w[t - 15], 18) ^ (w[t - 15] >> 3);
            uint s1 = BitOperations.RotateRight(w[t - 2], 17) ^ BitOperations.RotateRight(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }

        uint a = state[0], b = state[1], c = state[2], d = state[3], e = state[4], f = state[5], g = state[6], h = state[7];
        var k = K;
        for (int t = 0; t < 64; t++)
        {
            uint t1 = h + (BitOperations.RotateRight(e, 6) ^ BitOperations.RotateRight(e, 11) ^ BitOperations.RotateRight(e, 25))
                + ((e & f) ^ (~e & g)) + k[t] + w[t];
            uint t2 = (BitOperations.RotateRight(a, 2) ^ BitOperations.RotateRight(a, 13) ^ BitOperations.RotateRight(a, 22))
                + ((a & b) ^ (a & c) ^ (b & c));
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        state[0] += a;
        state[1] += b;
        state[2] += c;
        state[3] += d;
        state[4] += e;
        state[5] += f;
        state[6] += g;
        state[7] += h;
    }
}
