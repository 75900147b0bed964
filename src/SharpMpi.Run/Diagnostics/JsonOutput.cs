using System.Runtime.CompilerServices;

namespace SharpMpi.Run.Diagnostics;

/// <summary>
/// A UTF-8 output buffer for writing large JSON of a fixed shape fast: literal fragments (property names,
/// punctuation) are copied as bytes, strings are written pre-encoded, numbers formatted in place. Nothing is
/// validated, escaped or allocated per value; the caller is responsible for well-formed output.
/// </summary>
/// <remarks>
/// A merged trace is hundreds of thousands of events of one shape; this writes the same bytes
/// <see cref="System.Text.Json.Utf8JsonWriter"/> (compact, default encoder) would for them, at a fraction of
/// the cost per value, which is what keeps <c>--trace</c> cheap.
/// </remarks>
/// <param name="stream">Where full buffers go; null to keep everything in a buffer that grows (see <see cref="Written"/>).</param>
/// <param name="bufferSize">Initial buffer size in bytes.</param>
internal sealed class JsonOutput(Stream? stream, int bufferSize = 1 << 20)
{
    private byte[] _buffer = new byte[bufferSize];
    private int _position;

    /// <summary>Appends bytes as they are (JSON punctuation, names, or an already encoded string with its quotes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Raw(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > _buffer.Length - _position)
            MakeRoom(bytes.Length);
        bytes.CopyTo(_buffer.AsSpan(_position));
        _position += bytes.Length;
    }

    /// <summary>Appends an integer in JSON's (invariant) form.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Number(long value)
    {
        if (_buffer.Length - _position < 20)
            MakeRoom(20);
        if ((ulong)value < 10)
        {
            _buffer[_position++] = (byte)('0' + value);
            return;
        }
        if (value < 0)
            _buffer[_position++] = (byte)'-';
        Digits(value < 0 ? 0 - (ulong)value : (ulong)value);
    }

    /// <summary>
    /// Appends <paramref name="nanoseconds"/> as microseconds with three decimals, from integers: the text a
    /// double would give for these values, at a fraction of the cost of formatting one.
    /// </summary>
    public void Microseconds(long nanoseconds)
    {
        if (_buffer.Length - _position < 26)
            MakeRoom(26);
        if (nanoseconds < 0)
            _buffer[_position++] = (byte)'-';
        ulong magnitude = nanoseconds < 0 ? 0 - (ulong)nanoseconds : (ulong)nanoseconds;
        ulong whole = magnitude / 1000;
        int fraction = (int)(magnitude - whole * 1000);
        Digits(whole);
        var text = _buffer.AsSpan(_position, 4);
        text[0] = (byte)'.';
        text[1] = (byte)('0' + fraction / 100);
        text[2] = (byte)('0' + fraction / 10 % 10);
        text[3] = (byte)('0' + fraction % 10);
        _position += 4;
    }

    // Two digits at a time from the end, into room the caller made: Utf8Formatter's general path (format
    // parsing, sign, culture-free but generic) was a fifth of the merge's time for these small integers.
    private void Digits(ulong value)
    {
        if (value < 10)
        {
            _buffer[_position++] = (byte)('0' + value);
            return;
        }
        int end = _position + CountDigits(value);
        var buffer = _buffer;
        var pairs = DigitPairs;
        int i = end;
        while (value >= 100)
        {
            ulong rest = value / 100;
            int pair = (int)(value - rest * 100) * 2;
            buffer[--i] = pairs[pair + 1];
            buffer[--i] = pairs[pair];
            value = rest;
        }
        if (value >= 10)
        {
            int pair = (int)value * 2;
            buffer[--i] = pairs[pair + 1];
            buffer[--i] = pairs[pair];
        }
        else
        {
            buffer[--i] = (byte)('0' + value);
        }
        _position = end;
    }

    private static int CountDigits(ulong value)
    {
        // log10 from log2 (1233/4096 ~ log10(2)), then one compare to correct it.
        int guess = ((64 - System.Numerics.BitOperations.LeadingZeroCount(value | 1)) * 1233) >> 12;
        return guess + (value >= PowersOfTen[guess] ? 1 : 0);
    }

    private static readonly ulong[] PowersOfTen =
    [
        1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000,
        100_000_000_000, 1_000_000_000_000, 10_000_000_000_000, 100_000_000_000_000, 1_000_000_000_000_000,
        10_000_000_000_000_000, 100_000_000_000_000_000, 1_000_000_000_000_000_000, 10_000_000_000_000_000_000,
    ];

    private static ReadOnlySpan<byte> DigitPairs =>
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"u8;

    /// <summary>What is buffered (everything written since the last <see cref="Clear"/> when there is no stream).</summary>
    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _position);

    /// <summary>Forgets what is buffered.</summary>
    public void Clear() => _position = 0;

    /// <summary>Writes what is buffered to the stream.</summary>
    public void Flush()
    {
        stream?.Write(_buffer, 0, _position);
        _position = 0;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void MakeRoom(int length)
    {
        if (stream is null)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _position + length));
            return;
        }
        Flush();
        if (length > _buffer.Length)
            _buffer = new byte[length];
    }
}
