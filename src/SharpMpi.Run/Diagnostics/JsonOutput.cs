using System.Buffers.Text;
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
        Utf8Formatter.TryFormat(value, _buffer.AsSpan(_position), out int written);
        _position += written;
    }

    /// <summary>
    /// Appends <paramref name="nanoseconds"/> as microseconds with three decimals, from integers: the text a
    /// double would give for these values, at a fraction of the cost of formatting one.
    /// </summary>
    public void Microseconds(long nanoseconds)
    {
        if (_buffer.Length - _position < 26)
            MakeRoom(26);
        var text = _buffer.AsSpan(_position);
        long whole = Math.DivRem(Math.Abs(nanoseconds), 1000, out long fraction);
        int n = 0;
        if (nanoseconds < 0)
            text[n++] = (byte)'-';
        Utf8Formatter.TryFormat(whole, text[n..], out int written);
        n += written;
        text[n++] = (byte)'.';
        text[n++] = (byte)('0' + fraction / 100);
        text[n++] = (byte)('0' + fraction / 10 % 10);
        text[n++] = (byte)('0' + fraction % 10);
        _position += n;
    }

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
