using System.Buffers;
using System.Text;

namespace SharpMpi.Run;

/// <summary>
/// The launcher's stdout and stderr, shared by every rank's forwarders and the launcher's own
/// messages. One lock around each write keeps lines of different ranks from interleaving mid-line.
/// </summary>
internal sealed class OutputSink(Stream stdout, Stream stderr)
{
    private readonly object _lock = new();

    /// <summary>The process's own standard streams, unbuffered and undecoded (ranks may print any bytes).</summary>
    public static OutputSink ForConsole() => new(Console.OpenStandardOutput(), Console.OpenStandardError());

    /// <summary>Writes <paramref name="bytes"/> (whole lines, already prefixed) in one piece.</summary>
    public void Write(bool toStderr, ReadOnlySpan<byte> bytes)
    {
        lock (_lock)
        {
            try
            {
                Stream target = toStderr ? stderr : stdout;
                target.Write(bytes);
                target.Flush();
            }
            catch (IOException)
            {
                // Our reader went away (closed pipe): the job still runs to its end.
            }
        }
    }

    /// <summary>A line of the launcher's own (<c>sharpmpi: ...</c>) on stderr.</summary>
    public void Message(string line) => Write(toStderr: true, Encoding.UTF8.GetBytes(line + "\n"));
}

/// <summary>
/// Copies one stream of one rank (its stdout or stderr) to the launcher's, a whole line at a time.
/// </summary>
/// <remarks>
/// Bytes, not text: a rank's output passes through unchanged whatever its encoding. A line is held
/// back until its newline arrives, so it reaches the sink in one write; a line longer than
/// <see cref="MaxHeldLine"/> is written in pieces rather than held without bound. A last line
/// without a newline is written when the rank closes the stream (with a newline added under
/// --tag-output, so the next rank's prefix starts a line).
/// </remarks>
internal sealed class OutputForwarder
{
    private const int MaxHeldLine = 4 << 20;

    private readonly OutputSink _sink;
    private readonly bool _toStderr;
    private readonly byte[]? _prefix;
    private readonly Stream? _copy;
    private readonly ArrayBufferWriter<byte> _out = new();
    private byte[] _held = new byte[4096];
    private int _heldLength;
    // False after a piece of an over-long line was written: its rest must not get a new prefix.
    private bool _atLineStart = true;

    /// <param name="sink">Where lines go.</param>
    /// <param name="toStderr">Which of the sink's streams.</param>
    /// <param name="rank">Used for the <c>[rank] </c> prefix when <paramref name="tag"/> is set.</param>
    /// <param name="tag">Prefix every line (--tag-output).</param>
    /// <param name="copy">Optional file that receives the rank's raw output too (--output-filename); owned by this forwarder.</param>
    public OutputForwarder(OutputSink sink, bool toStderr, int rank, bool tag, Stream? copy)
    {
        _sink = sink;
        _toStderr = toStderr;
        _prefix = tag ? Encoding.ASCII.GetBytes($"[{rank}] ") : null;
        _copy = copy;
    }

    /// <summary>Forwards <paramref name="source"/> until it ends; never throws for I/O errors.</summary>
    public async Task PumpAsync(Stream source)
    {
        byte[] buffer = new byte[64 * 1024];
        try
        {
            int n;
            while ((n = await source.ReadAsync(buffer).ConfigureAwait(false)) > 0)
                Push(buffer.AsSpan(0, n));
        }
        catch (IOException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            Complete();
        }
    }

    /// <summary>Forwards bytes the rank wrote (for ranks whose output arrives through an agent).</summary>
    public void Push(ReadOnlySpan<byte> data)
    {
        try
        {
            _copy?.Write(data);
        }
        catch (IOException)
        {
        }
        Accept(data);
    }

    /// <summary>The stream ended: writes a held partial line and closes the copy file. Idempotent.</summary>
    public void Complete()
    {
        if (_heldLength > 0)
            Emit([], endLine: _prefix is not null);
        _copy?.Dispose();
    }

    private void Accept(ReadOnlySpan<byte> data)
    {
        int lastNewline = data.LastIndexOf((byte)'\n');
        if (lastNewline < 0)
        {
            Hold(data);
            if (_heldLength > MaxHeldLine)
                Emit([], endLine: false);
            return;
        }
        Emit(data[..(lastNewline + 1)], endLine: false);
        Hold(data[(lastNewline + 1)..]);
    }

    private void Hold(ReadOnlySpan<byte> data)
    {
        if (_heldLength + data.Length > _held.Length)
            Array.Resize(ref _held, Math.Max(_held.Length * 2, _heldLength + data.Length));
        data.CopyTo(_held.AsSpan(_heldLength));
        _heldLength += data.Length;
    }

    // Writes the held partial line followed by `complete` (whole lines) in one sink write.
    private void Emit(ReadOnlySpan<byte> complete, bool endLine)
    {
        _out.ResetWrittenCount();
        AppendLines(_held.AsSpan(0, _heldLength), ref _atLineStart);
        AppendLines(complete, ref _atLineStart);
        if (endLine && !_atLineStart)
        {
            _out.Write("\n"u8);
            _atLineStart = true;
        }
        _heldLength = 0;
        _sink.Write(_toStderr, _out.WrittenSpan);
    }

    private void AppendLines(ReadOnlySpan<byte> data, ref bool atLineStart)
    {
        if (_prefix is null)
        {
            _out.Write(data);
            atLineStart = data.IsEmpty ? atLineStart : data[^1] == (byte)'\n';
            return;
        }
        while (!data.IsEmpty)
        {
            if (atLineStart)
                _out.Write(_prefix);
            int newline = data.IndexOf((byte)'\n');
            ReadOnlySpan<byte> piece = newline < 0 ? data : data[..(newline + 1)];
            _out.Write(piece);
            atLineStart = newline >= 0;
            data = data[piece.Length..];
        }
    }
}
