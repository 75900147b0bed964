// How `sharpmpi run` talks to `sharpmpi agent` on another host, through whatever command started the
// agent there (ssh, kubectl exec, srun, ip netns exec): the agent's stdin and stdout, nothing else,
// so it works through any such command without a port of its own.
//
// Command line (no secret on it):
//   sharpmpi agent --kvs HOST:PORT --node N --size S --jobid J --host NAME --ranks r0,r1,... -- program args...
//
// Launcher → agent (stdin, UTF-8 lines):
//   secret <hex>                       first line: the job secret (SHARPMPI_SECRET of the ranks); an
//                                      environment variable would not cross ssh or kubectl exec
//   env <base64 name> <base64 value>   a variable for every rank (-x / -genv), repeatable
//   start                              start the ranks
//   signal <rank> <number>             send a signal to that rank's process group
//   (end of stdin)                     the launcher is gone or done: SIGKILL every rank, report, exit
//
// Agent → launcher (stdout, one record a line; payload bytes passed through unchanged):
//   p <rank> <pid>                     rank started
//   o <rank> <bytes>                   one line the rank wrote to stdout (without its newline)
//   O <rank> <bytes>                   a piece of a stdout line without its end (the last, unterminated
//                                      line, or a piece of an over-long one)
//   e / E <rank> <bytes>               the same for stderr
//   f <rank> <message>                 the rank could not be started (an exit record follows)
//   x <rank> <code>                    the rank exited: code, or 128+S after signal S
// The agent's stderr carries its own messages (and those of ssh); the launcher prints them as they are.

using System.Text;

namespace SharpMpi.Run;

/// <summary>Record kinds and helpers of the launcher ↔ agent protocol described at the top of this file.</summary>
internal static class AgentProtocol
{
    public const byte Started = (byte)'p';
    public const byte StdoutLine = (byte)'o';
    public const byte StdoutPiece = (byte)'O';
    public const byte StderrLine = (byte)'e';
    public const byte StderrPiece = (byte)'E';
    public const byte StartFailed = (byte)'f';
    public const byte ExitedRecord = (byte)'x';

    /// <summary>Encodes one record: kind, rank, payload, newline.</summary>
    public static byte[] Record(byte kind, int rank, ReadOnlySpan<byte> payload)
    {
        string head = $"{(char)kind} {rank} ";
        byte[] record = new byte[head.Length + payload.Length + 1];
        Encoding.ASCII.GetBytes(head, record);
        payload.CopyTo(record.AsSpan(head.Length));
        record[^1] = (byte)'\n';
        return record;
    }

    /// <summary>Splits a record line (without newline) into kind, rank and payload; false for anything else.</summary>
    public static bool TryParse(ReadOnlySpan<byte> line, out byte kind, out int rank, out ReadOnlySpan<byte> payload)
    {
        kind = 0;
        rank = -1;
        payload = default;
        if (line.Length < 4 || line[1] != (byte)' ' || "pOoEefx"u8.IndexOf(line[0]) < 0)
            return false;
        int space = line[2..].IndexOf((byte)' ');
        if (space < 1)
            return false;
        int value = 0;
        foreach (byte b in line.Slice(2, space))
        {
            if (b is < (byte)'0' or > (byte)'9' || value > 100_000_000)
                return false;
            value = (value * 10) + (b - '0');
        }
        kind = line[0];
        rank = value;
        payload = line[(3 + space)..];
        return true;
    }

    /// <summary>An <c>env</c> line.</summary>
    public static string EnvLine(string name, string value) =>
        $"env {Convert.ToBase64String(Encoding.UTF8.GetBytes(name))} {Convert.ToBase64String(Encoding.UTF8.GetBytes(value))}";

    /// <summary>Decodes an <c>env</c> line's two fields.</summary>
    /// <exception cref="FormatException">Not base64.</exception>
    public static KeyValuePair<string, string> ParseEnv(string name64, string value64) =>
        new(Encoding.UTF8.GetString(Convert.FromBase64String(name64)), Encoding.UTF8.GetString(Convert.FromBase64String(value64)));
}

/// <summary>Reads newline-terminated lines as bytes (the ranks' output need not be UTF-8).</summary>
internal sealed class ByteLineReader(Stream stream)
{
    private byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    /// <summary>The next line without its newline, or null at end of stream (a last unterminated line is returned first).</summary>
    public async Task<ReadOnlyMemory<byte>?> ReadLineAsync()
    {
        while (true)
        {
            int newline = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var line = new ReadOnlyMemory<byte>(_buffer, _start, newline).ToArray();
                _start += newline + 1;
                return line;
            }
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            if (_end == _buffer.Length)
                Array.Resize(ref _buffer, _buffer.Length * 2);
            int n = await stream.ReadAsync(_buffer.AsMemory(_end)).ConfigureAwait(false);
            if (n == 0)
            {
                if (_end == _start)
                    return null;
                var last = new ReadOnlyMemory<byte>(_buffer, _start, _end - _start).ToArray();
                _start = _end;
                return last;
            }
            _end += n;
        }
    }
}
