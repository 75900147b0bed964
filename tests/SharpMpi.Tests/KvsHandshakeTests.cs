using System.Security.Cryptography;
using SharpMpi.Bootstrap;

namespace SharpMpi.Tests;

/// <summary>
/// The KVS handshake's crypto without OpenSSL: the managed HMAC-SHA256 gives the bytes the platform's does, and
/// secrets and nonces come from the kernel.
/// </summary>
public class KvsHandshakeTests
{
    [Fact]
    public void HashData_Rfc4231TestCase2_MatchesPublishedMac()
    {
        byte[] mac = HmacSha256.HashData("Jefe"u8, "what do ya want for nothing?"u8);
        Assert.Equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", Convert.ToHexStringLower(mac));
    }

    [Theory]
    [InlineData(32, 32)]      // the KVS case: a 32-byte secret and a 32-byte nonce
    [InlineData(0, 0)]
    [InlineData(1, 55)]       // 55, 56, 63, 64, 65: the padding needs one block or two
    [InlineData(64, 56)]      // a key of exactly one block is used as it is
    [InlineData(65, 63)]      // a longer key is hashed first
    [InlineData(200, 64)]
    [InlineData(16, 65)]
    [InlineData(32, 1000)]
    public void HashData_AnyLengths_MatchesPlatformHmac(int keyLength, int dataLength)
    {
        var random = new Random(keyLength * 7919 + dataLength);
        byte[] key = new byte[keyLength], data = new byte[dataLength];
        random.NextBytes(key);
        random.NextBytes(data);
        Assert.Equal(HMACSHA256.HashData(key, data), HmacSha256.HashData(key, data));
    }

    [Fact]
    public void ComputeMac_IsVerifiedByVerifyMac_AndWrongSecretIsNot()
    {
        string secret = KvsProtocol.NewRandomHex(), nonce = KvsProtocol.NewRandomHex();
        string mac = KvsProtocol.ComputeMac(secret, nonce);
        Assert.Equal(Convert.ToHexStringLower(HMACSHA256.HashData(Convert.FromHexString(secret), Convert.FromHexString(nonce))), mac);
        Assert.True(KvsProtocol.VerifyMac(secret, nonce, mac));
        Assert.False(KvsProtocol.VerifyMac(KvsProtocol.NewRandomHex(), nonce, mac));
        Assert.False(KvsProtocol.VerifyMac(secret, nonce, "not hex"));
    }

    [Fact]
    public void NewRandomHex_GivesFreshLowerCaseHexOfTheLength()
    {
        string a = KvsProtocol.NewRandomHex(), b = KvsProtocol.NewRandomHex(), id = KvsProtocol.NewRandomHex(6);
        Assert.Equal(2 * KvsProtocol.SecretBytes, a.Length);
        Assert.Equal(12, id.Length);
        Assert.Matches("^[0-9a-f]+$", a + id);
        Assert.NotEqual(a, b);
    }
}
